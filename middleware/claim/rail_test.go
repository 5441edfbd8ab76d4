package claim

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/hongbao-go/hongbao/middleware/jwtauth"
	"github.com/hongbao-go/hongbao/rail"
	"github.com/hongbao-go/hongbao/store"
)

// The claim handler pays through any rail.Rail: these tests drive the same
// lifecycle through a second rail, a client of billHost, a small platform
// of transfer bills in the manner of the APIv3 merchant transfer (a JSON
// API over TLS, bills by out_bill_no, WAIT_USER_CONFIRM with a
// package_info, FAIL with a fail_reason, CANCELLED, 403 NOT_ENOUGH, 404).

// bill is one transfer bill of billHost.
type bill struct {
	OutBillNo   string `json:"out_bill_no"`
	OpenID      string `json:"openid"`
	Amount      int64  `json:"transfer_amount"`
	Remark      string `json:"transfer_remark"`
	State       string `json:"state"`
	FailReason  string `json:"fail_reason,omitempty"`
	PackageInfo string `json:"package_info,omitempty"`
	CreateTime  string `json:"create_time"`
}

// billHost is the platform: it checks every request it receives and keeps
// one bill per out_bill_no.
type billHost struct {
	srv      *httptest.Server
	mu       sync.Mutex
	bills    map[string]*bill
	balance  int64 // fen; < 0: unlimited
	now      func() time.Time
	creates  atomic.Int64
	queries  atomic.Int64
	problems []string
}

func startBillHost(t *testing.T) *billHost {
	h := &billHost{bills: make(map[string]*bill), balance: -1, now: time.Now}
	h.srv = httptest.NewTLSServer(http.HandlerFunc(h.serve))
	t.Cleanup(func() {
		h.srv.Close()
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, p := range h.problems {
			t.Errorf("bill host: %s", p)
		}
	})
	return h
}

func (h *billHost) answer(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (h *billHost) serve(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer bill-host-merchant" {
		h.problems = append(h.problems, "a request without the merchant's credentials")
		h.answer(w, http.StatusUnauthorized, map[string]string{"code": "SIGN_ERROR"})
		return
	}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/bills":
		h.creates.Add(1)
		var req bill
		dec := json.NewDecoder(io.LimitReader(r.Body, 4096))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil || len(req.OutBillNo) == 0 || len(req.OutBillNo) > 32 ||
			req.OpenID == "" || req.Amount < 10 || utf8.RuneCountInString(req.Remark) > 32 {
			h.problems = append(h.problems, fmt.Sprintf("a malformed create: %+v %v", req, err))
			h.answer(w, http.StatusBadRequest, map[string]string{"code": "PARAM_ERROR"})
			return
		}
		if b, ok := h.bills[req.OutBillNo]; ok {
			if b.OpenID != req.OpenID || b.Amount != req.Amount {
				h.answer(w, http.StatusBadRequest, map[string]string{"code": "INVALID_REQUEST",
					"message": "单号已存在但信息不一致"})
				return
			}
			h.answer(w, http.StatusOK, b)
			return
		}
		if h.balance >= 0 && h.balance < req.Amount {
			h.answer(w, http.StatusForbidden, map[string]string{"code": "NOT_ENOUGH"})
			return
		}
		if h.balance >= 0 {
			h.balance -= req.Amount
		}
		pkg := make([]byte, 16)
		_, _ = rand.Read(pkg)
		req.State, req.PackageInfo = "WAIT_USER_CONFIRM", "pkg-"+hex.EncodeToString(pkg)
		req.CreateTime = h.now().Format(time.RFC3339)
		h.bills[req.OutBillNo] = &req
		h.answer(w, http.StatusOK, req)
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/bills/"):
		h.queries.Add(1)
		b, ok := h.bills[strings.TrimPrefix(r.URL.Path, "/bills/")]
		if !ok {
			h.answer(w, http.StatusNotFound, map[string]string{"code": "NOT_FOUND"})
			return
		}
		q := *b
		q.PackageInfo = "" // a query never gives the package
		h.answer(w, http.StatusOK, q)
	default:
		h.problems = append(h.problems, "an unexpected "+r.Method+" "+r.URL.Path)
		h.answer(w, http.StatusNotFound, map[string]string{"code": "NOT_FOUND"})
	}
}

// settle sets the state of a bill, as the user or the platform would.
func (h *billHost) settle(t *testing.T, outBillNo, state, reason string) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	b, ok := h.bills[outBillNo]
	if !ok {
		t.Fatalf("no bill %s", outBillNo)
	}
	b.State, b.FailReason = state, reason
	if state != "WAIT_USER_CONFIRM" {
		b.PackageInfo = ""
	}
}

func (h *billHost) billsOf(openID string) []bill {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []bill
	for _, b := range h.bills {
		if b.OpenID == openID {
			out = append(out, *b)
		}
	}
	return out
}

// billRail is the second rail: a client of billHost.
type billRail struct {
	host *billHost
	hc   *http.Client
}

func (r *billRail) Name() string { return "bills:1900000109" }

func (r *billRail) Billno(grantKey, openID string, attempt int) (string, error) {
	if grantKey == "" || openID == "" || attempt < 0 {
		return "", errors.New("bills: a grant key, an openid and an attempt are required")
	}
	sum := sha256.Sum256(fmt.Appendf(nil, "bills\x00%d:%s\x00%d:%s\x00%d", len(grantKey), grantKey, len(openID), openID, attempt))
	return "B" + hex.EncodeToString(sum[:])[:31], nil
}

func (r *billRail) Check(p rail.Payout) error {
	if p.Amount < 10 || utf8.RuneCountInString(p.Wishing) > 32 {
		return &rail.Error{State: rail.Invalid, Err: fmt.Errorf("bills: amount %d or transfer_remark %q out of bounds", p.Amount, p.Wishing)}
	}
	return nil
}

func (r *billRail) call(ctx context.Context, method, path string, body any) (int, bill, string, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, r.host.srv.URL+path, rd)
	if err != nil {
		return 0, bill{}, "", err
	}
	req.Header.Set("Authorization", "Bearer bill-host-merchant")
	res, err := r.hc.Do(req)
	if err != nil {
		return 0, bill{}, "", &rail.Error{State: rail.Unknown, Err: err}
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var b bill
	var e struct{ Code string }
	if res.StatusCode == http.StatusOK {
		err = json.Unmarshal(raw, &b)
	} else {
		err = json.Unmarshal(raw, &e)
	}
	if err != nil {
		return 0, bill{}, "", &rail.Error{State: rail.Unknown, Err: err}
	}
	return res.StatusCode, b, e.Code, nil
}

func (r *billRail) Send(ctx context.Context, billno, openID string, p rail.Payout) (rail.Sent, error) {
	if err := r.Check(p); err != nil {
		return rail.Sent{}, err
	}
	status, b, code, err := r.call(ctx, http.MethodPost, "/bills", bill{OutBillNo: billno, OpenID: openID, Amount: p.Amount, Remark: p.Wishing})
	if err != nil {
		return rail.Sent{}, err
	}
	fail := func(s rail.State) (rail.Sent, error) {
		return rail.Sent{}, &rail.Error{State: s, Billno: billno, Code: code, Err: fmt.Errorf("bills: %s: %d %s %s", billno, status, code, b.State)}
	}
	switch {
	case status == http.StatusForbidden && code == "NOT_ENOUGH":
		return fail(rail.RefusedMerchant)
	case status == http.StatusBadRequest && code == "INVALID_REQUEST":
		return fail(rail.Conflict)
	case status != http.StatusOK:
		return fail(rail.Unrecognized)
	case b.State == "WAIT_USER_CONFIRM" && b.PackageInfo != "":
		at, _ := time.Parse(time.RFC3339, b.CreateTime)
		return rail.Sent{Answer: b.PackageInfo, Order: "T" + billno, At: at}, nil
	case b.State == "SUCCESS":
		return fail(rail.Paid)
	case b.State == "FAIL" && b.FailReason == "OVERDUE_CLOSE":
		return fail(rail.Returned)
	case b.State == "FAIL":
		return fail(rail.Closed)
	}
	return fail(rail.Unknown)
}

func (r *billRail) Query(ctx context.Context, billno string) (rail.Bill, error) {
	status, b, code, err := r.call(ctx, http.MethodGet, "/bills/"+billno, nil)
	switch {
	case err != nil:
		return rail.Bill{}, err
	case status == http.StatusNotFound:
		return rail.Bill{State: rail.NotFound, Status: code}, nil
	case status != http.StatusOK:
		return rail.Bill{}, &rail.Error{State: rail.Unknown, Billno: billno, Code: code}
	}
	out := rail.Bill{Status: b.State, Reason: b.FailReason, Payout: rail.Payout{Amount: b.Amount, Wishing: b.Remark}}
	out.At, _ = time.Parse(time.RFC3339, b.CreateTime)
	switch b.State {
	case "ACCEPTED", "PROCESSING", "TRANSFERING", "CANCELING":
		out.State = rail.Pending
	case "WAIT_USER_CONFIRM":
		out.State = rail.Waiting
	case "SUCCESS":
		out.State = rail.Paid
	case "FAIL":
		out.State = rail.Closed
		if b.FailReason == "OVERDUE_CLOSE" {
			out.State = rail.Returned
		}
	case "CANCELLED":
		out.State = rail.Cancelled
	}
	return out, nil
}

func (r *billRail) AppendAnswer(dst []byte, material string) ([]byte, error) {
	if material == "" {
		return dst, errors.New("bills: no package_info")
	}
	q, err := json.Marshal(material)
	if err != nil {
		return dst, err
	}
	dst = append(dst, `{"mchId":"1900000109","appId":"wxbills","package":`...)
	return append(append(dst, q...), '}'), nil
}

// billEnv is the claim route paying through billRail, on a real server.
type billEnv struct {
	host  *billHost
	rail  *billRail
	srv   *httptest.Server
	h     *Handler
	store *store.MemoryStore
	clock *clock
	token string
	grant Grant
}

func newBillEnv(t *testing.T, mod func(*HandlerConfig)) *billEnv {
	t.Helper()
	e := &billEnv{host: startBillHost(t), store: store.NewMemoryStore(), clock: &clock{}}
	e.host.now = e.clock.Now // the platform's clock is the handler's
	e.rail = &billRail{host: e.host, hc: e.host.srv.Client()}
	e.grant = Grant{Key: "autumn-2026", Payout: rail.Payout{Amount: 88, SendName: "商店", Wishing: "中秋快乐",
		ActName: "中秋", Remark: "谢谢"}}
	auth := newAuth(t, nil)
	cfg := HandlerConfig{
		Rail:      e.rail,
		Policy:    PolicyFunc(func(context.Context, jwtauth.User, []byte) (Grant, error) { return e.grant, nil }),
		Store:     e.store,
		RateLimit: -1,
		Now:       e.clock.Now,
	}
	if mod != nil {
		mod(&cfg)
	}
	var err error
	if e.h, err = NewHandler(cfg); err != nil {
		t.Fatal(err)
	}
	// A capped campaign's account is opened at its first configuration.
	for _, c := range e.h.Campaigns() {
		if _, err := e.h.OpenBudget(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	mux := http.NewServeMux()
	Mount(mux, sendPath, auth, e.h)
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	e.token = tokenFor(t, testOpenID)
	return e
}

func (e *billEnv) tap(t *testing.T) response {
	t.Helper()
	res, err := post(context.Background(), e.srv.URL+sendPath, e.token, `{"scene": 1047}`)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func (e *billEnv) billno(t *testing.T, attempt int) string {
	t.Helper()
	b, err := e.rail.Billno(e.grant.Key, testOpenID, attempt)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkAnswer checks a 200 whose package is the bill's package_info.
func (e *billEnv) checkAnswer(t *testing.T, res response, billno string) {
	t.Helper()
	if res.status != http.StatusOK {
		t.Fatalf("status %d: %s", res.status, res.body)
	}
	var got map[string]string
	if err := json.Unmarshal([]byte(res.body), &got); err != nil || len(got) != 3 {
		t.Fatalf("answer %s: %v", res.body, err)
	}
	e.host.mu.Lock()
	b := e.host.bills[billno]
	e.host.mu.Unlock()
	if b == nil || got["package"] == "" || got["package"] != b.PackageInfo || got["mchId"] != "1900000109" {
		t.Fatalf("answer %s, bill %+v", res.body, b)
	}
	r, ok, _ := e.store.Result(context.Background(), billno)
	if !ok || r.Rail != e.rail.Name() || r.Package != b.PackageInfo || r.SendListID != "T"+billno || r.Amount != e.grant.Amount {
		t.Fatalf("stored %+v", r)
	}
}

func TestSecondRailPaysAndRepeats(t *testing.T) {
	e := newBillEnv(t, nil)
	billno := e.billno(t, 0)
	e.checkAnswer(t, e.tap(t), billno)
	creates, queries := e.host.creates.Load(), e.host.queries.Load()
	if creates != 1 || queries != 1 { // a fresh grant asks first
		t.Fatalf("%d creates, %d queries", creates, queries)
	}
	// Repeat taps answer the stored package, without the platform.
	for range 3 {
		e.checkAnswer(t, e.tap(t), billno)
	}
	if e.host.creates.Load() != creates || e.host.queries.Load() != queries {
		t.Fatal("a repeat tap called the platform")
	}
	if n := len(e.host.billsOf(testOpenID)); n != 1 {
		t.Fatalf("%d bills", n)
	}
}

// NOT_ENOUGH keeps the number: taps wait for the merchant's probe time
// (503 with Retry-After, nothing sent); after the top-up, the probe sends
// the same number, which pays.
func TestSecondRailMerchantRefusal(t *testing.T) {
	e := newBillEnv(t, nil)
	e.host.balance = 0
	checkError(t, e.tap(t), http.StatusServiceUnavailable, "merchant_unavailable", true)
	creates := e.host.creates.Load()
	checkError(t, e.tap(t), http.StatusServiceUnavailable, "merchant_unavailable", true)
	if n := e.host.creates.Load(); n != creates {
		t.Fatalf("%d sends within the probe time", n-creates)
	}
	e.host.mu.Lock()
	e.host.balance = 1000
	e.host.mu.Unlock()
	e.clock.Advance(DefaultMerchantProbe)
	e.checkAnswer(t, e.tap(t), e.billno(t, 0))
	if bills := e.host.billsOf(testOpenID); len(bills) != 1 || bills[0].OutBillNo != e.billno(t, 0) {
		t.Fatalf("bills %+v", bills)
	}
}

// A bill the user never confirmed closes OVERDUE_CLOSE: Returned. With
// re-claims the next tap pays the next number; without, 410.
func TestSecondRailOverdueClose(t *testing.T) {
	for _, reclaim := range []bool{true, false} {
		t.Run(fmt.Sprint("reclaim=", reclaim), func(t *testing.T) {
			e := newBillEnv(t, nil)
			e.grant.Reclaim = reclaim
			first := e.billno(t, 0)
			e.checkAnswer(t, e.tap(t), first)
			e.host.settle(t, first, "FAIL", "OVERDUE_CLOSE")
			e.clock.Advance(25 * time.Hour)
			if !reclaim {
				checkError(t, e.tap(t), http.StatusGone, "claim_window_expired", false)
				return
			}
			second := e.billno(t, 1)
			e.checkAnswer(t, e.tap(t), second)
			if r, _, _ := e.store.Result(context.Background(), first); r.Closed != rail.Returned {
				t.Fatalf("the first number: %+v", r)
			}
			if n := len(e.host.billsOf(testOpenID)); n != 2 {
				t.Fatalf("%d bills", n)
			}
		})
	}
}

// Records lost: the platform's state decides. A bill already confirmed
// (SUCCESS, no package_info to give) is answered already_received and the
// budget counts it; a FAIL bill moves on to the next number; a CANCELLED
// one without re-claims is 410.
func TestSecondRailRecordsLost(t *testing.T) {
	budgets := map[string]store.Budget{"autumn-2026": {Fen: 1000}}
	e := newBillEnv(t, func(c *HandlerConfig) { c.Budgets = budgets })
	first := e.billno(t, 0)
	e.checkAnswer(t, e.tap(t), first)
	e.host.settle(t, first, "SUCCESS", "")

	lost := func(t *testing.T) *billEnv {
		t.Helper()
		f := newBillEnv(t, func(c *HandlerConfig) { c.Budgets = budgets })
		f.host, f.rail.host, f.rail.hc = e.host, e.host, e.host.srv.Client()
		return f
	}
	f := lost(t)
	checkError(t, f.tap(t), http.StatusGone, "already_received", false)
	if r, ok, _ := f.store.Result(context.Background(), first); !ok || r.Closed != rail.Paid || r.Rail != f.rail.Name() {
		t.Fatalf("stored %+v", r)
	}
	if st, _, _ := f.h.Budget(context.Background(), "autumn-2026"); st.CommittedFen != 88 || st.ReservedFen != 0 {
		t.Fatalf("budget %+v", st)
	}
	creates := e.host.creates.Load()
	checkError(t, f.tap(t), http.StatusGone, "already_received", false)
	if e.host.creates.Load() != creates {
		t.Fatal("a tap on a received payout called the platform")
	}

	e.host.settle(t, first, "FAIL", "")
	g := lost(t)
	g.checkAnswer(t, g.tap(t), e.billno(t, 1))

	e.host.settle(t, e.billno(t, 1), "CANCELLED", "")
	h := lost(t)
	checkError(t, h.tap(t), http.StatusGone, "claim_window_expired", false)
}

// The same number with other terms is a conflict: the platform's terms
// are read back and sent, and the user gets the payout that exists.
func TestSecondRailConflict(t *testing.T) {
	e := newBillEnv(t, nil)
	first := e.billno(t, 0)
	e.checkAnswer(t, e.tap(t), first)
	// Another replica whose Store lost the result and holds other terms.
	f := newBillEnv(t, nil)
	f.host, f.rail.host, f.rail.hc = e.host, e.host, e.host.srv.Client()
	other := store.Terms{Payout: f.grant.Payout, DecidedAt: time.Now()}
	other.Amount = 99
	if _, _, err := f.store.AddTerms(context.Background(), first, other, time.Hour); err != nil {
		t.Fatal(err)
	}
	f.checkAnswer(t, f.tap(t), first)
	terms, _, _ := f.store.AddTerms(context.Background(), first, store.Terms{}, time.Hour)
	if terms.Amount != 88 || !terms.Recovered {
		t.Fatalf("terms %+v", terms)
	}
	if n := len(e.host.billsOf(testOpenID)); n != 1 {
		t.Fatalf("%d bills", n)
	}
}
