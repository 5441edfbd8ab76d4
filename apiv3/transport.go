package apiv3

import (
	"bytes"
	"context"
	"crypto/cipher"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hongbao-go/hongbao/transport"
)

// DefaultBaseURL is the APIv3 host.
const DefaultBaseURL = "https://api.mch.weixin.qq.com"

// DefaultUserAgent is the User-Agent of requests when Config.UserAgent is
// empty and the request sets none.
const DefaultUserAgent = "hongbao-apiv3 (+https://github.com/hongbao-go/hongbao)"

// Defaults of the connection pool and of Client.
const (
	// DefaultMaxReplyBytes is the largest answer read when
	// Config.MaxReplyBytes is 0.
	DefaultMaxReplyBytes = 1 << 20
	// DefaultMaxConnsPerHost is the default of Config.MaxConnsPerHost.
	DefaultMaxConnsPerHost = 32
	// DefaultTimeout is the http.Client.Timeout of Client.
	DefaultTimeout = 30 * time.Second
	// MaxRequestBytes is the largest request body the Transport signs.
	MaxRequestBytes = 1 << 20
	// DefaultMaxNotificationBytes is the largest notification body read
	// when Config.MaxNotificationBytes is 0.
	DefaultMaxNotificationBytes = 64 << 10
)

// Config configures a Transport. MchID, the merchant key (with its
// certificate or its serial) and at least one trust mode are required;
// every other field has a documented default.
type Config struct {
	// MchID is the merchant id (the mchid of the Authorization header, and
	// the subject CN of the merchant API certificate).
	MchID string

	// The merchant API key, from the same sources as transport.Config and
	// read by the same code: CertFile and KeyFile (apiclient_cert.pem,
	// apiclient_key.pem), CertPEM and KeyPEM, P12File or P12
	// (apiclient_cert.p12, password P12Password, the MchID when empty), or
	// Certificate. The key must be RSA, at least 2048 bits, and match the
	// certificate, whose CN must be the MchID and which must be valid now.
	// KeyFile or KeyPEM alone (no certificate) is accepted with CertSerial.
	CertFile, KeyFile string
	CertPEM, KeyPEM   []byte
	P12File           string
	P12               []byte
	P12Password       string
	Certificate       *tls.Certificate
	// CertSerial is the merchant API certificate's serial number (hex, as
	// the merchant console shows it under API安全 → API证书). It is read from
	// the certificate when one is given (CertSerial, if set, must then be
	// equal), and required when only the key is.
	CertSerial string

	// APIv3Key is the 32-byte APIv3 key (a secret other than the APIv2
	// key) that decrypts notifications and platform certificates.
	// Required for PlatformCertificates and for notifications.
	APIv3Key string

	// Public-key mode: PublicKeyID (PUB_KEY_ID_ and digits) and the WeChat
	// Pay public key from PublicKeyPEM or PublicKeyFile (pub_key.pem),
	// both as the merchant console shows them.
	PublicKeyID   string
	PublicKeyPEM  []byte
	PublicKeyFile string

	// PlatformCertificates turns platform-certificate mode on: the
	// certificates are downloaded from /v3/certificates, decrypted with
	// APIv3Key, downloaded again every RefreshInterval (default
	// DefaultRefreshInterval, 4 h) in the background until Close, each kept
	// until it expires. Both modes may be on at once (a migration): the key
	// is chosen by Wechatpay-Serial.
	PlatformCertificates bool
	RefreshInterval      time.Duration

	// BaseURL is the https URL of the platform, scheme and host only,
	// DefaultBaseURL when empty. Requests to any other host are refused.
	BaseURL string
	// RootCAPEM and RootCAs verify the platform's server certificate as
	// in transport.Config: RootCAPEM is added to the system roots, or to
	// a copy of RootCAs when that is set (RootCAs replaces the system
	// roots). The server certificate is always verified.
	RootCAPEM []byte
	RootCAs   *x509.CertPool
	// MaxConnsPerHost caps the connections to the platform, in use or
	// idle: a burst beyond it waits for a connection. Default
	// DefaultMaxConnsPerHost (32); negative means no cap.
	MaxConnsPerHost int
	// MaxReplyBytes caps the size of an answer; DefaultMaxReplyBytes
	// (1 MiB) when 0 or less. A larger 2xx answer is outcome unknown.
	MaxReplyBytes int64
	// MaxNotificationBytes caps the body of a notification the handler
	// reads; DefaultMaxNotificationBytes (64 KiB) when 0 or less.
	MaxNotificationBytes int64
	// UserAgent is the User-Agent of requests that set none;
	// DefaultUserAgent when empty.
	UserAgent string
	// Logger receives certificate downloads, their failures and refused
	// notifications; nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock of timestamps, the skew check and certificate
	// validity; time.Now when nil.
	Now func() time.Time
	// Rand is the source of nonces, safe for concurrent use; crypto/rand
	// when nil.
	Rand io.Reader
}

// Transport is an http.RoundTripper for APIv3: it signs every request and
// verifies every 2xx answer before handing it on. See the package
// documentation. It is safe for concurrent use; create it with New.
type Transport struct {
	// Base carries the signed request. New sets it to a private keep-alive
	// *http.Transport (never http.DefaultTransport). Set it only before the
	// first call, e.g. to wrap the private one for tracing.
	Base http.RoundTripper

	mchID     string
	baseURL   string
	host      string
	signer    Signer
	userAgent string
	maxReply  int64
	maxNotify int64
	now       func() time.Time
	rand      io.Reader
	log       *slog.Logger
	aead      cipher.AEAD // nil without APIv3Key

	pubID string
	pub   *rsa.PublicKey
	certs *certStore // nil unless PlatformCertificates

	pool      *http.Transport
	bg        context.Context // ended by Close
	stopBg    context.CancelFunc
	done      chan struct{} // closed when the refresh loop ended
	closeOnce sync.Once
}

var _ http.RoundTripper = (*Transport)(nil)

var errNotNew = errors.New("apiv3: Transport not created by New")

// New checks cfg and returns a Transport. Every mistake it can see is an
// error naming the field to fix: a missing MchID, a key that does not match
// its certificate or is not RSA, a CertSerial other than the
// certificate's, an APIv3Key that is not 32 bytes, a PublicKeyID not of
// the form PUB_KEY_ID_ and digits, a public key that does not parse, no
// trust mode. In platform-certificate mode it starts the background
// download (the first at once); call Close to stop it, and
// RefreshCertificates to wait for a download.
func New(cfg Config) (*Transport, error) {
	if cfg.MchID == "" {
		return nil, errors.New("apiv3: MchID is required")
	}
	t := &Transport{
		mchID:     cfg.MchID,
		userAgent: cfg.UserAgent,
		maxReply:  cfg.MaxReplyBytes,
		maxNotify: cfg.MaxNotificationBytes,
		now:       cfg.Now,
		rand:      cfg.Rand,
		log:       cfg.Logger,
	}
	if t.now == nil {
		t.now = time.Now
	}
	if t.log == nil {
		t.log = slog.Default()
	}
	if t.userAgent == "" {
		t.userAgent = DefaultUserAgent
	}
	if t.maxReply <= 0 {
		t.maxReply = DefaultMaxReplyBytes
	}
	if t.maxNotify <= 0 {
		t.maxNotify = DefaultMaxNotificationBytes
	}
	base := strings.TrimRight(cfg.BaseURL, "/")
	if base == "" {
		base = DefaultBaseURL
	}
	u, err := url.Parse(base)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.User != nil {
		return nil, fmt.Errorf("apiv3: BaseURL %q is not an https URL of scheme and host only", cfg.BaseURL)
	}
	t.baseURL, t.host = base, strings.ToLower(u.Host)

	key, serial, err := merchantKey(&cfg, t.log)
	if err != nil {
		return nil, err
	}
	t.signer = Signer{MchID: cfg.MchID, Serial: serial, Key: key}
	if !quotable(cfg.MchID) {
		return nil, errors.New("apiv3: MchID holds a character an Authorization value cannot carry")
	}

	if cfg.APIv3Key != "" {
		if len(cfg.APIv3Key) != APIv3KeyLength {
			return nil, fmt.Errorf("apiv3: APIv3Key must be %d bytes, not %d (the APIv3 key set in the merchant console under API安全, not the APIv2 key)", APIv3KeyLength, len(cfg.APIv3Key))
		}
		if t.aead, err = newAEAD([]byte(cfg.APIv3Key)); err != nil {
			return nil, err
		}
	}
	if err := t.publicKey(&cfg); err != nil {
		return nil, err
	}
	if cfg.PlatformCertificates && t.aead == nil {
		return nil, errors.New("apiv3: PlatformCertificates needs APIv3Key (the certificates are encrypted with it)")
	}
	if !cfg.PlatformCertificates && t.pub == nil {
		return nil, errors.New("apiv3: no platform trust configured: set PublicKeyID and PublicKeyPEM (public-key mode), or PlatformCertificates with APIv3Key (platform-certificate mode)")
	}
	if cfg.RefreshInterval < 0 {
		return nil, errors.New("apiv3: RefreshInterval must not be negative")
	}

	roots, err := transport.ServerRoots(cfg.RootCAs, cfg.RootCAPEM)
	if err != nil {
		return nil, fmt.Errorf("apiv3: %w", err)
	}
	maxConns := cfg.MaxConnsPerHost
	switch {
	case maxConns == 0:
		maxConns = DefaultMaxConnsPerHost
	case maxConns < 0:
		maxConns = 0 // http.Transport: no limit
	}
	t.pool = transport.NewPool(&tls.Config{
		MinVersion: tls.VersionTLS12,
		RootCAs:    roots,
		NextProtos: []string{"http/1.1"},
	}, maxConns)
	t.pool.DisableCompression = true // the signature covers the body as sent
	t.Base = t.pool
	t.bg, t.stopBg = context.WithCancel(context.Background())
	t.done = make(chan struct{})
	if cfg.PlatformCertificates {
		interval := cfg.RefreshInterval
		if interval == 0 {
			interval = DefaultRefreshInterval
		}
		t.certs = &certStore{t: t}
		go t.refreshLoop(interval, t.certs.start())
	} else {
		close(t.done)
	}
	return t, nil
}

// merchantKey returns the merchant's RSA key and its certificate serial.
func merchantKey(cfg *Config, log *slog.Logger) (*rsa.PrivateKey, string, error) {
	hasCert := cfg.CertFile != "" || cfg.CertPEM != nil || cfg.P12File != "" || cfg.P12 != nil || cfg.Certificate != nil
	var (
		priv   any
		serial string
	)
	if hasCert {
		cert, err := transport.MerchantCertificate(transport.Config{
			MchID:    cfg.MchID,
			CertFile: cfg.CertFile, KeyFile: cfg.KeyFile,
			CertPEM: cfg.CertPEM, KeyPEM: cfg.KeyPEM,
			P12File: cfg.P12File, P12: cfg.P12, P12Password: cfg.P12Password,
			Certificate: cfg.Certificate,
			Logger:      log,
			Now:         cfg.Now,
		})
		if err != nil {
			return nil, "", fmt.Errorf("apiv3: the merchant API certificate: %w", err)
		}
		priv, serial = cert.PrivateKey, CertificateSerial(cert.Leaf)
		if cfg.CertSerial != "" && !strings.EqualFold(normalSerial(cfg.CertSerial), serial) {
			return nil, "", fmt.Errorf("apiv3: CertSerial %s is not the serial of the merchant API certificate given (%s): correct it or leave it empty", clip(cfg.CertSerial), serial)
		}
	} else {
		var keyPEM []byte
		switch {
		case cfg.KeyFile != "" && cfg.KeyPEM != nil:
			return nil, "", errors.New("apiv3: KeyFile and KeyPEM are both set; set one")
		case cfg.KeyFile != "":
			var err error
			if keyPEM, err = os.ReadFile(cfg.KeyFile); err != nil {
				return nil, "", fmt.Errorf("apiv3: reading KeyFile: %w", err)
			}
		case cfg.KeyPEM != nil:
			keyPEM = cfg.KeyPEM
		default:
			return nil, "", errors.New("apiv3: no merchant key configured (KeyFile or KeyPEM with CertSerial, CertFile+KeyFile, CertPEM+KeyPEM, P12File, P12 or Certificate)")
		}
		if cfg.CertSerial == "" {
			return nil, "", errors.New("apiv3: CertSerial is required when the merchant key is given without its certificate (the merchant console shows it under API安全 → API证书)")
		}
		serial = normalSerial(cfg.CertSerial)
		if !validSerial(serial) {
			return nil, "", fmt.Errorf("apiv3: CertSerial %q is not a hex serial number", clip(cfg.CertSerial))
		}
		var err error
		if priv, err = transport.ParsePrivateKeyPEM(keyPEM); err != nil {
			return nil, "", fmt.Errorf("apiv3: the merchant key: %w", err)
		}
	}
	key, ok := priv.(*rsa.PrivateKey)
	if !ok {
		return nil, "", fmt.Errorf("apiv3: the merchant key is %T; APIv3 signs with RSA (apiclient_key.pem)", priv)
	}
	if key.N.BitLen() < 2048 {
		return nil, "", fmt.Errorf("apiv3: the merchant key has %d bits; APIv3 needs at least 2048", key.N.BitLen())
	}
	return key, serial, nil
}

// normalSerial returns a serial in upper case without spaces or colons.
func normalSerial(s string) string {
	return strings.ToUpper(strings.NewReplacer(" ", "", ":", "").Replace(strings.TrimSpace(s)))
}

func validSerial(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// publicKey reads the public-key mode settings.
func (t *Transport) publicKey(cfg *Config) error {
	hasKey := cfg.PublicKeyPEM != nil || cfg.PublicKeyFile != ""
	switch {
	case cfg.PublicKeyID == "" && !hasKey:
		return nil
	case cfg.PublicKeyID == "":
		return errors.New("apiv3: PublicKeyID is required with the public key (PUB_KEY_ID_ and digits, shown beside the key in the merchant console)")
	case !hasKey:
		return errors.New("apiv3: PublicKeyID needs the public key: set PublicKeyPEM or PublicKeyFile (pub_key.pem from the merchant console)")
	case cfg.PublicKeyPEM != nil && cfg.PublicKeyFile != "":
		return errors.New("apiv3: PublicKeyPEM and PublicKeyFile are both set; set one")
	case !ValidPublicKeyID(cfg.PublicKeyID):
		return fmt.Errorf("apiv3: PublicKeyID %q is not of the form PUB_KEY_ID_ followed by digits", clip(cfg.PublicKeyID))
	}
	data := cfg.PublicKeyPEM
	if cfg.PublicKeyFile != "" {
		var err error
		if data, err = os.ReadFile(cfg.PublicKeyFile); err != nil {
			return fmt.Errorf("apiv3: reading PublicKeyFile: %w", err)
		}
	}
	pub, err := ParsePublicKeyPEM(data)
	if err != nil {
		return fmt.Errorf("apiv3: the public key (PublicKeyPEM or PublicKeyFile): %w", err)
	}
	if pub.N.BitLen() < 2048 {
		return fmt.Errorf("apiv3: the public key has %d bits; the platform's have 2048", pub.N.BitLen())
	}
	t.pubID, t.pub = cfg.PublicKeyID, pub
	return nil
}

// Close stops the background certificate downloads and closes idle
// connections. The Transport still works afterwards, without refreshing
// its certificates on a timer. Safe to call more than once.
func (t *Transport) Close() error {
	t.closeOnce.Do(func() {
		if t.stopBg != nil {
			t.stopBg()
			<-t.done
		}
	})
	t.CloseIdleConnections()
	return nil
}

// CloseIdleConnections closes the idle connections of the private pool and
// of Base, when Base has such a method.
func (t *Transport) CloseIdleConnections() {
	type idleCloser interface{ CloseIdleConnections() }
	if t.pool != nil {
		t.pool.CloseIdleConnections()
	}
	if c, ok := t.Base.(idleCloser); ok && t.Base != http.RoundTripper(t.pool) {
		c.CloseIdleConnections()
	}
}

// Client returns an http.Client sending through t with a Timeout of
// DefaultTimeout.
func (t *Transport) Client() *http.Client {
	return &http.Client{Transport: t, Timeout: DefaultTimeout}
}

// MchID returns the merchant id.
func (t *Transport) MchID() string { return t.mchID }

// BaseURL returns the platform URL, without a trailing slash.
func (t *Transport) BaseURL() string { return t.baseURL }

// CertSerial returns the merchant API certificate's serial, upper-case hex.
func (t *Transport) CertSerial() string { return t.signer.Serial }

// PublicKeyID returns the configured PublicKeyID ("" outside public-key
// mode).
func (t *Transport) PublicKeyID() string { return t.pubID }

// RoundTrip signs and sends one request, and returns the answer only when
// it is a 2xx whose signature verifies (see Verify); its body is then the
// verified bytes, in memory. A non-2xx answer, an unverified or unreadable
// 2xx and a request refused are an *Error. It works on a clone of req:
// req, its header and URL are not modified, and req.Body is closed on
// every path.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL == nil {
		closeBody(req)
		return nil, &Error{Method: req.Method, Err: errors.New("nil URL")}
	}
	refuse := func(err error) (*http.Response, error) {
		return nil, &Error{Method: req.Method, Path: req.URL.Path, Err: err}
	}
	if t.signer.Key == nil || t.Base == nil {
		closeBody(req)
		return refuse(errNotNew)
	}
	body, err := readRequestBody(req)
	if err != nil {
		return refuse(err)
	}
	if req.URL.Scheme != "https" || !strings.EqualFold(req.URL.Host, t.host) {
		return refuse(fmt.Errorf("the URL is not on BaseURL %s", t.baseURL))
	}
	serial := req.Header.Get(HeaderSerial)
	if serial == "" {
		if serial, err = t.requestSerial(req.Context()); err != nil {
			return refuse(err)
		}
	}
	out := req.Clone(req.Context())
	if out.Header == nil {
		out.Header = make(http.Header, 8)
	}
	setBody(out, body)
	if len(body) > 0 && out.Header.Get("Content-Type") == "" {
		out.Header.Set("Content-Type", "application/json")
	}
	if err := t.authorize(out, body, serial); err != nil {
		return refuse(err)
	}
	resp, err := t.Base.RoundTrip(out)
	if err != nil {
		if resp != nil && resp.Body != nil {
			resp.Body.Close()
		}
		return nil, err
	}
	data, rerr := readAnswer(resp, t.maxReply)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, t.errorAnswer(out, resp, data, rerr)
	}
	if rerr != nil {
		return nil, &Error{Method: out.Method, Path: out.URL.Path, Status: resp.StatusCode, RequestID: requestID(resp.Header), Err: rerr}
	}
	if _, err := t.Verify(req.Context(), resp.Header, data); err != nil {
		return nil, &Error{Method: out.Method, Path: out.URL.Path, Status: resp.StatusCode, RequestID: requestID(resp.Header), Err: err}
	}
	resp.Body = io.NopCloser(bytes.NewReader(data))
	resp.ContentLength = int64(len(data))
	resp.Header.Del("Content-Length")
	resp.Header.Del("Content-Encoding")
	resp.TransferEncoding = nil
	resp.Uncompressed = false
	return resp, nil
}

// requestSerial returns the platform key id a request names in
// Wechatpay-Serial: the PublicKeyID, else the newest platform certificate
// (downloading them when none is held).
func (t *Transport) requestSerial(ctx context.Context) (string, error) {
	if t.pubID != "" {
		return t.pubID, nil
	}
	if s := t.certs.newest(t.now()); s != "" {
		return s, nil
	}
	err := t.certs.refresh(ctx, false)
	if s := t.certs.newest(t.now()); s != "" {
		return s, nil
	}
	if err == nil {
		err = errors.New("none is valid now")
	}
	return "", fmt.Errorf("no platform certificate to name in Wechatpay-Serial: %w", err)
}

// authorize sets the Authorization, Wechatpay-Serial, Accept and
// User-Agent headers of out, a request of the Transport's own.
func (t *Transport) authorize(out *http.Request, body []byte, serial string) error {
	nonce, err := NewNonce(t.rand)
	if err != nil {
		return err
	}
	auth, err := t.signer.Authorization(out.Method, out.URL.RequestURI(), body, t.now().Unix(), nonce)
	if err != nil {
		return err
	}
	h := out.Header
	h.Set("Authorization", auth)
	if serial != "" {
		h.Set(HeaderSerial, serial)
	}
	h.Set("Accept", "application/json")
	if h.Get("User-Agent") == "" {
		h.Set("User-Agent", t.userAgent)
	}
	// An encoded answer would be read as sent, not as signed.
	h.Del("Accept-Encoding")
	return nil
}

// errorAnswer builds the Error of a non-2xx answer.
func (t *Transport) errorAnswer(out *http.Request, resp *http.Response, data []byte, rerr error) *Error {
	e := &Error{Method: out.Method, Path: out.URL.Path, Status: resp.StatusCode, RequestID: requestID(resp.Header)}
	if rerr != nil {
		e.Err = rerr
		return e
	}
	var body struct {
		Code    string          `json:"code"`
		Message string          `json:"message"`
		Detail  json.RawMessage `json:"detail"`
	}
	if json.Unmarshal(data, &body) != nil || body.Code == "" {
		e.Snippet = snippet(data)
		return e
	}
	e.Code, e.Message = body.Code, body.Message
	if len(body.Detail) > 0 && body.Detail[0] == '{' {
		d := new(ErrorDetail)
		if json.Unmarshal(body.Detail, d) == nil {
			e.Detail = d
		}
	}
	return e
}

// requestID returns the Request-ID header when it is printable ASCII.
func requestID(h http.Header) string {
	if id := h.Get(HeaderRequestID); printable(id) && len(id) <= 128 {
		return id
	}
	return ""
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// readRequestBody reads and closes req.Body (at most MaxRequestBytes).
func readRequestBody(req *http.Request) ([]byte, error) {
	if req.Body == nil || req.Body == http.NoBody {
		closeBody(req)
		return nil, nil
	}
	data, err := io.ReadAll(io.LimitReader(req.Body, MaxRequestBytes+1))
	req.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("reading the request body: %w", err)
	}
	if len(data) > MaxRequestBytes {
		return nil, fmt.Errorf("the request body is larger than %d bytes", MaxRequestBytes)
	}
	return data, nil
}

// setBody makes body the body of out, re-readable through GetBody.
func setBody(out *http.Request, body []byte) {
	out.TransferEncoding = nil
	out.Header.Del("Content-Length")
	out.ContentLength = int64(len(body))
	if len(body) == 0 {
		out.Body, out.GetBody = http.NoBody, func() (io.ReadCloser, error) { return http.NoBody, nil }
		return
	}
	out.Body = io.NopCloser(bytes.NewReader(body))
	out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
}

// errTooLarge is the read error of an answer beyond MaxReplyBytes.
var errTooLarge = errors.New("the answer is larger than MaxReplyBytes")

// readAnswer reads and closes resp.Body, at most max bytes.
func readAnswer(resp *http.Response, max int64) ([]byte, error) {
	if resp.Body == nil {
		return nil, nil
	}
	defer resp.Body.Close()
	if resp.ContentLength > max {
		return nil, errTooLarge
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, fmt.Errorf("reading the answer: %w", err)
	}
	if int64(len(data)) > max {
		return nil, errTooLarge
	}
	return data, nil
}
