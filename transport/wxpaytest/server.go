package wxpaytest

import (
	"crypto/rsa"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hongbao-go/hongbao/signer"
)

// Defaults used when the corresponding Options field is empty.
const (
	DefaultMchID  = "1900000109"
	DefaultAPIKey = "wxpaytest0key0for0tests0only0000"
	DefaultAppID  = "wx8888888888888888"
)

// Endpoint paths served.
const (
	PathSendMiniProgramHB = "/mmpaymkttransfers/sendminiprogramhb"
	PathGetHBInfo         = "/mmpaymkttransfers/gethbinfo"
	PathOrderQuery        = "/pay/orderquery"
)

// Red packet states, as gethbinfo spells them.
const (
	StatusSending   = "SENDING"
	StatusSent      = "SENT"
	StatusFailed    = "FAILED"
	StatusReceived  = "RECEIVED"
	StatusRefunding = "RFUND_ING" // the platform's spelling
	StatusRefund    = "REFUND"
)

// Options configures a Server. The zero value is ready to use.
type Options struct {
	// MchID is the merchant id; DefaultMchID when empty. The client
	// certificate carries it as its subject CN.
	MchID string
	// APIKey is the APIv2 key, 32 bytes; DefaultAPIKey when empty.
	APIKey string
	// AppID is the mini program appid bound to the merchant; DefaultAppID
	// when empty.
	AppID string
	// Now is the clock for send, receive and refund times and request
	// records, and for APIv3 timestamps (checked and signed), bill times,
	// the closing of unconfirmed bills and the validity of platform
	// certificates; time.Now when nil. The TLS certificates and the TLS
	// handshakes use the real clock.
	Now func() time.Time
	// Balance is the merchant balance in fen, shared by both rails; 0
	// means unlimited. A send larger than what is left is answered
	// NOTENOUGH, a transfer 403 NOT_ENOUGH. Accepted sends and created
	// bills take their amount from it, refunds and failed or cancelled
	// bills give it back, and TopUp raises it.
	Balance int64
	// NotEnough chooses what the server remembers of a send refused with
	// NOTENOUGH; NotEnoughFailed when zero.
	NotEnough NotEnoughMode
	// UserLimits are the per-user daily limits (SENDNUM_LIMIT,
	// RCVDAMOUNT_LIMIT) and what is remembered of their refusals; the
	// zero value sets none. See UserLimits.
	UserLimits UserLimits
	// AcceptRule is the paySign rule Open accepts: which form of the
	// package paySign covers and in which hex case. The zero value is
	// signer.EncodedLowerRule, the default of signer.BizRedPacketParams.
	AcceptRule signer.PackageRule
	// SendsPerMinute enforces the merchant's send rate, as the platform
	// does (1,800 a minute by default there): a sendminiprogramhb call
	// beyond it is answered FREQ_LIMIT, in the business shape, without
	// being processed. The rate holds in every span of RateWindow: no more
	// than SendsPerMinute×RateWindow/1min calls (at least one) are let
	// through in any such span, counted on the real clock. Every call to
	// the path counts except those answered FREQ_LIMIT. 0 means no limit;
	// negative is an error.
	SendsPerMinute int
	// RateWindow is the span over which SendsPerMinute is enforced,
	// sliding; one second when zero: at 1,800 a minute, no more than 30
	// sends in any second. time.Minute enforces the documented figure
	// alone.
	RateWindow time.Duration
	// Latency delays every call of the endpoints before it is checked and
	// processed, as the network and the platform do (tens of
	// milliseconds): a client that gives up meanwhile, or Close, drops the
	// connection and nothing is processed. The rate of SendsPerMinute is
	// judged on arrival, before the wait. Injected Delays add to it.
	Latency time.Duration
	// Addr is the TCP address to listen on, host:port, for a server that
	// must keep a known address (a standalone fake host, say); a free
	// loopback port, "127.0.0.1:0", when empty. The server certificate
	// covers only localhost, 127.0.0.1 and ::1, so clients must reach the
	// server under one of those names. URL names the address listened on,
	// with 127.0.0.1 for an unspecified host (":8443", "0.0.0.0:8443",
	// "[::]:8443", which listen on every interface).
	Addr string
	// MerchantKey is the key of the merchant client certificate, which
	// also signs APIv3 requests; a new RSA 2048 key when nil. Set it (with
	// MerchantSerial) to replay requests signed elsewhere, such as
	// known-answer vectors.
	MerchantKey *rsa.PrivateKey
	// MerchantSerial is the serial number of the merchant client
	// certificate in hex, as APIv3 calls name it in serial_no; a random
	// one of 40 hex digits when empty.
	MerchantSerial string
	// V3 configures the APIv3 half: trust mode, keys, transfer bills and
	// notifications. Its zero value is ready to use.
	V3 V3Options
}

// NotEnoughMode chooses what the server remembers of a send refused with
// NOTENOUGH. The platform does not document which failed sends it records
// (so that gethbinfo answers FAILED rather than NOT_FOUND); the two modes
// let a test cover both possibilities.
type NotEnoughMode int

const (
	// NotEnoughFailed records the refusal: the bill number stays failed.
	// Every later send of it with the same re_openid and total_amount
	// answers NOTENOUGH again, even after TopUp or a refund raised the
	// balance, and gethbinfo reports it with status FAILED. It is the
	// default.
	NotEnoughFailed NotEnoughMode = iota
	// NotEnoughForgotten records nothing: gethbinfo answers NOT_FOUND for
	// the bill number, and a later send of it is processed as if it were
	// the first, so it pays once the balance is high enough.
	NotEnoughForgotten
)

// String returns the mode's constant name.
func (m NotEnoughMode) String() string {
	switch m {
	case NotEnoughFailed:
		return "NotEnoughFailed"
	case NotEnoughForgotten:
		return "NotEnoughForgotten"
	}
	return "NotEnoughMode(" + strconv.Itoa(int(m)) + ")"
}

// Server is a fake WeChat Pay host: APIv2 red packets over mutual TLS and
// APIv3 merchant transfers, on one address. It is safe for concurrent use.
type Server struct {
	// URL is the base URL, https://127.0.0.1:port, without a trailing slash.
	URL    string
	MchID  string
	APIKey string
	AppID  string

	now        func() time.Time
	signer     *signer.Signer
	acceptRule signer.PackageRule
	ts         *httptest.Server

	ca           *authority
	client       *issued
	clientKeyPEM []byte

	handshakes atomic.Int64
	closing    chan struct{}
	closeOnce  sync.Once

	// The connections open now and the most open at once since the start
	// or the last Reset.
	connMu    sync.Mutex
	openConns int
	peakConns int

	rate        *slidingWindow // nil: no rate enforced
	latency     time.Duration
	freqLimited atomic.Int64

	faults faultQueue[Fault]

	v3 *v3State

	mu        sync.Mutex
	requests  []*Request
	sends     map[string]int
	packets   map[string]*Packet
	byOpenID  map[string][]*Packet
	byPackage map[string]*Packet // by the package as a send answered it
	notEnough NotEnoughMode
	limits    UserLimits
	unlimited bool
	balance   int64
	seq       int64
}

// NewServer starts a Server on a loopback port. It generates a CA, a server
// certificate for localhost, 127.0.0.1 and ::1, and a merchant client
// certificate (RSA) with subject CN = MchID. A connection that presents a
// client certificate must present one issued by that CA, or the TLS
// handshake fails; a connection without one is accepted for APIv3 calls,
// and the APIv2 paths close it without an answer.
func NewServer(opts Options) (*Server, error) {
	s := &Server{
		MchID:      opts.MchID,
		APIKey:     opts.APIKey,
		AppID:      opts.AppID,
		now:        opts.Now,
		closing:    make(chan struct{}),
		sends:      make(map[string]int),
		packets:    make(map[string]*Packet),
		byOpenID:   make(map[string][]*Packet),
		byPackage:  make(map[string]*Packet),
		notEnough:  opts.NotEnough,
		acceptRule: opts.AcceptRule,
		balance:    opts.Balance,
	}
	if s.MchID == "" {
		s.MchID = DefaultMchID
	}
	if s.APIKey == "" {
		s.APIKey = DefaultAPIKey
	}
	if s.AppID == "" {
		s.AppID = DefaultAppID
	}
	if s.now == nil {
		s.now = time.Now
	}
	if opts.Balance < 0 {
		return nil, errors.New("wxpaytest: Balance must not be negative")
	}
	if opts.SendsPerMinute < 0 || opts.RateWindow < 0 || opts.Latency < 0 {
		return nil, errors.New("wxpaytest: SendsPerMinute, RateWindow and Latency must not be negative")
	}
	if opts.SendsPerMinute > 0 {
		span := opts.RateWindow
		if span == 0 {
			span = time.Second
		}
		limit := max(int(int64(opts.SendsPerMinute)*int64(span)/int64(time.Minute)), 1)
		s.rate = newSlidingWindow(limit, span)
	}
	s.latency = opts.Latency
	s.unlimited = opts.Balance == 0
	switch opts.NotEnough {
	case NotEnoughFailed, NotEnoughForgotten:
	default:
		return nil, fmt.Errorf("wxpaytest: unknown NotEnough mode %v", opts.NotEnough)
	}
	if err := opts.UserLimits.check(); err != nil {
		return nil, err
	}
	s.limits = opts.UserLimits
	switch opts.AcceptRule {
	case signer.EncodedLowerRule, signer.EncodedUpperRule, signer.RawPackageRule:
	default:
		return nil, fmt.Errorf("wxpaytest: unknown AcceptRule %v", opts.AcceptRule)
	}
	sg, err := signer.New(s.APIKey)
	if err != nil {
		return nil, fmt.Errorf("wxpaytest: %w", err)
	}
	s.signer = sg

	wall := time.Now()
	if s.ca, err = newAuthority(wall); err != nil {
		return nil, err
	}
	merchantSerial, err := parseSerial(opts.MerchantSerial)
	if err != nil {
		return nil, err
	}
	if opts.MerchantKey != nil && opts.MerchantKey.N.BitLen() < 2048 {
		return nil, errors.New("wxpaytest: MerchantKey must be an RSA key of 2048 bits or more")
	}
	if s.client, err = s.ca.issue(s.MchID, false, opts.MerchantKey, merchantSerial, wall.Add(-time.Hour), wall.Add(365*24*time.Hour)); err != nil {
		return nil, err
	}
	if s.v3, err = newV3(s, opts.V3); err != nil {
		return nil, err
	}
	if s.clientKeyPEM, err = s.client.keyPEM(); err != nil {
		return nil, err
	}

	s.ts, s.URL, err = s.ca.startTLS(opts.Addr, &http.Server{Handler: s, ConnState: s.connState}, &tls.Config{
		// APIv3 calls come without a client certificate; the APIv2
		// paths refuse requests without one (see ServeHTTP).
		ClientAuth: tls.VerifyClientCertIfGiven,
		ClientCAs:  s.RootCAs(),
		// Runs once a client certificate, if any, has been verified,
		// for full handshakes and resumptions alike.
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) > 0 {
				s.handshakes.Add(1)
			} else {
				s.v3.handshakes.Add(1)
			}
			return nil
		},
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// startTLS serves srv over TLS 1.2 or later with cfg (its client
// authentication) on addr, a free loopback port when empty, under a new
// server certificate issued by a for localhost, 127.0.0.1 and ::1. It
// returns the running server and its base URL.
func (a *authority) startTLS(addr string, srv *http.Server, cfg *tls.Config) (*httptest.Server, string, error) {
	wall := time.Now()
	cert, err := a.issue("localhost", true, nil, nil, wall.Add(-time.Hour), wall.Add(5*365*24*time.Hour))
	if err != nil {
		return nil, "", err
	}
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("wxpaytest: listening: %w", err)
	}
	srv.ReadHeaderTimeout = 30 * time.Second
	// Refused handshakes are expected in tests: keep them off stderr.
	srv.ErrorLog = log.New(io.Discard, "", 0)
	cfg.Certificates = []tls.Certificate{cert.tlsCertificate()}
	cfg.MinVersion = tls.VersionTLS12
	cfg.NextProtos = []string{"http/1.1"}
	ts := &httptest.Server{Listener: ln, Config: srv, TLS: cfg}
	ts.StartTLS()
	return ts, baseURL(ln.Addr()), nil
}

// baseURL is the https URL of a listener's address; an unspecified IP
// (0.0.0.0, ::: every interface) is replaced with 127.0.0.1, which the
// server certificate covers.
func baseURL(a net.Addr) string {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return "https://" + a.String()
	}
	ip := ta.IP
	if ip == nil || ip.IsUnspecified() {
		ip = net.IPv4(127, 0, 0, 1)
	}
	return "https://" + net.JoinHostPort(ip.String(), strconv.Itoa(ta.Port))
}

// Start is NewServer for tests: it fails tb on error and closes the server
// in tb.Cleanup.
func Start(tb testing.TB, opts Options) *Server {
	tb.Helper()
	s, err := NewServer(opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Close)
	return s
}

// Close stops the server. Calls waiting on an injected Delay end at once
// with a dropped connection, unprocessed. Close blocks until every call in
// progress has returned; it may be called more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.closing) })
	s.ts.Close()
	s.v3.close()
}

// Handshakes returns the number of TLS handshakes completed with a verified
// client certificate (full handshakes and resumptions). A keep-alive client
// makes one per connection. Handshakes without a client certificate, those
// of APIv3 clients, are counted by V3Handshakes.
func (s *Server) Handshakes() int64 {
	return s.handshakes.Load()
}

// connState counts the connections open (accepted and not yet closed,
// whether or not their TLS handshake succeeded).
func (s *Server) connState(_ net.Conn, st http.ConnState) {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	switch st {
	case http.StateNew:
		s.openConns++
		s.peakConns = max(s.peakConns, s.openConns)
	case http.StateClosed, http.StateHijacked:
		s.openConns--
	}
}

// OpenConns returns the number of client connections open now.
func (s *Server) OpenConns() int {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	return s.openConns
}

// PeakConns returns the most client connections that were open at the
// same time since the start or the last Reset: what a burst of sends costs
// the platform in connections (and TLS handshakes).
func (s *Server) PeakConns() int {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	return s.peakConns
}

// FreqLimited returns how many calls were answered FREQ_LIMIT because of
// Options.SendsPerMinute since the start or the last Reset (injected
// FREQ_LIMIT faults are not counted).
func (s *Server) FreqLimited() int64 {
	return s.freqLimited.Load()
}

// Request is the record of one call.
type Request struct {
	Path string
	// Params are the fields of the XML body; empty when it could not be
	// decoded.
	Params map[string]string
	At     time.Time
	// ErrCode is the err_code answered, or that would have been answered
	// when the connection was dropped after processing; empty for a success
	// and for replies without one (HTML, garbage, status, dropped before
	// processing, return_code=FAIL without err_code).
	ErrCode string
}

// Requests returns a copy of the records of every call since the start or
// the last Reset, in arrival order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	for i, r := range s.requests {
		out[i] = *r
		out[i].Params = maps.Clone(r.Params)
	}
	return out
}

// Sends returns how many sendminiprogramhb calls with mch_billno billno
// reached processing since the start or the last Reset: calls that passed
// every check (XML, mch_id, certificate, sign, appid, parameters) and were
// not answered by an injected fault first. Idempotent repeats, FATAL_ERROR,
// NOTENOUGH and the refusals of a Fault with Record count; one billno never
// pays more than once.
func (s *Server) Sends(billno string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sends[billno]
}

// Reset forgets the request records, the Sends counts, the pending
// faults and the FreqLimited count, and lowers PeakConns to the
// connections open now; of the APIv3 half, it forgets V3Requests, the
// Creates counts, pending V3Faults and the Deliveries records. Red
// packets, recorded failures, transfer bills, the balance and the calls
// counted against the rates are kept, as the platform keeps them: a
// billno sent before Reset is still idempotent.
func (s *Server) Reset() {
	s.faults.clear()
	s.freqLimited.Store(0)
	s.connMu.Lock()
	s.peakConns = s.openConns
	s.connMu.Unlock()
	s.mu.Lock()
	s.requests = nil
	s.sends = make(map[string]int)
	s.mu.Unlock()
	s.v3.reset()
}

// TopUp adds fen to a limited balance, as a merchant topping up the
// account: sends refused with NOTENOUGH for a new billno (or for the same
// billno under NotEnoughForgotten) may pay afterwards, and so may transfer
// bills refused with NOT_ENOUGH, under the same out_bill_no. It does
// nothing when the balance is unlimited (Options.Balance 0), and panics
// when fen is negative.
func (s *Server) TopUp(fen int64) {
	if fen < 0 {
		panic("wxpaytest: TopUp with a negative amount")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.unlimited {
		s.balance += fen
	}
}

// Balance returns what is left of a limited balance in fen: Options.Balance
// minus the accepted sends, plus refunds and TopUp. It returns -1 when the
// balance is unlimited.
func (s *Server) Balance() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.unlimited {
		return -1
	}
	return s.balance
}

// Packet is the server's record of a bill number: a red packet created by
// an accepted send, or a recorded failure — a send refused definitively
// (NOTENOUGH under NotEnoughFailed, a user's daily limit under
// UserLimits.Refusals NotEnoughFailed, or a Fault with Record). A recorded
// failure has Status FAILED, ErrCode and Reason set, no Package, and took
// nothing from the balance; the texts, amount, openid and SentAt (the time
// of the refused send) are those of the send, as for a packet.
type Packet struct {
	Billno     string
	OpenID     string
	SendListID string // also the gethbinfo detail_id
	Package    string // empty for a recorded failure
	Amount     int64  // fen
	Status     string
	SentAt     time.Time
	ReceivedAt time.Time // set by MarkReceived or Open
	RefundedAt time.Time // set by MarkRefunded
	AppID      string
	SendName   string
	Wishing    string
	ActName    string
	Remark     string
	SceneID    string
	// ErrCode is the err_code that refused the send of a recorded failure,
	// and empty for a packet created by an accepted send: it tells a paid
	// bill number (ErrCode == "") from a refused one.
	ErrCode string
	// Reason is gethbinfo's reason when Status is FAILED: the err_code_des
	// of a recorded failure, a stock text after SetStatus(FAILED).
	Reason string
}

// Packet returns a copy of the record of billno: a red packet or a
// recorded failure.
func (s *Server) Packet(billno string) (Packet, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.packets[billno]
	if !ok {
		return Packet{}, false
	}
	return *p, true
}

// PacketsOf returns copies of the records of every billno sent to openid
// (re_openid), in the order they were created: red packets and recorded
// failures alike, each once however often it was resent. A paid billno has
// ErrCode == ""; a test asserting "one paid billno per user" counts those.
// It returns nil when there are none.
func (s *Server) PacketsOf(openid string) []Packet {
	s.mu.Lock()
	defer s.mu.Unlock()
	ps := s.byOpenID[openid]
	if len(ps) == 0 {
		return nil
	}
	out := make([]Packet, len(ps))
	for i, p := range ps {
		out[i] = *p
	}
	return out
}

// MarkReceived records that the receiver opened the red packet: a SENT
// packet becomes RECEIVED, and gethbinfo then lists the receipt in hblist.
// Open does the same through the mini program's parameters.
func (s *Server) MarkReceived(billno string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.packetIn(billno, StatusSent)
	if err != nil {
		return err
	}
	p.Status = StatusReceived
	p.ReceivedAt = s.now()
	return nil
}

// MarkRefunded records that an unclaimed red packet went back to the
// merchant: a SENT or RFUND_ING packet becomes REFUND, and its amount returns
// to a limited balance.
func (s *Server) MarkRefunded(billno string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.packetIn(billno, StatusSent, StatusRefunding)
	if err != nil {
		return err
	}
	s.refund(p)
	return nil
}

// SetStatus forces the state of a red packet to one of the Status
// constants, for the states MarkReceived and MarkRefunded do not reach
// (SENDING, FAILED, RFUND_ING). RECEIVED and REFUND set the receive or
// refund time if not set yet; REFUND returns the amount to a limited
// balance; FAILED sets a stock Reason if none is set (the amount stays
// taken). A recorded failure is refused: it has no red packet to change.
func (s *Server) SetStatus(billno, status string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.packetIn(billno)
	if err != nil {
		return err
	}
	if p.ErrCode != "" {
		return fmt.Errorf("wxpaytest: %q is a recorded failure (%s), not a red packet", billno, p.ErrCode)
	}
	switch status {
	case StatusSending, StatusSent, StatusRefunding:
		p.Status = status
	case StatusFailed:
		p.Status = status
		if p.Reason == "" {
			p.Reason = reasonFailed
		}
	case StatusReceived:
		p.Status = status
		if p.ReceivedAt.IsZero() {
			p.ReceivedAt = s.now()
		}
	case StatusRefund:
		if p.Status != StatusRefund {
			s.refund(p)
		}
	default:
		return fmt.Errorf("wxpaytest: unknown red packet status %q", status)
	}
	return nil
}

// refund moves p to REFUND; s.mu must be held.
func (s *Server) refund(p *Packet) {
	p.Status = StatusRefund
	p.RefundedAt = s.now()
	if !s.unlimited {
		s.balance += p.Amount
	}
}

// packetIn returns the packet sent with billno, which must be in one of the
// states given (any state when none is); s.mu must be held.
func (s *Server) packetIn(billno string, states ...string) (*Packet, error) {
	p, ok := s.packets[billno]
	if !ok {
		return nil, fmt.Errorf("wxpaytest: no red packet with mch_billno %q", billno)
	}
	if len(states) == 0 {
		return p, nil
	}
	for _, st := range states {
		if p.Status == st {
			return p, nil
		}
	}
	return nil, fmt.Errorf("wxpaytest: red packet %q is %s, want %v", billno, p.Status, states)
}

// Fault makes the next matching calls misbehave. Faults are matched in the
// order they were injected; a call consumes at most one fault, and each use
// is taken atomically, so concurrent calls never share one.
//
// What a matched call does, in this order:
//
//   - Delay: the server waits before processing. If the client gives up
//     (request context done) or the server is closed meanwhile, the
//     connection is dropped and nothing is processed. With DropAfter the
//     wait comes after processing instead, just before the drop.
//   - DropBefore: the connection is closed without a reply; nothing is
//     processed.
//   - Status, HTML, Garbage: the reply is that HTTP status (200 when only
//     HTML or Garbage is set) with an HTML error page, garbage bytes or a
//     short text body; nothing is processed.
//   - ReturnFail: return_code=FAIL with this return_msg (plus result_code=FAIL
//     and ErrCode when set); nothing is processed.
//   - ErrCode (other than the special codes below) without Record:
//     answered with ErrCodeDes (a stock text when empty); nothing is
//     processed. XML_ERROR, SIGN_ERROR, PARAM_ERROR and CA_ERROR take the
//     protocol-failure shape (return_code=FAIL), every other code the
//     business shape (return_code=SUCCESS, result_code=FAIL). Such an answer
//     leaves no trace: the same billno sent again is processed normally.
//   - ErrCode with Record on sendminiprogramhb: a definitive failure that
//     the platform remembers. The call is checked and processed like any
//     send; if its billno has no record yet, the send is refused with
//     ErrCode and ErrCodeDes (the business shape, a stock text when empty),
//     nothing is taken from the balance, and the refusal is recorded: the
//     billno holds a FAILED record (Packet.ErrCode, Packet.Reason), every
//     later send of it answers the same code and text (FATAL_ERROR with
//     another re_openid or total_amount), and gethbinfo reports it FAILED
//     with the text as reason. A call refused by a check (PARAM_ERROR,
//     SIGN_ERROR...) records nothing, and a billno that already has a
//     record answers that record as usual; the fault is used up either way.
//     Meant for definitive codes (SEND_FAILED, NO_AUTH, SENDNUM_LIMIT...),
//     and applied whatever Options.NotEnough says. On other paths the code
//     is answered like any code and nothing is recorded.
//   - ErrCode "PROCESSING" on sendminiprogramhb: the call is checked and
//     processed; a new billno creates the red packet in state SENDING, and
//     the answer is PROCESSING. The packet becomes SENT when the same
//     billno is sent again (which answers SUCCESS) or right after the first
//     gethbinfo query has reported it SENDING. On other paths PROCESSING is
//     answered like any code.
//   - ErrCode "BAD_REPLY_SIGN" / "NO_REPLY_SIGN": the call is processed
//     normally, but the reply carries a wrong sign / no sign. Replies of the
//     red-packet paths carry no sign anyway: BAD_REPLY_SIGN adds a wrong one
//     there, NO_REPLY_SIGN changes nothing.
//   - DropAfter: the call goes through the steps above (without ErrCode it
//     is processed: a send happens and is recorded; with ErrCode and
//     Record the refusal is recorded) and the connection is then closed
//     without a reply. Requests keeps the err_code that would have been
//     answered.
type Fault struct {
	// Match selects the calls; nil matches every call. It receives the path
	// and a copy of the decoded body fields (empty when undecodable) and is
	// called with the fault list locked: it must not call Inject or Reset.
	Match func(path string, params map[string]string) bool
	// Times is how many calls the fault applies to; 0 or less means 1.
	Times int

	ErrCode    string
	ErrCodeDes string
	ReturnFail string
	Status     int
	HTML       bool
	Garbage    bool
	Delay      time.Duration
	DropBefore bool
	DropAfter  bool
	// Record makes ErrCode a recorded definitive failure on
	// sendminiprogramhb (see above). It needs a business ErrCode (not
	// XML_ERROR, SIGN_ERROR, PARAM_ERROR, CA_ERROR or a special code) and
	// a call that is processed (no ReturnFail, Status, HTML, Garbage or
	// DropBefore); Inject panics otherwise. Delay and DropAfter combine
	// with it.
	Record bool
}

// Inject queues f for the next matching calls. It panics when f.Record is
// set with a code or a reply shape that cannot be recorded; see Fault.
func (s *Server) Inject(f Fault) {
	if f.Record {
		switch {
		case f.ErrCode == "", isProtocolCode(f.ErrCode),
			f.ErrCode == codeProcessing, f.ErrCode == codeBadReplySign, f.ErrCode == codeNoReplySign:
			panic(fmt.Sprintf("wxpaytest: Fault.Record needs a business ErrCode, got %q", f.ErrCode))
		case f.ReturnFail != "" || f.Status != 0 || f.HTML || f.Garbage || f.DropBefore:
			panic("wxpaytest: Fault.Record with a fault that answers without processing")
		}
	}
	s.faults.push(f, f.Times)
}

// takeFault consumes one use of the first pending fault matching the call.
func (s *Server) takeFault(path string, params map[string]string) (Fault, bool) {
	return s.faults.take(func(f Fault) bool { return f.Match == nil || f.Match(path, maps.Clone(params)) })
}
