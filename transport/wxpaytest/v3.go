package wxpaytest

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rsa"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultAPIv3Key is the APIv3 key used when V3Options.APIv3Key is empty.
const DefaultAPIv3Key = "wxpaytest0apiv3key0for0tests0000"

// APIv3 paths served. The bill paths take the bill number after the
// prefix; PathRequestMerchantTransfer is the fake's own, test-only
// endpoint standing for the user confirming a bill.
const (
	PathTransferBills           = "/v3/fund-app/mch-transfer/transfer-bills"
	PathTransferBillByOutBillNo = PathTransferBills + "/out-bill-no/"      // + out_bill_no; + "/cancel" to cancel
	PathTransferBillByNo        = PathTransferBills + "/transfer-bill-no/" // + transfer_bill_no
	PathCertificates            = "/v3/certificates"
	PathRequestMerchantTransfer = "/wxpaytest/request-merchant-transfer"
)

// Trust chooses which platform keys sign the APIv3 answers and
// notifications, as the merchant console's setting does.
type Trust int

const (
	// TrustPublicKey signs with the WeChat Pay public key's private half,
	// named by its id (PUB_KEY_ID_...). It is the default, as for new
	// merchants. GET /v3/certificates answers an empty list.
	TrustPublicKey Trust = iota
	// TrustCertificates signs with a platform certificate's key, named
	// by the certificate's serial; GET /v3/certificates lists the
	// certificates not yet expired, encrypted under the APIv3 key.
	TrustCertificates
	// TrustBoth is the migration between the two: both are served, and
	// an answer is signed with the key the request's Wechatpay-Serial
	// names (the public key when it names neither a certificate nor the
	// public key).
	TrustBoth
)

// String returns the constant's name.
func (t Trust) String() string {
	switch t {
	case TrustPublicKey:
		return "TrustPublicKey"
	case TrustCertificates:
		return "TrustCertificates"
	case TrustBoth:
		return "TrustBoth"
	}
	return "Trust(" + strconv.Itoa(int(t)) + ")"
}

func (t Trust) publicKey() bool    { return t == TrustPublicKey || t == TrustBoth }
func (t Trust) certificates() bool { return t == TrustCertificates || t == TrustBoth }

// V3Options configures the APIv3 half of a Server. The zero value is ready
// to use: public-key mode, DefaultAPIv3Key, bills closed 24 hours after
// creation, no notification URL besides the bills' own.
type V3Options struct {
	// APIv3Key is the 32-byte APIv3 key, a secret apart from the APIv2
	// key: it encrypts the platform certificates and the notification
	// resources. DefaultAPIv3Key when empty.
	APIv3Key string
	// Trust chooses the platform keys that sign answers and
	// notifications; TrustPublicKey when zero.
	Trust Trust
	// PublicKeyID is the id of the WeChat Pay public key,
	// "PUB_KEY_ID_" followed by digits; made from MchID and the date when
	// empty.
	PublicKeyID string
	// PlatformKey is the platform's private key whose public half is the
	// WeChat Pay public key (RSA, 2048 bits or more); a new RSA 2048 key,
	// made at its first use, when nil. Set it to reproduce signatures made
	// elsewhere, such as known-answer vectors.
	PlatformKey *rsa.PrivateKey
	// CertificateLifetime is how long the platform certificates the
	// server makes stay valid, from their creation on the server clock
	// (Options.Now); five years when zero. A certificate past it is no
	// longer listed by GET /v3/certificates.
	CertificateLifetime time.Duration
	// CloseAfter is how long after its creation, on the server clock, a
	// bill the user has not confirmed is closed: FAIL with fail_reason
	// OVERDUE_CLOSE, the amount back in a limited balance. 24 hours when
	// zero.
	CloseAfter time.Duration
	// MaxAmount is the per-transfer limit set in the console for the
	// scene, in fen; beyond it a create is INVALID_REQUEST. 0 means no
	// limit besides the RED_PACKET style's 20,000 fen.
	MaxAmount int64
	// ManualSettle keeps a confirmed bill TRANSFERING, and a cancelled one
	// CANCELING, until Settle or FailTransfer moves it on. Without it
	// both settle at once: a confirmed bill becomes SUCCESS, a cancelled
	// one CANCELLED, right after the call that moved them.
	ManualSettle bool
	// RequestsPerSecond enforces a rate on the APIv3 calls (the platform
	// documents 100 a second for transfer-bills): a call beyond it in
	// any sliding second is answered 429 FREQUENCY_LIMITED without being
	// processed. 0 means no limit; negative is an error.
	RequestsPerSecond int
	// NotifyURL receives the MCHTRANSFER.BILL.FINISHED notifications of
	// bills created without a notify_url; when empty such bills are not
	// notified.
	NotifyURL string
	// NotifyClient delivers the notifications; when nil, a client with
	// the system's roots and a 5-second timeout (the platform waits 5 s
	// for an answer). A test whose receiver is an httptest TLS server
	// passes that server's Client.
	NotifyClient *http.Client
	// NotifySchedule is how long to wait before each delivery attempt of
	// one notification, the first attempt included; DefaultNotifySchedule
	// when nil. PlatformNotifySchedule returns the platform's.
	NotifySchedule []time.Duration
	// ProbeNotifications makes the first attempt of every notification
	// carry a probe signature (WECHATPAY/SIGNTEST/...), as the platform
	// does now and then to check that merchants verify. The genuine
	// notification follows, on the schedule, when the probe is refused;
	// a receiver that answers the probe with 2xx has acted on an
	// unverified notification, and Deliveries shows it.
	ProbeNotifications bool
}

// DefaultNotifySchedule is the delivery schedule used when
// V3Options.NotifySchedule is nil: eight attempts within about 1.3 s, fast
// enough for tests.
var DefaultNotifySchedule = []time.Duration{
	0, 10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond,
	80 * time.Millisecond, 160 * time.Millisecond, 320 * time.Millisecond, 640 * time.Millisecond,
}

// PlatformNotifySchedule returns the platform's documented schedule: at
// once, then every 15 s ten times, every 5 min ten times and every 30 min
// 44 times.
func PlatformNotifySchedule() []time.Duration {
	out := []time.Duration{0}
	for _, step := range []struct {
		every time.Duration
		n     int
	}{{15 * time.Second, 10}, {5 * time.Minute, 10}, {30 * time.Minute, 44}} {
		for range step.n {
			out = append(out, step.every)
		}
	}
	return out
}

// v3State is the APIv3 half of a Server.
type v3State struct {
	s          *Server
	trust      Trust
	apiv3Key   string
	aead       cipher.AEAD
	closeAfter time.Duration
	certLife   time.Duration
	maxAmount  int64
	manual     bool
	rate       *slidingWindow
	notifyURL  string
	notifyHC   *http.Client
	schedule   []time.Duration
	probeFirst bool
	handshakes atomic.Int64
	limited    atomic.Int64

	keys keyring

	faults faultQueue[V3Fault]

	mu           sync.Mutex
	closed       bool
	requests     []*V3Request
	creates      map[string]int
	bills        map[string]*Bill // by out_bill_no
	byTransferNo map[string]*Bill
	byPackage    map[string]*Bill
	byOpenID     map[string][]*Bill
	open         map[string]*Bill // bills not in a final state
	created      int
	seq          int64
	deliveries   []Delivery
	changed      chan struct{} // closed and replaced when deliveries change
	sweeping     bool

	stop chan struct{}
	wg   sync.WaitGroup
}

func newV3(s *Server, o V3Options) (*v3State, error) {
	v := &v3State{
		s:            s,
		trust:        o.Trust,
		apiv3Key:     o.APIv3Key,
		closeAfter:   o.CloseAfter,
		certLife:     o.CertificateLifetime,
		maxAmount:    o.MaxAmount,
		manual:       o.ManualSettle,
		notifyURL:    o.NotifyURL,
		notifyHC:     o.NotifyClient,
		schedule:     o.NotifySchedule,
		probeFirst:   o.ProbeNotifications,
		creates:      make(map[string]int),
		bills:        make(map[string]*Bill),
		byTransferNo: make(map[string]*Bill),
		byPackage:    make(map[string]*Bill),
		byOpenID:     make(map[string][]*Bill),
		open:         make(map[string]*Bill),
		changed:      make(chan struct{}),
		stop:         make(chan struct{}),
	}
	switch o.Trust {
	case TrustPublicKey, TrustCertificates, TrustBoth:
	default:
		return nil, fmt.Errorf("wxpaytest: unknown V3Options.Trust %v", o.Trust)
	}
	if v.apiv3Key == "" {
		v.apiv3Key = DefaultAPIv3Key
	}
	if len(v.apiv3Key) != 32 {
		return nil, fmt.Errorf("wxpaytest: V3Options.APIv3Key is %d bytes, want 32", len(v.apiv3Key))
	}
	block, err := aes.NewCipher([]byte(v.apiv3Key))
	if err != nil {
		return nil, fmt.Errorf("wxpaytest: %w", err)
	}
	if v.aead, err = cipher.NewGCM(block); err != nil {
		return nil, fmt.Errorf("wxpaytest: %w", err)
	}
	if o.CloseAfter < 0 || o.CertificateLifetime < 0 || o.MaxAmount < 0 || o.RequestsPerSecond < 0 {
		return nil, errors.New("wxpaytest: V3Options durations, MaxAmount and RequestsPerSecond must not be negative")
	}
	if v.closeAfter == 0 {
		v.closeAfter = 24 * time.Hour
	}
	if v.certLife == 0 {
		v.certLife = 5 * 365 * 24 * time.Hour
	}
	if o.RequestsPerSecond > 0 {
		v.rate = newSlidingWindow(o.RequestsPerSecond, time.Second)
	}
	if v.schedule == nil {
		v.schedule = DefaultNotifySchedule
	}
	if len(v.schedule) == 0 {
		return nil, errors.New("wxpaytest: V3Options.NotifySchedule is empty; nil means the default")
	}
	for _, d := range v.schedule {
		if d < 0 {
			return nil, errors.New("wxpaytest: V3Options.NotifySchedule holds a negative wait")
		}
	}
	v.schedule = append([]time.Duration(nil), v.schedule...)
	if v.notifyHC == nil {
		v.notifyHC = &http.Client{Timeout: 5 * time.Second}
	}
	if o.NotifyURL != "" {
		if msg := checkNotifyURL(o.NotifyURL); msg != "" {
			return nil, fmt.Errorf("wxpaytest: V3Options.NotifyURL: %s", msg)
		}
	}
	if err := v.keys.init(s, o); err != nil {
		return nil, err
	}
	return v, nil
}

// close stops the sweeper and the deliveries in progress and waits for
// them.
func (v *v3State) close() {
	v.mu.Lock()
	if !v.closed {
		v.closed = true
		close(v.stop)
	}
	v.mu.Unlock()
	v.wg.Wait()
}

// reset forgets the records Reset clears.
func (v *v3State) reset() {
	v.faults.clear()
	v.limited.Store(0)
	v.mu.Lock()
	v.requests = nil
	v.creates = make(map[string]int)
	v.deliveries = nil
	v.broadcast()
	v.mu.Unlock()
}

// broadcast wakes the waiters of WaitDelivered; v.mu must be held.
func (v *v3State) broadcast() {
	close(v.changed)
	v.changed = make(chan struct{})
}

// isV3Path reports whether ServeHTTP hands the path to the APIv3 half.
func isV3Path(p string) bool {
	return strings.HasPrefix(p, "/v3/") || strings.HasPrefix(p, "/wxpaytest/")
}

// V3Handshakes returns the number of TLS handshakes completed without a
// client certificate: those of APIv3 clients, which sign their requests
// instead. A keep-alive client makes one per connection.
func (s *Server) V3Handshakes() int64 {
	return s.v3.handshakes.Load()
}

// FrequencyLimited returns how many APIv3 calls were answered 429
// FREQUENCY_LIMITED because of V3Options.RequestsPerSecond since the start
// or the last Reset (injected faults are not counted).
func (s *Server) FrequencyLimited() int64 {
	return s.v3.limited.Load()
}

// APIv3Key returns the APIv3 key, which decrypts the platform certificates
// and the notification resources.
func (s *Server) APIv3Key() string {
	return s.v3.apiv3Key
}

// Trust returns the trust mode of the APIv3 half.
func (s *Server) Trust() Trust {
	return s.v3.trust
}
