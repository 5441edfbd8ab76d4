package claim

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/hongbao-go/hongbao"
	"github.com/hongbao-go/hongbao/apiv3"
	"github.com/hongbao-go/hongbao/middleware/jwtauth"
	"github.com/hongbao-go/hongbao/rail"
	"github.com/hongbao-go/hongbao/signer"
	"github.com/hongbao-go/hongbao/store"
	"github.com/hongbao-go/hongbao/transfer"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

// The same lifecycle, budget and replica tests run on both rails: a world
// is one fake platform host (both halves on one address, over TLS), one
// clock shared by the host, the clients and the handlers, one Store, and,
// for the transfer, the notify URL the host posts to. A replica is a
// handler with a rail (a client) of its own on that Store, behind the JWT
// middleware on a real server; a restart is a new replica.

// The rails under test.
const (
	redPacket = hongbao.RailName
	transfers = transfer.RailName
)

var bothRails = []string{redPacket, transfers}

type world struct {
	kind    string
	host    *wxpaytest.Server
	clock   *clock
	store   store.Store
	auth    *jwtauth.Authenticator
	grant   atomic.Pointer[Grant]
	recv    *receiver
	mod     func(*HandlerConfig)
	logs    *syncBuffer
	rail0   rail.Rail // a rail of the world, for bill numbers
	payouts atomic.Int64
	opened  atomic.Bool // the capped campaigns' accounts were opened
}

// receiver is the notify URL: an https server handing each request to
// the handler set last.
type receiver struct {
	srv *httptest.Server
	mu  sync.Mutex
	h   http.Handler
}

func startReceiver(t *testing.T) *receiver {
	rc := &receiver{}
	rc.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc.mu.Lock()
		h := rc.h
		rc.mu.Unlock()
		if h == nil {
			http.Error(w, `{"code":"FAIL","message":"no handler yet"}`, http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	}))
	rc.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	rc.srv.StartTLS()
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) url() string { return rc.srv.URL + "/hongbao/notify" }

func (rc *receiver) set(h http.Handler) {
	rc.mu.Lock()
	rc.h = h
	rc.mu.Unlock()
}

// newWorld starts a world of the rail kind; st nil means a new MemoryStore.
func newWorld(t *testing.T, kind string, opts wxpaytest.Options, st store.Store, mod func(*HandlerConfig)) *world {
	t.Helper()
	w := &world{kind: kind, clock: &clock{}, store: st, mod: mod, logs: &syncBuffer{}}
	if w.store == nil {
		w.store = store.NewMemoryStore()
	}
	w.recv = startReceiver(t)
	opts.Now = w.clock.Now
	opts.V3.NotifyClient = w.recv.srv.Client()
	w.host = wxpaytest.Start(t, opts)
	w.auth = newAuth(t, mixedKeys(getKeys()), nil)
	g := testGrant()
	w.grant.Store(&g)
	w.rail0 = w.newRail(t)
	return w
}

var quietLog = slog.New(slog.DiscardHandler)

// newRail returns a rail of the world's kind with a client of its own.
func (w *world) newRail(t *testing.T) rail.Rail {
	t.Helper()
	if w.kind == redPacket {
		return newTestClient(t, w.host, quietLog).Rail()
	}
	vc := w.host.V3Config()
	tr, err := apiv3.New(apiv3.Config{
		MchID: vc.MchID, CertPEM: vc.CertPEM, KeyPEM: vc.KeyPEM, APIv3Key: vc.APIv3Key,
		PublicKeyID: vc.PublicKeyID, PublicKeyPEM: vc.PublicKeyPEM, RootCAs: vc.RootCAs, BaseURL: vc.BaseURL,
		Logger: quietLog, Now: w.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	c, err := transfer.New(transfer.Config{
		AppID: w.host.AppID, Transport: tr, BillnoKey: testBillnoKey, Logger: quietLog, Now: w.clock.Now,
		Retry: hongbao.RetryPolicy{Attempts: testAttempts, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond, AttemptTimeout: 5 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.Rail(transfer.RailConfig{NotifyURL: w.recv.url()})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

type replica struct {
	srv *httptest.Server
	h   *Handler
}

// replica starts a handler with a rail of its own on the world's Store;
// for the transfer it becomes the receiver of the notifications.
func (w *world) replica(t *testing.T) *replica {
	t.Helper()
	cfg := HandlerConfig{
		Rail:      w.newRail(t),
		Policy:    PolicyFunc(func(context.Context, jwtauth.User, []byte) (Grant, error) { return *w.grant.Load(), nil }),
		Store:     w.store,
		RateLimit: -1,
		Now:       w.clock.Now,
		Logger:    slog.New(slog.NewJSONHandler(w.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if w.mod != nil {
		w.mod(&cfg)
	}
	h, err := NewHandler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// A capped campaign's account is opened once, at the campaign's
	// first configuration (the first replica), never by a restart.
	if !w.opened.Swap(true) {
		for _, c := range h.Campaigns() {
			if _, err := h.OpenBudget(context.Background(), c); err != nil {
				t.Fatal(err)
			}
		}
	}
	mux := http.NewServeMux()
	mux.Handle(sendPath, w.auth.Middleware(h))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	if w.kind == transfers {
		nh, err := h.NotificationHandler()
		if err != nil {
			t.Fatal(err)
		}
		w.recv.set(nh)
	}
	return &replica{srv: srv, h: h}
}

func (w *world) token(t testing.TB, openID string) string {
	return sign(t, jwt.SigningMethodHS256, getKeys().hmac, "", goodClaims(map[string]any{"sub": openID}))
}

// tap is one tap of openID on r.
func (w *world) tap(t testing.TB, r *replica, openID string) response {
	t.Helper()
	res, err := post(context.Background(), r.srv.URL+sendPath, w.token(t, openID), `{"scene":1047}`)
	if err != nil {
		t.Fatalf("tap: %v", err)
	}
	return res
}

func (w *world) billno(t testing.TB, openID string, attempt int) string {
	t.Helper()
	n, err := w.rail0.Billno(w.grant.Load().Key, openID, attempt)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// answer checks a 200 answer of billno against the platform's record and
// returns its package: the transfer's {rail, mchId, appId, package} with
// the bill's package_info; the red packet's rail and five parameters, the
// package URL-encoded as the host issued it and paySign verified.
func (w *world) answer(t testing.TB, res response, billno string) string {
	t.Helper()
	if res.status != http.StatusOK {
		t.Fatalf("status %d, body %s", res.status, res.body)
	}
	if w.kind == transfers {
		var a struct {
			Rail    string `json:"rail"`
			MchID   string `json:"mchId"`
			AppID   string `json:"appId"`
			Package string `json:"package"`
		}
		dec := json.NewDecoder(strings.NewReader(res.body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&a); err != nil {
			t.Fatalf("answer %s: %v", res.body, err)
		}
		b, ok := w.host.Bill(billno)
		if !ok || a.Rail != transfers || a.MchID != w.host.MchID || a.AppID != w.host.AppID || a.Package == "" || a.Package != b.PackageInfo {
			t.Fatalf("answer %s, bill %s %+v", res.body, billno, b)
		}
		return a.Package
	}
	var a struct {
		Rail string `json:"rail"`
		signer.BizRedPacket
	}
	dec := json.NewDecoder(strings.NewReader(res.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil || a.Rail != redPacket {
		t.Fatalf("answer %s: %v", res.body, err)
	}
	pkt, ok := w.host.Packet(billno)
	if !ok || a.Package != signer.EncodeURIComponent(pkt.Package) {
		t.Fatalf("answer %s, packet %s %+v", res.body, billno, pkt)
	}
	sg, err := signer.New(w.host.APIKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := sg.VerifyBizRedPacket(w.host.AppID, a.BizRedPacket, signer.EncodedLowerRule); err != nil {
		t.Fatalf("paySign: %v", err)
	}
	return a.Package
}

// confirm is the user opening the answer: the red packet's
// wx.sendBizRedPacket (Open), the transfer's wx.requestMerchantTransfer and
// confirmation (then the SUCCESS notification is waited for).
func (w *world) confirm(t testing.TB, res response, billno, openID string) {
	t.Helper()
	if w.kind == redPacket {
		var p signer.BizRedPacket
		if err := json.Unmarshal([]byte(res.body), &p); err != nil {
			t.Fatal(err)
		}
		if _, err := w.host.Open(p, 1047); err != nil {
			t.Fatalf("Open: %v", err)
		}
		return
	}
	var p wxpaytest.TransferPage
	if err := json.Unmarshal([]byte(res.body), &p); err != nil {
		t.Fatal(err)
	}
	p.OpenID = openID
	if _, err := w.host.ConfirmTransfer(p); err != nil {
		t.Fatalf("ConfirmTransfer: %v", err)
	}
	w.delivered(t, billno, 1)
}

// delivered waits until n notifications of billno were answered 2xx.
func (w *world) delivered(t testing.TB, billno string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := 0
		for _, d := range w.host.Deliveries() {
			if d.OutBillNo == billno && d.Delivered {
				got++
			}
			if d.OutBillNo == billno && d.GaveUp {
				t.Fatalf("the notification of %s was given up: %+v", billno, d)
			}
		}
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d notification(s) of %s delivered, want %d: %+v", got, billno, n, w.host.Deliveries())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// unclaimed lets the payout of billno go unclaimed past the platform's 24
// hours: the red packet is refunded; the transfer bill is closed FAIL
// OVERDUE_CLOSE by the host, which notifies it.
func (w *world) unclaimed(t testing.TB, billno string) {
	t.Helper()
	if w.kind == redPacket {
		if err := w.host.MarkRefunded(billno); err != nil {
			t.Fatal(err)
		}
		w.clock.Advance(25 * time.Hour)
		return
	}
	w.clock.Advance(25 * time.Hour)
	w.delivered(t, billno, 1)
	if b, _ := w.host.Bill(billno); b.State != wxpaytest.BillFail || b.FailReason != wxpaytest.FailOverdueClose {
		t.Fatalf("bill %+v", b)
	}
}

// loseReplies makes the platform process the next n sends and lose their
// replies.
func (w *world) loseReplies(n int) {
	if w.kind == redPacket {
		w.host.Inject(wxpaytest.Fault{Times: n, DropAfter: true,
			Match: func(path string, _ map[string]string) bool { return path == wxpaytest.PathSendMiniProgramHB }})
		return
	}
	w.host.InjectV3(wxpaytest.V3Fault{Times: n, DropAfter: true,
		Match: func(r wxpaytest.V3Request) bool {
			return r.Method == http.MethodPost && r.URI == wxpaytest.PathTransferBills
		}})
}

// payoutsOf returns the bill numbers the platform pays openID under.
func (w *world) payoutsOf(openID string) []string {
	var out []string
	if w.kind == redPacket {
		for _, p := range w.host.PacketsOf(openID) {
			if p.ErrCode == "" {
				out = append(out, p.Billno)
			}
		}
		return out
	}
	for _, b := range w.host.BillsOf(openID) {
		out = append(out, b.OutBillNo)
	}
	return out
}

// sends counts the send calls the platform received.
func (w *world) sends() int {
	n := 0
	if w.kind == redPacket {
		for _, r := range w.host.Requests() {
			if r.Path == wxpaytest.PathSendMiniProgramHB {
				n++
			}
		}
		return n
	}
	for _, r := range w.host.V3Requests() {
		if r.Method == http.MethodPost && r.URI == wxpaytest.PathTransferBills {
			n++
		}
	}
	return n
}

// stored returns the Store's result of billno.
func (w *world) stored(t testing.TB, billno string) store.Result {
	t.Helper()
	r, ok, err := w.store.Result(context.Background(), billno)
	if err != nil || !ok {
		t.Fatalf("no result of %s: %v", billno, err)
	}
	return r
}

// budget reads the campaign's account.
func (w *world) budget(t testing.TB, r *replica) store.BudgetState {
	t.Helper()
	st, ok, err := r.h.Budget(context.Background(), w.grant.Load().Key)
	if err != nil || !ok {
		t.Fatalf("budget: %v %v", ok, err)
	}
	return st
}

// user returns the i-th user's openid of a test.
func user(prefix string, i int) string { return fmt.Sprintf("o%s%04d", prefix, i) }
