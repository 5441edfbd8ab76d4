package claim

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hongbao-go/hongbao/middleware/jwtauth"
	"github.com/hongbao-go/hongbao/rail"
	"github.com/hongbao-go/hongbao/store"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

// clock is a test clock shared by the fake platform and the handlers.
type clock struct {
	offset atomic.Int64
	mark   atomic.Int64 // offset at the last tick of since
}

func (c *clock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// since returns how far the clock was advanced since the first call.
func (c *clock) since() time.Duration {
	c.mark.CompareAndSwap(0, -1)
	return time.Duration(c.offset.Load())
}

// drawPolicy draws a new random amount in [100, 500] on every call, as a
// careless random-amount policy would.
func drawPolicy(draws *atomic.Int64) Policy {
	return PolicyFunc(func(context.Context, jwtauth.User, []byte) (Grant, error) {
		g := testGrant()
		g.Amount = 100 + (draws.Add(1)*137)%401
		return g, nil
	})
}

// replica mounts a new handler (a new process: an empty memory) on e's host
// and client.
func (e *hbEnv) replica(t *testing.T, mod func(*HandlerConfig)) (*httptest.Server, *Handler) {
	t.Helper()
	cfg := HandlerConfig{
		SceneOptional: true,
		Client:        e.client,
		Policy:        PolicyFunc(func(context.Context, jwtauth.User, []byte) (Grant, error) { return *e.grant.Load(), nil }),
		RateLimit:     -1,
	}
	if mod != nil {
		mod(&cfg)
	}
	return e.mount(t, cfg)
}

// paidNumbers returns the bill numbers the host holds for openID that paid
// (any status but FAILED).
func paidNumbers(host *wxpaytest.Server, billnos ...string) []string {
	var out []string
	for _, b := range billnos {
		if p, ok := host.Packet(b); ok && p.Status != wxpaytest.StatusFailed {
			out = append(out, b)
		}
	}
	return out
}

// attempts returns the first n bill numbers of the test grant for openID.
func (e *hbEnv) attempts(t testing.TB, key, openID string, n int) []string {
	t.Helper()
	out := make([]string, n)
	for i := range out {
		b, err := e.client.AttemptBillno(key, openID, i)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = b
	}
	return out
}

// sentNumbers returns the distinct bill numbers sent to the host.
func (e *hbEnv) sentNumbers() map[string]bool {
	out := map[string]bool{}
	for _, r := range e.sendRequests() {
		out[r.Params["mch_billno"]] = true
	}
	return out
}

// TestRandomAmountReplyLostThenRestart: the first tap's reply is lost after
// the host paid a random amount; a new process with an empty memory, whose
// policy draws another amount, hands out the package that was paid.
func TestRandomAmountReplyLostThenRestart(t *testing.T) {
	var draws atomic.Int64
	e := newEnv(t, wxpaytest.Options{}, func(c *HandlerConfig) { c.Policy = drawPolicy(&draws) })
	billno := e.billno(t, "spring-2026", testOpenID)
	e.host.Inject(wxpaytest.Fault{DropAfter: true, Times: testAttempts, Match: onSend})
	checkError(t, e.tap(t, e.token, ""), http.StatusServiceUnavailable, "outcome_unknown", true)
	paid, ok := e.host.Packet(billno)
	if !ok {
		t.Fatal("the host did not pay the first tap")
	}

	for _, name := range []string{"gethbinfo answers", "gethbinfo fails: FATAL_ERROR recovers"} {
		t.Run(name, func(t *testing.T) {
			srv, _ := e.replica(t, func(c *HandlerConfig) { c.Policy = drawPolicy(&draws) })
			if strings.HasPrefix(name, "gethbinfo fails") {
				e.host.Inject(wxpaytest.Fault{ErrCode: "SYSTEMERROR", Times: testAttempts,
					Match: func(path string, _ map[string]string) bool { return path == wxpaytest.PathGetHBInfo }})
			}
			p := e.checkParams(t, e.tapOn(t, srv, e.token, `{}`), billno)
			if p.Package == "" {
				t.Fatal("no package")
			}
			if got, _ := e.host.Packet(billno); got.Amount != paid.Amount || got.SendListID != paid.SendListID {
				t.Errorf("host packet %+v, first paid %+v", got, paid)
			}
			if n := paidNumbers(e.host, e.attempts(t, "spring-2026", testOpenID, 3)...); len(n) != 1 {
				t.Errorf("paid numbers %v", n)
			}
		})
	}
	if draws.Load() < 3 {
		t.Fatalf("the policy drew %d times", draws.Load())
	}
}

// TestTermsRecordedBeforeTheFirstSend: with the Store kept, later taps pay
// the first amount drawn, on every replica sharing the Store.
func TestTermsRecordedBeforeTheFirstSend(t *testing.T) {
	var draws atomic.Int64
	shared := store.NewMemoryStore()
	e := newEnv(t, wxpaytest.Options{}, func(c *HandlerConfig) { c.Policy = drawPolicy(&draws); c.Store = shared })
	billno := e.billno(t, "spring-2026", testOpenID)
	e.host.Inject(wxpaytest.Fault{ErrCode: "SYSTEMERROR", Times: testAttempts, Match: onSend})
	checkError(t, e.tap(t, e.token, ""), http.StatusServiceUnavailable, "outcome_unknown", true)
	terms, added, err := shared.AddTerms(context.Background(), billno, store.Terms{Payout: rail.Payout{Amount: 1}}, time.Hour)
	if err != nil || added {
		t.Fatalf("terms not recorded before the send: %+v %v %v", terms, added, err)
	}
	srv, _ := e.replica(t, func(c *HandlerConfig) { c.Policy = drawPolicy(&draws); c.Store = shared })
	e.checkParams(t, e.tapOn(t, srv, e.token, ""), billno)
	if p, _ := e.host.Packet(billno); p.Amount != terms.Amount {
		t.Errorf("paid %d fen, first terms %d", p.Amount, terms.Amount)
	}
	for _, r := range e.sendRequests() {
		if r.Params["total_amount"] != strconv.FormatInt(terms.Amount, 10) {
			t.Errorf("a send for %s fen", r.Params["total_amount"])
		}
	}
}

// TestNeverMovesOnWithoutProof: an unknown err_code, an unreadable reply and
// a refusal whose number gethbinfo does not know never move the grant to a
// new bill number, however often the user taps.
func TestNeverMovesOnWithoutProof(t *testing.T) {
	for name, f := range map[string]wxpaytest.Fault{
		"unknown err_code":       {ErrCode: "SOMETHING_NEW", Times: 100},
		"unreadable reply":       {Garbage: true, Times: 100},
		"refused, NOT_FOUND":     {ErrCode: "NOTENOUGH", Times: 100},
		"SEND_FAILED, NOT_FOUND": {ErrCode: "SEND_FAILED", Times: 100},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, wxpaytest.Options{}, nil)
			billno := e.billno(t, "spring-2026", testOpenID)
			f.Match = onSend
			e.host.Inject(f)
			for range 4 {
				if res := e.tap(t, e.token, ""); res.status == http.StatusOK {
					t.Fatalf("paid: %s", res.body)
				}
			}
			if got := e.sentNumbers(); len(got) != 1 || !got[billno] {
				t.Errorf("sent numbers %v, want only %s", got, billno)
			}
		})
	}
}

// TestOutageCallsNothingBetweenProbes: after a merchant refusal, taps
// within the probe time call nothing at the platform (503 with the time
// left as Retry-After); then one tap resends the number, and a refusal
// the platform did not record is asked about once and pushes the next
// probe back.
func TestOutageCallsNothingBetweenProbes(t *testing.T) {
	clk := &clock{}
	e := newEnv(t, wxpaytest.Options{Now: clk.Now}, func(c *HandlerConfig) { c.Now = clk.Now })
	e.host.Inject(wxpaytest.Fault{ErrCode: "NOTENOUGH", Times: 100, Match: onSend})
	calls := func() (sends, queries int) {
		for _, r := range e.host.Requests() {
			if r.Path == wxpaytest.PathGetHBInfo {
				queries++
			} else {
				sends++
			}
		}
		return sends, queries
	}
	checkError(t, e.tap(t, e.token, ""), http.StatusServiceUnavailable, "merchant_unavailable", true)
	// One query before the first send (a new grant); the first refusal
	// is not asked about.
	if s, q := calls(); s != 1 || q != 1 {
		t.Errorf("%d sends and %d queries after the first refusal, want 1 and 1", s, q)
	}
	for range 4 {
		clk.Advance(5 * time.Second)
		res := e.tap(t, e.token, "")
		checkError(t, res, http.StatusServiceUnavailable, "merchant_unavailable", true)
		if left := DefaultMerchantProbe - clk.since(); res.header.Get("Retry-After") != retryAfterSeconds(left) {
			t.Errorf("Retry-After %s, want %s", res.header.Get("Retry-After"), retryAfterSeconds(left))
		}
	}
	if s, q := calls(); s != 1 || q != 1 {
		t.Errorf("%d sends and %d queries within the probe time", s, q)
	}
	clk.Advance(DefaultMerchantProbe)
	res := e.tap(t, e.token, "")
	checkError(t, res, http.StatusServiceUnavailable, "merchant_unavailable", true)
	if s, q := calls(); s != 2 || q != 2 {
		t.Errorf("%d sends and %d queries after the probe, want 2 and 2", s, q)
	}
	// The probe was refused: the next one waits twice as long.
	if v := res.header.Get("Retry-After"); v != retryAfterSeconds(2*DefaultMerchantProbe) {
		t.Errorf("Retry-After after a refused probe %s", v)
	}
}

// TestReclaimAfterRefund: a packet refunded unopened is paid again under the
// grant's next number when the grant allows re-claims, and answered 410
// otherwise; the window follows the platform's send time.
func TestReclaimAfterRefund(t *testing.T) {
	for _, reclaim := range []bool{true, false} {
		t.Run(map[bool]string{true: "on", false: "off"}[reclaim], func(t *testing.T) {
			clk := &clock{}
			e := newEnv(t, wxpaytest.Options{Now: clk.Now}, func(c *HandlerConfig) { c.Now = clk.Now })
			g := testGrant()
			g.Reclaim = reclaim
			e.grant.Store(&g)
			nums := e.attempts(t, g.Key, testOpenID, 3)
			e.checkParams(t, e.tap(t, e.token, ""), nums[0])
			clk.Advance(25 * time.Hour)
			if err := e.host.MarkRefunded(nums[0]); err != nil {
				t.Fatal(err)
			}
			// A new process too: it must learn the refund, not hand the
			// refunded package out as fresh.
			srv, _ := e.replica(t, func(c *HandlerConfig) { c.Now = clk.Now })
			for _, s := range []*httptest.Server{e.srv, srv} {
				res := e.tapOn(t, s, e.token, "")
				if !reclaim {
					checkError(t, res, http.StatusGone, "claim_window_expired", false)
					continue
				}
				e.checkParams(t, res, nums[1])
			}
			if reclaim {
				if n := paidNumbers(e.host, nums...); len(n) != 2 {
					t.Errorf("paid numbers %v", n)
				}
			} else if _, ok := e.host.Packet(nums[1]); ok {
				t.Error("a second number was paid without re-claims")
			}
		})
	}
}

// TestProcessingFailedThenBound: every attempt the platform fails moves the
// grant on, up to MaxAttempts; then the tap says so.
func TestProcessingFailedThenBound(t *testing.T) {
	e := newEnv(t, wxpaytest.Options{}, func(c *HandlerConfig) { c.MaxAttempts = 2 })
	nums := e.attempts(t, "spring-2026", testOpenID, 3)
	e.host.Inject(wxpaytest.Fault{ErrCode: "PROCESSING", Times: 2, Match: onSend})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
			for _, b := range nums {
				if p, ok := e.host.Packet(b); ok && p.Status == wxpaytest.StatusSending {
					_ = e.host.SetStatus(b, wxpaytest.StatusFailed)
				}
			}
		}
	}()
	res := e.tap(t, e.token, "")
	close(stop)
	wg.Wait()
	checkError(t, res, http.StatusGone, "attempts_exhausted", false)
	if _, ok := e.host.Packet(nums[2]); ok {
		t.Error("a third number was sent")
	}
	// The bound holds on later taps, without calling the platform.
	before := len(e.host.Requests())
	checkError(t, e.tap(t, e.token, ""), http.StatusGone, "attempts_exhausted", false)
	if n := len(e.host.Requests()); n != before {
		t.Errorf("%d platform calls after the bound", n-before)
	}
}

// TestSceneGate: a claim from a launch scene that cannot open red packets,
// or naming none, is refused before anything is paid.
func TestSceneGate(t *testing.T) {
	// newEnv opts out (SceneOptional); required is the default.
	required := func(c *HandlerConfig) { c.SceneOptional = false }
	cases := []struct {
		name    string
		mod     func(*HandlerConfig)
		body    string
		status  int
		code    string
		reached bool
	}{
		{"QR code", nil, `{"scene": 1011}`, 200, "", true},
		{"mini-program code", nil, `{"scene":1047}`, 200, "", true},
		{"no scene", required, `{}`, 400, "scene_required", false},
		{"no body", required, ``, 400, "scene_required", false},
		{"null scene", required, `{"scene": null}`, 400, "scene_required", false},
		{"optional, missing", nil, `{}`, 200, "", true},
		{"optional, no body", nil, ``, 200, "", true},
		{"chat", nil, `{"scene": 1001}`, 403, "scene_not_supported", false},
		{"string scene", nil, `{"scene": "1047"}`, 400, "malformed_body", false},
		{"fraction", nil, `{"scene": 1047.5}`, 400, "malformed_body", false},
		{"optional but required", func(c *HandlerConfig) { c.RequireScene = true }, `{}`, 400, "scene_required", false},
		{"custom set", func(c *HandlerConfig) { c.Scenes = []int{1001} }, `{"scene": 1001}`, 200, "", true},
		{"custom set refuses the default", func(c *HandlerConfig) { c.Scenes = []int{1001} }, `{"scene": 1047}`, 403, "scene_not_supported", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var called atomic.Bool
			e := newEnv(t, wxpaytest.Options{}, func(cfg *HandlerConfig) {
				cfg.Policy = PolicyFunc(func(context.Context, jwtauth.User, []byte) (Grant, error) {
					called.Store(true)
					return testGrant(), nil
				})
				if c.mod != nil {
					c.mod(cfg)
				}
			})
			res := e.tap(t, e.token, c.body)
			if c.status == 200 {
				e.checkParams(t, res, e.billno(t, "spring-2026", testOpenID))
			} else {
				checkError(t, res, c.status, c.code, false)
				if n := len(e.host.Requests()); n != 0 {
					t.Errorf("%d platform calls", n)
				}
			}
			if called.Load() != c.reached {
				t.Errorf("policy called: %v", called.Load())
			}
		})
	}
}

// flakyStore is a shared Store that fails every call while down.
type flakyStore struct {
	*store.MemoryStore
	down atomic.Bool
}

func (f *flakyStore) fail() error {
	if f.down.Load() {
		return errStoreDown
	}
	return nil
}

func (f *flakyStore) AddTerms(ctx context.Context, k string, t store.Terms, ttl time.Duration) (store.Terms, bool, error) {
	if err := f.fail(); err != nil {
		return store.Terms{}, false, err
	}
	return f.MemoryStore.AddTerms(ctx, k, t, ttl)
}

func (f *flakyStore) SaveTerms(ctx context.Context, k string, t store.Terms, ttl time.Duration) error {
	if err := f.fail(); err != nil {
		return err
	}
	return f.MemoryStore.SaveTerms(ctx, k, t, ttl)
}

func (f *flakyStore) Budget(ctx context.Context, c string, op store.BudgetOp) (store.BudgetState, bool, error) {
	if err := f.fail(); err != nil {
		return store.BudgetState{}, false, err
	}
	return f.MemoryStore.Budget(ctx, c, op)
}

func (f *flakyStore) Result(ctx context.Context, b string) (store.Result, bool, error) {
	if err := f.fail(); err != nil {
		return store.Result{}, false, err
	}
	return f.MemoryStore.Result(ctx, b)
}

func (f *flakyStore) SaveResult(ctx context.Context, b string, r store.Result, ttl time.Duration) error {
	if err := f.fail(); err != nil {
		return err
	}
	return f.MemoryStore.SaveResult(ctx, b, r, ttl)
}

func (f *flakyStore) TryLock(ctx context.Context, k string, ttl time.Duration) (func(), bool, error) {
	if err := f.fail(); err != nil {
		return nil, false, err
	}
	return f.MemoryStore.TryLock(ctx, k, ttl)
}

func (f *flakyStore) Allow(ctx context.Context, k string, l int, w time.Duration) (bool, time.Duration, error) {
	if err := f.fail(); err != nil {
		return false, 0, err
	}
	return f.MemoryStore.Allow(ctx, k, l, w)
}

// TestResultReachesTheStoreWhenItIsBack: a result saved locally while the
// shared Store was down is saved there as soon as it answers again, so
// another replica answers from it without calling the platform.
func TestResultReachesTheStoreWhenItIsBack(t *testing.T) {
	fs := &flakyStore{MemoryStore: store.NewMemoryStore()}
	fs.down.Store(true)
	e := newEnv(t, wxpaytest.Options{}, func(c *HandlerConfig) {
		c.Store = fs
		c.StoreRetryAfter = 20 * time.Millisecond
	})
	billno := e.billno(t, "spring-2026", testOpenID)
	e.checkParams(t, e.tap(t, e.token, ""), billno)
	if _, ok, _ := fs.MemoryStore.Result(context.Background(), billno); ok {
		t.Fatal("saved while down")
	}
	fs.down.Store(false)
	deadline := time.Now().Add(5 * time.Second)
	for {
		r, ok, _ := fs.MemoryStore.Result(context.Background(), billno)
		if ok && r.Paid() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the result never reached the shared Store")
		}
		time.Sleep(5 * time.Millisecond)
	}
	srv, _ := e.replica(t, func(c *HandlerConfig) { c.Store = fs })
	before := len(e.host.Requests())
	e.checkParams(t, e.tapOn(t, srv, e.token, ""), billno)
	if n := len(e.host.Requests()); n != before {
		t.Errorf("%d platform calls by the other replica", n-before)
	}
}

// TestPolicyErrorsAreServerErrors: a failing policy and an invalid grant are
// 500 policy_error and logged.
func TestPolicyErrorsAreServerErrors(t *testing.T) {
	e := newEnv(t, wxpaytest.Options{}, func(c *HandlerConfig) {
		c.Policy = PolicyFunc(func(context.Context, jwtauth.User, []byte) (Grant, error) {
			return Grant{}, errors.New("campaign table unreachable")
		})
	})
	checkError(t, e.tap(t, e.token, ""), http.StatusInternalServerError, "policy_error", false)
	if !strings.Contains(e.logs.String(), "campaign table unreachable") {
		t.Error("the policy's error is not logged")
	}
}

func TestRandomAmount(t *testing.T) {
	secret := []byte("a-secret-of-16-bytes+")
	seen := map[int64]int{}
	for i := range 4000 {
		openID := "o" + strconv.Itoa(i)
		a, err := RandomAmount(secret, "spring", openID, 100, 109)
		if err != nil {
			t.Fatal(err)
		}
		if a < 100 || a > 109 {
			t.Fatalf("amount %d out of range", a)
		}
		if b, _ := RandomAmount(secret, "spring", openID, 100, 109); b != a {
			t.Fatalf("not deterministic: %d then %d", a, b)
		}
		seen[a]++
	}
	// Uniform: each of the 10 values about 400 times (chi-square with 9
	// degrees of freedom below 27.9, p = 0.001).
	chi := 0.0
	for v := int64(100); v <= 109; v++ {
		d := float64(seen[v]) - 400
		chi += d * d / 400
	}
	if chi > 27.9 {
		t.Errorf("not uniform: %v (chi-square %.1f)", seen, chi)
	}
	a, _ := RandomAmount(secret, "spring", "o1", 1, 1<<40)
	b, _ := RandomAmount([]byte("another-secret-16-bytes"), "spring", "o1", 1, 1<<40)
	c, _ := RandomAmount(secret, "summer", "o1", 1, 1<<40)
	if a == b || a == c {
		t.Error("the secret or the key does not change the draw")
	}
	for _, bad := range []struct {
		secret   []byte
		min, max int64
	}{{[]byte("short"), 1, 2}, {secret, 0, 2}, {secret, 5, 4}, {secret, -1, 4}} {
		if _, err := RandomAmount(bad.secret, "k", "o", bad.min, bad.max); err == nil {
			t.Errorf("RandomAmount(%q, %d, %d) accepted", bad.secret, bad.min, bad.max)
		}
	}
	if v, err := RandomAmount(secret, "k", "o", 7, 7); err != nil || v != 7 {
		t.Errorf("single value range: %d %v", v, err)
	}
}

// testProbe is the tests' HandlerConfig.MerchantProbe; burstProbe is the
// one of the burst tests, which allow a new number per probe time.
const (
	testProbe  = 100 * time.Millisecond
	burstProbe = 3 * time.Second
)

// paidOf returns the bill numbers the host paid (accepted sends) to openID.
func paidOf(host *wxpaytest.Server, openID string) []string {
	var out []string
	for _, p := range host.PacketsOf(openID) {
		if p.ErrCode == "" && p.Status != wxpaytest.StatusFailed {
			out = append(out, p.Billno)
		}
	}
	return out
}

// TestNotEnough: under both ways the platform may treat a NOTENOUGH
// number, a top-up between taps gets the user paid exactly once, with or
// without a restart in between; without a top-up the user is never paid
// and the attempts stop at the bound.
func TestNotEnough(t *testing.T) {
	for _, mode := range []wxpaytest.NotEnoughMode{wxpaytest.NotEnoughFailed, wxpaytest.NotEnoughForgotten} {
		for _, restart := range []bool{false, true} {
			t.Run(mode.String()+map[bool]string{false: "", true: "/restart"}[restart], func(t *testing.T) {
				e := newEnv(t, wxpaytest.Options{Balance: 50, NotEnough: mode}, func(c *HandlerConfig) { c.MerchantProbe = testProbe })
				nums := e.attempts(t, "spring-2026", testOpenID, 4)
				checkError(t, e.tap(t, e.token, ""), http.StatusServiceUnavailable, "merchant_unavailable", true)
				// A second tap before the top-up changes nothing for
				// the user (it may be told when to come back).
				if res := e.tap(t, e.token, ""); res.status != http.StatusServiceUnavailable || !strings.Contains(res.body, "merchant_unavailable") {
					t.Fatalf("second tap: %d %s", res.status, res.body)
				}
				e.host.TopUp(1000)
				srv := e.srv
				if restart {
					srv, _ = e.replica(t, func(c *HandlerConfig) { c.MerchantProbe = testProbe })
				}
				// Sends wait for the probe time after a merchant refusal;
				// a grant whose number the outage closed (NotEnoughFailed)
				// probes with its next number, alone, after a few.
				var res response
				for range 20 {
					time.Sleep(testProbe)
					if res = e.tapOn(t, srv, e.token, ""); res.status == http.StatusOK {
						break
					}
				}
				e.checkParams(t, res, paidOrFail(t, e.host, testOpenID))
				if got := paidOf(e.host, testOpenID); len(got) != 1 {
					t.Fatalf("paid numbers %v", got)
				}
				// Repeat taps keep the one package.
				e.checkParams(t, e.tapOn(t, srv, e.token, ""), paidOrFail(t, e.host, testOpenID))
				if got := paidOf(e.host, testOpenID); len(got) != 1 {
					t.Fatalf("paid numbers after a repeat %v", got)
				}
				if mode == wxpaytest.NotEnoughForgotten && paidOf(e.host, testOpenID)[0] != nums[0] {
					t.Errorf("a forgotten refusal moved the grant to %s", paidOf(e.host, testOpenID)[0])
				}
				if _, ok := e.host.Packet(nums[3]); ok {
					t.Error("beyond the bound")
				}
			})
		}
		t.Run(mode.String()+"/never topped up", func(t *testing.T) {
			// Taps during the outage use at most one new number while the
			// gate holds (a probe time no run of taps can outlast).
			rapid := newEnv(t, wxpaytest.Options{Balance: 50, NotEnough: mode}, func(c *HandlerConfig) { c.MerchantProbe = time.Hour })
			for range 6 {
				if res := rapid.tap(t, rapid.token, ""); res.status == http.StatusOK {
					t.Fatalf("paid without money: %s", res.body)
				}
			}
			if sent := rapid.sentNumbers(); len(sent) > 2 {
				t.Errorf("taps within the probe time sent %d numbers", len(sent))
			}
			// Over many probe times the attempts stop at the bound.
			e := newEnv(t, wxpaytest.Options{Balance: 50, NotEnough: mode}, func(c *HandlerConfig) { c.MerchantProbe = testProbe })
			nums := e.attempts(t, "spring-2026", testOpenID, 4)
			var last response
			for range 12 {
				time.Sleep(testProbe + 50*time.Millisecond)
				last = e.tap(t, e.token, "")
				if last.status == http.StatusOK {
					t.Fatalf("paid without money: %s", last.body)
				}
			}
			sent := e.sentNumbers()
			if sent[nums[3]] || len(sent) > 3 {
				t.Errorf("sent numbers %v, bound 3", sent)
			}
			// The outage never exhausts the grant's attempts.
			checkError(t, last, http.StatusServiceUnavailable, "merchant_unavailable", true)
			if mode == wxpaytest.NotEnoughForgotten && (len(sent) != 1 || !sent[nums[0]]) {
				// NOT_FOUND proves nothing: the grant never moves.
				t.Errorf("sent numbers %v, want only attempt 0", sent)
			}
		})
	}
}

// paidOrFail returns the one number the host paid to openID.
func paidOrFail(t *testing.T, host *wxpaytest.Server, openID string) string {
	t.Helper()
	got := paidOf(host, openID)
	if len(got) != 1 {
		// Not paid yet: checkParams will report the answer.
		return "none"
	}
	return got[0]
}

// TestSendFailedMovesOn: a SEND_FAILED the platform records as FAILED is
// followed, in the same tap, by the grant's next number, which pays.
func TestSendFailedMovesOn(t *testing.T) {
	e := newEnv(t, wxpaytest.Options{}, nil)
	nums := e.attempts(t, "spring-2026", testOpenID, 2)
	e.host.Inject(wxpaytest.Fault{ErrCode: "SEND_FAILED", Record: true, Match: onSend})
	e.checkParams(t, e.tap(t, e.token, ""), nums[1])
	if p, _ := e.host.Packet(nums[0]); p.Status != wxpaytest.StatusFailed || p.ErrCode != "SEND_FAILED" {
		t.Errorf("attempt 0: %+v", p)
	}
	if got := paidOf(e.host, testOpenID); len(got) != 1 || got[0] != nums[1] {
		t.Errorf("paid %v", got)
	}
	// A new process finds the attempt reached from the platform.
	srv, _ := e.replica(t, nil)
	e.checkParams(t, e.tapOn(t, srv, e.token, ""), nums[1])
	if got := paidOf(e.host, testOpenID); len(got) != 1 {
		t.Errorf("paid %v", got)
	}
}

// TestNotEnoughBurstTwoReplicas: bursts of 50 concurrent taps of one user
// across two replicas sharing a Store while the balance is short, then a
// top-up and bursts until paid: one paid number, whichever way the
// platform treats NOTENOUGH, and the outage costs the grant no more than
// the number refused and one probe.
func TestNotEnoughBurstTwoReplicas(t *testing.T) {
	for _, mode := range []wxpaytest.NotEnoughMode{wxpaytest.NotEnoughFailed, wxpaytest.NotEnoughForgotten} {
		t.Run(mode.String(), func(t *testing.T) {
			clk := &clock{}
			shared := store.NewMemoryStore()
			cfg := func(c *HandlerConfig) { c.Store, c.MerchantProbe, c.Now = shared, burstProbe, clk.Now }
			e := newEnv(t, wxpaytest.Options{Balance: 50, NotEnough: mode, Now: clk.Now}, cfg)
			other, _ := e.replica(t, cfg)
			burst := func() (ok int) {
				var wg sync.WaitGroup
				var n atomic.Int32
				for i := range 50 {
					srv := e.srv
					if i%2 == 1 {
						srv = other
					}
					wg.Go(func() {
						res, err := post(context.Background(), srv.URL+sendPath, e.token, "")
						if err != nil {
							t.Error(err)
							return
						}
						if res.status == http.StatusOK {
							n.Add(1)
						}
					})
				}
				wg.Wait()
				return int(n.Load())
			}
			for range 10 {
				if n := burst(); n != 0 {
					t.Fatalf("%d paid answers without money", n)
				}
				clk.Advance(burstProbe)
			}
			e.host.TopUp(1000)
			// Bursts until paid: each answers with a package or a
			// retryable refusal, and the grant is paid once.
			for i := 0; i < 20 && len(paidOf(e.host, testOpenID)) == 0; i++ {
				clk.Advance(burstProbe)
				burst()
			}
			if n := burst(); n != 50 {
				t.Errorf("%d of 50 taps answered 200 after the payout", n)
			}
			if got := paidOf(e.host, testOpenID); len(got) != 1 {
				t.Fatalf("paid numbers %v", got)
			}
			if n := len(e.sentNumbers()); n > 3 {
				t.Errorf("%d bill numbers used for one grant", n)
			}
		})
	}
}
