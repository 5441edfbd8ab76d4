package transport

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-resty/resty/v2"

	"github.com/hongbao-go/hongbao/signer"
	"github.com/hongbao-go/hongbao/xml"
)

// DefaultBaseURL is the APIv2 host.
const DefaultBaseURL = "https://api.mch.weixin.qq.com"

// Defaults of the private connection pool and of Client.
const (
	// DefaultMaxReplyBytes is the largest reply accepted when
	// Config.MaxReplyBytes is 0.
	DefaultMaxReplyBytes = 1 << 20
	// DefaultTimeout is the http.Client.Timeout of Client and Resty.
	DefaultTimeout = 30 * time.Second
	// MaxIdleConnsPerHost is how many idle keep-alive connections the
	// private pool keeps to the platform.
	MaxIdleConnsPerHost = 32
	// DefaultMaxConnsPerHost is the default of Config.MaxConnsPerHost.
	DefaultMaxConnsPerHost = 32

	dialTimeout         = 10 * time.Second
	tlsHandshakeTimeout = 10 * time.Second
	idleConnTimeout     = 90 * time.Second
	maxRequestBytes     = 1 << 20
)

// Config configures a Transport. MchID, APIKey and exactly one source of
// the merchant client certificate are required; every other field has a
// documented default.
type Config struct {
	// MchID is the merchant id. It is filled into calls that lack mch_id,
	// and must be the subject CN of the client certificate.
	MchID string
	// APIKey is the APIv2 key, 32 bytes. It signs calls and verifies
	// signed replies, and never appears in errors or logs.
	APIKey string

	// The merchant client certificate, from exactly one of: CertFile and
	// KeyFile (apiclient_cert.pem, apiclient_key.pem; Reload re-reads
	// them), CertPEM and KeyPEM, P12File (apiclient_cert.p12; Reload
	// re-reads it), P12, or Certificate. The private key must not be
	// encrypted in PEM form. PKCS#12 may be legacy (RC2/3DES) or modern
	// (AES/PBKDF2); its password is P12Password, the MchID when empty.
	CertFile, KeyFile string
	CertPEM, KeyPEM   []byte
	P12File           string
	P12               []byte
	P12Password       string
	Certificate       *tls.Certificate

	// RootCAPEM holds PEM certificates trusted to sign the platform's
	// server certificate in addition to the system roots
	// (x509.SystemCertPool, an empty pool where the system has none).
	RootCAPEM []byte
	// RootCAs, when not nil, replaces the system roots as the pool that
	// verifies the platform's server certificate (RootCAPEM is added to a
	// copy of it). A CertPool cannot be merged into another, so build it
	// from x509.SystemCertPool to keep the public roots, or use RootCAPEM
	// to add to them. Server certificates are always verified.
	RootCAs *x509.CertPool

	// BaseURL is the https URL of the platform, DefaultBaseURL when
	// empty. Resty resolves relative paths against it.
	BaseURL string
	// MaxReplyBytes caps the size of a reply (KindTooLarge beyond);
	// DefaultMaxReplyBytes (1 MiB) when 0 or less.
	MaxReplyBytes int64
	// MaxConnsPerHost caps the connections the private pool opens to the
	// platform, in use or idle: a burst of calls beyond it waits for a
	// connection (bounded by the call's context) instead of opening more,
	// so a campaign's launch is not a storm of TLS handshakes. Default
	// DefaultMaxConnsPerHost (32); negative means no cap. Only the private
	// pool is capped, not a Base of your own.
	MaxConnsPerHost int
	// UnsignedReply reports whether the endpoint at path answers without a
	// sign. For those a reply sign is verified when present and not
	// demanded otherwise; for the others a missing sign is KindSign. The
	// default is true for paths containing "/mmpaymkttransfers/" (red
	// packets and transfers).
	UnsignedReply func(path string) bool
	// Logger receives the warning about a client certificate that
	// expires within 30 days. Nil means slog.Default() (hongbao.New
	// passes its own Logger); slog.New(slog.DiscardHandler) is silent.
	Logger *slog.Logger
	// OnCertificate, when not nil, is called by New and after each
	// successful Reload with the leaf of the client certificate now
	// presented (do not modify it), e.g. to export its expiry as a
	// metric. Reload calls it before it returns, one Reload at a time.
	OnCertificate func(leaf *x509.Certificate)
	// Now is the clock for the certificate checks; time.Now when nil.
	Now func() time.Time
	// Rand is the source of nonces; crypto/rand when nil. It must be safe
	// for concurrent use.
	Rand io.Reader
}

// Transport sends APIv2 calls, through Call or, as an http.RoundTripper,
// through RoundTrip: it signs and XML-encodes the call's parameters, sends
// them over mutual TLS, and decodes and checks the reply. See the package
// documentation. It is safe for concurrent use; create it with New.
type Transport struct {
	// Base carries the signed request. New sets it to a private keep-alive
	// *http.Transport presenting the merchant certificate; it is never
	// http.DefaultTransport. Set it only before the first call, e.g. to
	// wrap the private transport for tracing.
	Base http.RoundTripper

	mchID    string
	baseURL  string
	signer   *signer.Signer
	decoder  xml.Decoder
	maxReply int64
	unsigned func(string) bool
	logger   *slog.Logger
	onCert   func(*x509.Certificate)
	maxConns int // of the private pool; 0: no cap
	now      func() time.Time
	rand     io.Reader

	creds    *credentials // a pointer, so that printing t shows no key or password
	cert     atomic.Pointer[tls.Certificate]
	gen      atomic.Uint64 // bumped by Reload; connections of older generations are retired
	reloadMu sync.Mutex
	pool     *http.Transport // the private Base
	tlsConf  *tls.Config
}

var _ http.RoundTripper = (*Transport)(nil)

// New checks cfg and returns a Transport: the API key must be 32 bytes,
// exactly one certificate source must be given, its key must match the
// certificate, the certificate must be valid now and its subject CN must
// be the MchID. A certificate expiring within 30 days is accepted with a
// warning to cfg.Logger.
func New(cfg Config) (*Transport, error) {
	if cfg.MchID == "" {
		return nil, errors.New("transport: MchID is required")
	}
	s, err := signer.New(cfg.APIKey)
	if err != nil {
		return nil, fmt.Errorf("transport: APIKey: %w", err)
	}
	base := cfg.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	base = strings.TrimRight(base, "/")
	u, err := url.Parse(base)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("transport: BaseURL %q is not an https URL", base)
	}
	t := &Transport{
		mchID:    cfg.MchID,
		baseURL:  base,
		signer:   s,
		maxReply: cfg.MaxReplyBytes,
		maxConns: cfg.MaxConnsPerHost,
		unsigned: cfg.UnsignedReply,
		logger:   cmp.Or(cfg.Logger, slog.Default()),
		onCert:   cfg.OnCertificate,
		now:      cfg.Now,
		rand:     cfg.Rand,
	}
	if t.maxReply <= 0 {
		t.maxReply = DefaultMaxReplyBytes
	}
	switch {
	case t.maxConns == 0:
		t.maxConns = DefaultMaxConnsPerHost
	case t.maxConns < 0:
		t.maxConns = 0 // http.Transport: no limit
	}
	t.decoder = xml.Decoder{MaxBytes: t.maxReply}
	if t.unsigned == nil {
		t.unsigned = defaultUnsignedReply
	}
	if t.now == nil {
		t.now = time.Now
	}
	if t.creds, err = newCredentials(&cfg); err != nil {
		return nil, err
	}
	cert, err := t.loadChecked()
	if err != nil {
		return nil, err
	}
	t.cert.Store(cert)

	roots, err := rootPool(cfg.RootCAs, cfg.RootCAPEM)
	if err != nil {
		return nil, err
	}
	t.tlsConf = &tls.Config{
		MinVersion:           tls.VersionTLS12,
		RootCAs:              roots,
		GetClientCertificate: t.GetClientCertificate,
		NextProtos:           []string{"http/1.1"},
	}
	t.pool = t.newPool()
	t.Base = t.pool
	t.certificateChanged(cert)
	return t, nil
}

func defaultUnsignedReply(path string) bool {
	return strings.Contains(path, "/mmpaymkttransfers/")
}

// rootPool returns the pool verifying the platform's certificate.
func rootPool(extra *x509.CertPool, pemCerts []byte) (*x509.CertPool, error) {
	var pool *x509.CertPool
	switch {
	case extra != nil:
		pool = extra.Clone()
	default:
		sys, err := x509.SystemCertPool()
		if err != nil || sys == nil {
			sys = x509.NewCertPool()
		}
		pool = sys
	}
	if len(pemCerts) > 0 && !pool.AppendCertsFromPEM(pemCerts) {
		return nil, errors.New("transport: RootCAPEM holds no certificate")
	}
	return pool, nil
}

// newPool builds the private keep-alive transport, after
// hashicorp/go-cleanhttp's pooled transport: proxy from the environment,
// bounded dial and handshake times, idle connections kept 90 s. It speaks
// HTTP/1.1 only (the platform's APIv2 host does; one call per connection
// at a time keeps the behaviour of a dropped connection plain).
func (t *Transport) newPool() *http.Transport {
	dialer := &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:       http.ProxyFromEnvironment,
		DialContext: dialer.DialContext,
		DialTLSContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return t.dialTLS(ctx, dialer, network, addr)
		},
		// Used for HTTPS through a proxy, where DialTLSContext is not.
		TLSClientConfig:       t.tlsConf,
		TLSHandshakeTimeout:   tlsHandshakeTimeout,
		ForceAttemptHTTP2:     false,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   MaxIdleConnsPerHost,
		MaxConnsPerHost:       t.maxConns,
		IdleConnTimeout:       idleConnTimeout,
		ExpectContinueTimeout: time.Second,
	}
}

// dialTLS dials and handshakes a direct connection to the platform. The
// connection remembers the certificate generation it was made under, so
// that after a Reload it is closed at the start of its next call instead
// of presenting the old certificate for as long as it stays busy.
func (t *Transport) dialTLS(ctx context.Context, dialer *net.Dialer, network, addr string) (net.Conn, error) {
	gen := t.gen.Load()
	raw, err := dialer.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	conf := t.tlsConf.Clone()
	conf.ServerName = host
	gc := &genConn{Conn: raw, gen: gen, current: &t.gen}
	tc := tls.Client(gc, conf)
	hctx, cancel := context.WithTimeout(ctx, tlsHandshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		raw.Close()
		return nil, err
	}
	gc.armed.Store(true)
	return tc, nil
}

// errRetired is what a connection of an older certificate generation
// returns when a new call starts on it. Nothing has been written, so
// net/http dials a new connection and sends the call there.
var errRetired = errors.New("transport: connection retired after a certificate reload")

// genConn is a TCP connection under TLS that refuses to start a new call
// once a Reload made its certificate generation old. A call starts with
// the first write after a read (HTTP/1.1: the previous reply was read);
// reads count only once the connection has carried a call, so that a TLS
// 1.3 session ticket read right after the handshake does not make the
// first call look like a second one. The refusal writes nothing, so
// net/http retries the call on a new connection (it does so for a reused
// connection when the request has GetBody, as the Transport's always has).
type genConn struct {
	net.Conn
	gen     uint64
	current *atomic.Uint64
	armed   atomic.Bool // the handshake is over
	wrote   atomic.Bool // a call was written since the handshake
	read    atomic.Bool // a reply was read since the last write
}

func (c *genConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && c.wrote.Load() && !c.read.Load() {
		c.read.Store(true)
	}
	return n, err
}

func (c *genConn) Write(p []byte) (int, error) {
	if c.read.Load() {
		c.read.Store(false)
		if c.current.Load() != c.gen {
			c.Conn.Close()
			return 0, errRetired
		}
	}
	if c.armed.Load() && !c.wrote.Load() {
		c.wrote.Store(true)
	}
	return c.Conn.Write(p)
}

// CloseIdleConnections closes the idle connections of the private pool
// and of Base, when Base has such a method. http.Client.CloseIdleConnections
// calls it.
func (t *Transport) CloseIdleConnections() {
	type idleCloser interface{ CloseIdleConnections() }
	if t.pool != nil {
		t.pool.CloseIdleConnections()
	}
	if c, ok := t.Base.(idleCloser); ok && t.Base != http.RoundTripper(t.pool) {
		c.CloseIdleConnections()
	}
}

// Client returns an http.Client sending through t, with a Timeout of
// DefaultTimeout.
func (t *Transport) Client() *http.Client {
	return &http.Client{Transport: t, Timeout: DefaultTimeout}
}

// Resty returns a resty client sending through t (SetTransport) with t's
// BaseURL (SetBaseURL) and a timeout of DefaultTimeout, so that
//
//	resp, err := t.Resty().R().
//		SetBody(map[string]string{"mch_billno": ..., ...}).
//		SetResult(&out).
//		Post("/mmpaymkttransfers/sendminiprogramhb")
//
// sends the map (resty encodes it as JSON; the transport converts it) and
// decodes the reply into out, a struct with xml tags. The decoded reply is
// also at ReplyOf(resp.RawResponse).
func (t *Transport) Resty() *resty.Client {
	return resty.NewWithClient(&http.Client{Timeout: DefaultTimeout}).
		SetTransport(t).
		SetBaseURL(t.baseURL)
}

// MchID returns the configured merchant id.
func (t *Transport) MchID() string { return t.mchID }

// BaseURL returns the platform URL, without a trailing slash.
func (t *Transport) BaseURL() string { return t.baseURL }
