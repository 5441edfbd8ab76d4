package claim

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hongbao-go/hongbao/rail"
	"github.com/hongbao-go/hongbao/signer"
	"github.com/hongbao-go/hongbao/store"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

// These tests walk the paths on which a user used to be stranded, or a
// budget overrun: a late success answered 410, an outage or a daily limit
// using up the attempts, a lost account, a commit of the reserved amount,
// a reservation left behind, a lowered MaxAttempts, recovered terms that
// cannot be sent.

// splitStore keeps a grant's records (terms, results) apart from the rest
// (budget accounts, locks, counters), so that a test can lose the records
// alone, as when the Redis master that held them fails over to a replica
// that lagged, or lose everything, as a flushed Redis.
type splitStore struct {
	records atomic.Pointer[store.MemoryStore]
	rest    atomic.Pointer[store.MemoryStore]
}

func newSplitStore() *splitStore {
	s := &splitStore{}
	s.records.Store(store.NewMemoryStore())
	s.rest.Store(store.NewMemoryStore())
	return s
}

// forgetRecords drops every term and result.
func (s *splitStore) forgetRecords() { s.records.Store(store.NewMemoryStore()) }

// flush drops everything.
func (s *splitStore) flush() {
	s.records.Store(store.NewMemoryStore())
	s.rest.Store(store.NewMemoryStore())
}

func (s *splitStore) AddTerms(ctx context.Context, k string, t store.Terms, ttl time.Duration) (store.Terms, bool, error) {
	return s.records.Load().AddTerms(ctx, k, t, ttl)
}

func (s *splitStore) SaveTerms(ctx context.Context, k string, t store.Terms, ttl time.Duration) error {
	return s.records.Load().SaveTerms(ctx, k, t, ttl)
}

func (s *splitStore) Result(ctx context.Context, b string) (store.Result, bool, error) {
	return s.records.Load().Result(ctx, b)
}

func (s *splitStore) SaveResult(ctx context.Context, b string, r store.Result, ttl time.Duration) error {
	return s.records.Load().SaveResult(ctx, b, r, ttl)
}

func (s *splitStore) TryLock(ctx context.Context, k string, ttl time.Duration) (func(), bool, error) {
	return s.rest.Load().TryLock(ctx, k, ttl)
}

func (s *splitStore) Budget(ctx context.Context, c string, op store.BudgetOp) (store.BudgetState, bool, error) {
	return s.rest.Load().Budget(ctx, c, op)
}

func (s *splitStore) Allow(ctx context.Context, k string, l int, w time.Duration) (bool, time.Duration, error) {
	return s.rest.Load().Allow(ctx, k, l, w)
}

// packageOf returns the raw package of a 200 answer.
func packageOf(t testing.TB, res response) string {
	t.Helper()
	var p signer.BizRedPacket
	if err := json.Unmarshal([]byte(res.body), &p); err != nil || p.Package == "" {
		t.Fatalf("no package in %d %s", res.status, res.body)
	}
	return p.Package
}

// TestLateSuccessIsFresh (a late success was answered 410): the first tap
// is refused; 25 hours later a tap is paid; it and every tap within 24
// hours of that send answer 200 with the package, on a restarted replica
// too; after 24 hours the platform's window is over.
func TestLateSuccessIsFresh(t *testing.T) {
	cases := []struct {
		name string
		host wxpaytest.Options
		// refuse makes the first tap fail; settle removes the cause.
		refuse func(e *hbEnv)
		settle func(e *hbEnv)
		status int
		code   string
	}{
		{"PARAM_ERROR", wxpaytest.Options{},
			func(e *hbEnv) { e.host.Inject(wxpaytest.Fault{ErrCode: "PARAM_ERROR", Match: onSend}) },
			func(*hbEnv) {}, http.StatusBadGateway, "platform_rejected"},
		{"NOTENOUGH recorded", wxpaytest.Options{Balance: 50},
			func(*hbEnv) {}, func(e *hbEnv) { e.host.TopUp(1000) }, http.StatusServiceUnavailable, "merchant_unavailable"},
		{"NOTENOUGH forgotten", wxpaytest.Options{Balance: 50, NotEnough: wxpaytest.NotEnoughForgotten},
			func(*hbEnv) {}, func(e *hbEnv) { e.host.TopUp(1000) }, http.StatusServiceUnavailable, "merchant_unavailable"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clk := &clock{}
			c.host.Now = clk.Now
			shared := store.NewMemoryStore()
			cfg := func(h *HandlerConfig) { h.Now, h.Store = clk.Now, shared }
			e := newEnv(t, c.host, cfg)
			c.refuse(e)
			res := e.tap(t, e.token, "")
			if res.status != c.status || errorCode(res.body) != c.code {
				t.Fatalf("first tap: %d %s, want %d %s", res.status, res.body, c.status, c.code)
			}
			clk.Advance(25 * time.Hour)
			c.settle(e)
			res = e.tap(t, e.token, "")
			billno := paidOrFail(t, e.host, testOpenID)
			e.checkParams(t, res, billno)
			pkg := packageOf(t, res)
			clk.Advance(23 * time.Hour)
			restarted, _ := e.replica(t, cfg)
			for _, srv := range []string{e.srv.URL, restarted.URL} {
				res, err := post(context.Background(), srv+sendPath, e.token, "")
				if err != nil {
					t.Fatal(err)
				}
				e.checkParams(t, res, billno)
				if got := packageOf(t, res); got != pkg {
					t.Errorf("another package within the window: %s, first %s", got, pkg)
				}
			}
			clk.Advance(90 * time.Minute)
			checkError(t, e.tap(t, e.token, ""), http.StatusGone, "claim_window_expired", false)
			if got := paidOf(e.host, testOpenID); len(got) != 1 {
				t.Errorf("paid numbers %v", got)
			}
		})
	}
}

// TestOutageKeepsTheGrant (an outage used up a user's attempts): a user
// alone taps every 5 seconds through a 10-minute NOTENOUGH outage the
// platform records as FAILED; after the top-up the user is paid, once,
// and is never told the attempts are exhausted.
func TestOutageKeepsTheGrant(t *testing.T) {
	clk := &clock{}
	e := newEnv(t, wxpaytest.Options{Now: clk.Now, Balance: 50}, func(c *HandlerConfig) {
		c.Now = clk.Now
		// Short, so that a probe time also passes on the real clock
		// between taps.
		c.MerchantProbe = 300 * time.Millisecond
	})
	taps := 0
	tap := func() response {
		time.Sleep(10 * time.Millisecond)
		clk.Advance(5 * time.Second)
		taps++
		res := e.tap(t, e.token, "")
		if res.status == http.StatusGone {
			t.Fatalf("tap %d, %v into the outage: %d %s", taps, time.Duration(taps)*5*time.Second, res.status, res.body)
		}
		return res
	}
	for range 120 {
		if res := tap(); res.status == http.StatusOK {
			t.Fatalf("paid without money: %s", res.body)
		}
	}
	e.host.TopUp(1000)
	paid := false
	for i := 0; i < 600 && !paid; i++ {
		paid = tap().status == http.StatusOK
	}
	if !paid {
		t.Fatal("never paid after the top-up")
	}
	if got := paidOf(e.host, testOpenID); len(got) != 1 {
		t.Errorf("paid numbers %v", got)
	}
	t.Logf("paid %v after the top-up (%d taps in all); %d numbers used", time.Duration(taps-120)*5*time.Second, taps, len(e.sentNumbers()))
}

// nextBeijingDay is the first moment of the next calendar day in Beijing.
func nextBeijingDay(now time.Time) time.Time {
	y, m, d := now.In(beijingTime).Date()
	return time.Date(y, m, d+1, 0, 0, 0, 0, beijingTime)
}

var beijingTime = time.FixedZone("CST", 8*3600)

// TestDailyLimitKeepsTheGrant (a daily limit used up the attempts in a
// second): a user at the daily limit taps 20 times in a minute; the next
// day one tap pays, once, whichever way the platform records the refusal.
func TestDailyLimitKeepsTheGrant(t *testing.T) {
	for _, mode := range []wxpaytest.NotEnoughMode{wxpaytest.NotEnoughFailed, wxpaytest.NotEnoughForgotten} {
		t.Run(mode.String(), func(t *testing.T) {
			clk := &clock{}
			e := newEnv(t, wxpaytest.Options{Now: clk.Now, UserLimits: wxpaytest.UserLimits{Count: 1, Refusals: mode}},
				func(c *HandlerConfig) { c.Now = clk.Now })
			// The user's packet of the day, from another campaign.
			other := testGrant()
			other.Key = "autumn-2026"
			e.grant.Store(&other)
			e.checkParams(t, e.tap(t, e.token, ""), e.billno(t, other.Key, testOpenID))
			g := testGrant()
			e.grant.Store(&g)
			for range 20 {
				clk.Advance(3 * time.Second)
				res := e.tap(t, e.token, "")
				if res.status != http.StatusForbidden || errorCode(res.body) != "user_limit_reached" {
					t.Fatalf("a tap at the limit: %d %s", res.status, res.body)
				}
			}
			clk.Advance(nextBeijingDay(clk.Now()).Sub(clk.Now()) + time.Hour)
			res := e.tap(t, e.token, "")
			nums := e.attempts(t, g.Key, testOpenID, 3)
			var paid []string
			for _, p := range paidOf(e.host, testOpenID) {
				if p != e.billno(t, other.Key, testOpenID) {
					paid = append(paid, p)
				}
			}
			if len(paid) != 1 {
				t.Fatalf("paid numbers of the grant %v; the tap: %d %s", paid, res.status, res.body)
			}
			e.checkParams(t, res, paid[0])
			if sent := e.sentNumbers(); sent[nums[2]] {
				t.Errorf("the grant used 3 numbers: %v", sent)
			}
		})
	}
}

// TestFlushedBudgetIsNotAFreshCount (a flushed Store forgot the budget):
// with a cap of one packet, one user is paid and the Store is flushed;
// another user's taps are refused (budget_unavailable) instead of paid
// from a fresh count, on a restarted replica too, until the account is
// rebuilt from the platform; then the cap holds. The user paid before
// gets the package the platform holds, which pays nothing new.
func TestFlushedBudgetIsNotAFreshCount(t *testing.T) {
	ss := newSplitStore()
	budgets := map[string]store.Budget{"spring-2026": {Packets: 1}}
	cfg := func(c *HandlerConfig) { c.Store, c.Budgets = ss, budgets }
	e := newEnv(t, wxpaytest.Options{}, cfg)
	first := e.billno(t, "spring-2026", testOpenID)
	e.checkParams(t, e.tap(t, e.token, ""), first)
	ss.flush()
	second := "oSecondUser0000000000000000x"
	restarted, _ := e.replica(t, cfg)
	for _, srv := range []*httptest.Server{e.srv, restarted} {
		checkError(t, e.tapOn(t, srv, e.tokenFor(t, second), ""), http.StatusServiceUnavailable, "budget_unavailable", true)
		e.checkParams(t, e.tapOn(t, srv, e.token, ""), first)
	}
	if got := paidOf(e.host, second); len(got) != 0 {
		t.Errorf("paid beyond the cap: %v", got)
	}
	if !strings.Contains(e.logs.String(), "budget account lost") {
		t.Error("the loss is not logged")
	}
	// Opening it again would be a fresh count; the rebuild counts what
	// the platform paid.
	rep, err := store.RebuildBudget(context.Background(), store.RebuildConfig{
		Platform: e.client.Rail(), Store: ss, Campaign: "spring-2026",
		Grants: []store.RebuildGrant{{Key: "spring-2026", OpenID: testOpenID}, {Key: "spring-2026", OpenID: second}},
	})
	if err != nil || rep.Committed != 1 || !rep.State.Open || rep.State.CommittedPackets != 1 {
		t.Fatalf("rebuild: %+v, %v", rep, err)
	}
	checkError(t, e.tapOn(t, restarted, e.tokenFor(t, second), ""), http.StatusForbidden, "budget_exhausted", false)
	e.checkParams(t, e.tap(t, e.token, ""), first)
	if got := paidOf(e.host, second); len(got) != 0 {
		t.Errorf("paid beyond the cap: %v", got)
	}
	// An account opened again after the loss is younger than the grants
	// it did not count: their new numbers are refused, not paid again.
	ss.flush()
	if _, err := e.handler.OpenBudget(context.Background(), "spring-2026"); err != nil {
		t.Fatal(err)
	}
	old := "oOldUser00000000000000000000"
	_, _, _ = ss.AddTerms(context.Background(), e.billno(t, "spring-2026", old), store.Terms{Payout: rail.Payout{Amount: 100, SendName: "s", Wishing: "w",
		ActName: "a", Remark: "r"}, DecidedAt: time.Now().Add(-time.Hour), Key: "spring-2026", OpenID: old}, time.Hour)
	checkError(t, e.tap(t, e.tokenFor(t, old), ""), http.StatusServiceUnavailable, "budget_unavailable", true)
}

// TestCommitThePaidAmount (the account committed the reserved amount): a
// packet of 300 fen is paid but its reply lost; the grant's records are
// lost and the amount edited to 100; the FATAL_ERROR recovery pays the 300
// fen packet and the account commits 300.
func TestCommitThePaidAmount(t *testing.T) {
	ss := newSplitStore()
	budgets := map[string]store.Budget{"spring-2026": {Fen: 10000}}
	e := newEnv(t, wxpaytest.Options{}, func(c *HandlerConfig) { c.Store, c.Budgets = ss, budgets })
	g := testGrant()
	g.Amount = 300
	e.grant.Store(&g)
	billno := e.billno(t, g.Key, testOpenID)
	e.host.Inject(wxpaytest.Fault{DropAfter: true, Times: testAttempts, Match: onSend})
	checkError(t, e.tap(t, e.token, ""), http.StatusServiceUnavailable, "outcome_unknown", true)
	ss.forgetRecords()
	g.Amount = 100
	e.grant.Store(&g)
	// gethbinfo does not answer before the send: the send meets FATAL_ERROR.
	e.host.Inject(wxpaytest.Fault{ErrCode: "SYSTEMERROR", Times: testAttempts,
		Match: func(path string, _ map[string]string) bool { return path == wxpaytest.PathGetHBInfo }})
	e.checkParams(t, e.tap(t, e.token, ""), billno)
	st, _, err := e.handler.Budget(context.Background(), "spring-2026")
	if err != nil {
		t.Fatal(err)
	}
	if st.CommittedFen != 300 || st.CommittedPackets != 1 || st.ReservedFen != 0 {
		t.Errorf("the account %+v; the platform paid 300 fen", st)
	}
}

// hookStore runs a hook before the first reservation of one bill number.
type hookStore struct {
	*store.MemoryStore
	billno string
	hook   func()
	done   atomic.Bool
}

func (s *hookStore) Budget(ctx context.Context, c string, op store.BudgetOp) (store.BudgetState, bool, error) {
	if op.Step == store.BudgetReserve && op.Billno == s.billno && !s.done.Swap(true) {
		s.hook()
	}
	return s.MemoryStore.Budget(ctx, c, op)
}

// TestClosedUnderTheLockReleases (a reservation leaked): another replica
// closes a number between this tap's lookup and its reservation; the tap
// finds it closed under the lock and moves on; nothing stays reserved.
func TestClosedUnderTheLockReleases(t *testing.T) {
	budgets := map[string]store.Budget{"spring-2026": {Packets: 5}}
	var hs *hookStore
	hs = &hookStore{MemoryStore: store.NewMemoryStore()}
	e := newEnv(t, wxpaytest.Options{}, func(c *HandlerConfig) { c.Store, c.Budgets = hs, budgets })
	nums := e.attempts(t, "spring-2026", testOpenID, 2)
	// Attempt 0 fails and the platform records it FAILED; the query
	// after it does not answer, so the number is not known closed.
	var queries atomic.Int32
	e.host.Inject(wxpaytest.Fault{ErrCode: "SEND_FAILED", Record: true, Match: onSend})
	e.host.Inject(wxpaytest.Fault{ErrCode: "SYSTEMERROR", Times: testAttempts, Match: func(path string, _ map[string]string) bool {
		return path == wxpaytest.PathGetHBInfo && queries.Add(1) > 1
	}})
	checkError(t, e.tap(t, e.token, ""), http.StatusBadGateway, "send_failed", false)
	// The next tap: between its lookup of attempt 0 and the reservation,
	// another replica learns attempt 0 closed, records it and releases it.
	hs.billno = nums[0]
	hs.hook = func() {
		ctx := context.Background()
		_ = hs.MemoryStore.SaveResult(ctx, nums[0], store.Result{Billno: nums[0], OpenID: testOpenID, Amount: 100,
			Closed: rail.Closed, At: time.Now()}, time.Hour)
		_, _, _ = hs.MemoryStore.Budget(ctx, "spring-2026", store.BudgetOp{Step: store.BudgetRelease, Billno: nums[0], Limit: budgets["spring-2026"]})
	}
	e.checkParams(t, e.tap(t, e.token, ""), nums[1])
	if !hs.done.Load() {
		t.Fatal("the hook did not run")
	}
	st, _, _ := e.handler.Budget(context.Background(), "spring-2026")
	if st.ReservedPackets != 0 || st.ReservedFen != 0 || st.CommittedPackets != 1 {
		t.Errorf("the account %+v: attempt 0's reservation stayed", st)
	}
}

// TestLoweredMaxAttemptsFindsThePaidGrant (lowering MaxAttempts stranded
// a paid grant): a grant paid on attempt 1 is answered its package by a
// handler configured with MaxAttempts 1, with its records and without.
func TestLoweredMaxAttemptsFindsThePaidGrant(t *testing.T) {
	shared := store.NewMemoryStore()
	e := newEnv(t, wxpaytest.Options{}, func(c *HandlerConfig) { c.Store = shared })
	nums := e.attempts(t, "spring-2026", testOpenID, 3)
	e.host.Inject(wxpaytest.Fault{ErrCode: "SEND_FAILED", Record: true, Match: onSend})
	e.checkParams(t, e.tap(t, e.token, ""), nums[1])
	lowered := func(c *HandlerConfig) { c.MaxAttempts = 1 }
	for name, st := range map[string]store.Store{"same Store": shared, "records lost": store.NewMemoryStore()} {
		t.Run(name, func(t *testing.T) {
			srv, _ := e.replica(t, func(c *HandlerConfig) { lowered(c); c.Store = st })
			e.checkParams(t, e.tapOn(t, srv, e.token, ""), nums[1])
			if _, ok := e.host.Packet(nums[2]); ok {
				t.Error("a new number was sent")
			}
		})
	}
	// A grant with its one attempt closed gets no new number.
	other := "oOtherUser000000000000000000"
	e.host.Inject(wxpaytest.Fault{ErrCode: "SEND_FAILED", Record: true, Match: onSend})
	srv, _ := e.replica(t, func(c *HandlerConfig) { lowered(c); c.Store = shared })
	res := e.tapOn(t, srv, e.tokenFor(t, other), "")
	checkError(t, res, http.StatusGone, "attempts_exhausted", false)
}

// TestRecoveredTermsThatCannotBeSent (recovered terms were silently
// replaced): the platform holds a 30,000-fen packet whose scene_id the
// grant no longer has; a handler without the records answers a clear
// error naming the field, logs it, and never sends other terms.
func TestRecoveredTermsThatCannotBeSent(t *testing.T) {
	e := newEnv(t, wxpaytest.Options{}, nil)
	g := testGrant()
	g.Amount, g.Scene = 30000, "PRODUCT_1"
	e.grant.Store(&g)
	billno := e.billno(t, g.Key, testOpenID)
	e.checkParams(t, e.tap(t, e.token, ""), billno)
	edited := testGrant() // 100 fen, no scene_id
	e.grant.Store(&edited)
	srv, _ := e.replica(t, func(c *HandlerConfig) { c.Logger = e.handler.log })
	before := len(e.sendRequests())
	res := e.tapOn(t, srv, e.token, "")
	checkError(t, res, http.StatusInternalServerError, "recovered_terms_invalid", false)
	if n := len(e.sendRequests()); n != before {
		t.Errorf("%d sends of other terms", n-before)
	}
	if !strings.Contains(e.logs.String(), "scene_id") {
		t.Error("the log does not name scene_id")
	}
}

// TestLostReplyDatesFromTheLostSend: a send pays but its reply is lost;
// the tap 23 hours later gets the package with the time of the send that
// paid (gethbinfo's send_time), so its window closes 24 hours after that
// send, not after the resend. When gethbinfo cannot say at once, the
// window is checked with it before a 410.
func TestLostReplyDatesFromTheLostSend(t *testing.T) {
	for _, queryFails := range []bool{false, true} {
		t.Run(map[bool]string{false: "gethbinfo answers", true: "gethbinfo fails at first"}[queryFails], func(t *testing.T) {
			clk := &clock{}
			e := newEnv(t, wxpaytest.Options{Now: clk.Now}, func(c *HandlerConfig) { c.Now = clk.Now })
			billno := e.billno(t, "spring-2026", testOpenID)
			e.host.Inject(wxpaytest.Fault{DropAfter: true, Times: testAttempts, Match: onSend})
			checkError(t, e.tap(t, e.token, ""), http.StatusServiceUnavailable, "outcome_unknown", true)
			paid, ok := e.host.Packet(billno)
			if !ok {
				t.Fatal("the host did not pay")
			}
			clk.Advance(23 * time.Hour)
			if queryFails {
				e.host.Inject(wxpaytest.Fault{ErrCode: "SYSTEMERROR", Times: testAttempts,
					Match: func(path string, _ map[string]string) bool { return path == wxpaytest.PathGetHBInfo }})
			}
			e.checkParams(t, e.tap(t, e.token, ""), billno)
			r, _, _ := e.store.Result(context.Background(), billno)
			if r.PaidAt.After(paid.SentAt) || r.Exact == queryFails {
				t.Errorf("PaidAt %v (exact %v); the packet was sent at %v", r.PaidAt, r.Exact, paid.SentAt)
			}
			clk.Advance(30 * time.Minute)
			e.checkParams(t, e.tap(t, e.token, ""), billno)
			clk.Advance(time.Hour)
			checkError(t, e.tap(t, e.token, ""), http.StatusGone, "claim_window_expired", false)
			if r, _, _ := e.store.Result(context.Background(), billno); !r.Exact || r.PaidAt.Unix() != paid.SentAt.Unix() {
				t.Errorf("after the window: PaidAt %v (exact %v), sent at %v", r.PaidAt, r.Exact, paid.SentAt)
			}
		})
	}
}
