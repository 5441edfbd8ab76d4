package claim

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/hongbao-go/hongbao/middleware/jwtauth"
	"github.com/hongbao-go/hongbao/store"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

// randomPolicy grants each user a random amount in [100, 300] of the
// campaign "spring" (a stable draw per user).
func randomPolicy(t *testing.T) Policy {
	return PolicyFunc(func(_ context.Context, u jwtauth.User, _ []byte) (Grant, error) {
		g := testGrant()
		g.Key = "spring"
		a, err := RandomAmount([]byte("budget-test-secret-16"), g.Key, u.OpenID, 100, 300)
		if err != nil {
			t.Error(err)
		}
		g.Amount = a
		return g, nil
	})
}

// hostPaid sums what the host paid (accepted sends) to the openids.
func hostPaid(host *wxpaytest.Server, openIDs []string) (fen int64, packets int) {
	for _, o := range openIDs {
		for _, p := range host.PacketsOf(o) {
			if p.ErrCode == "" && p.Status != wxpaytest.StatusFailed {
				fen += p.Amount
				packets++
			}
		}
	}
	return fen, packets
}

// budgetBurst: users tap at once, alternating between two replicas
// sharing a Store; it returns the statuses and codes.
func budgetBurst(t *testing.T, e *hbEnv, srvs []string, users []string) map[string]int {
	t.Helper()
	var mu sync.Mutex
	got := map[string]int{}
	var wg sync.WaitGroup
	for i, u := range users {
		wg.Go(func() {
			res, err := post(context.Background(), srvs[i%len(srvs)]+sendPath, e.tokenFor(t, u), "")
			if err != nil {
				t.Error(err)
				return
			}
			key := fmt.Sprint(res.status)
			if res.status != http.StatusOK {
				key += " " + errorCode(res.body)
			}
			mu.Lock()
			got[key]++
			mu.Unlock()
		})
	}
	wg.Wait()
	return got
}

func users(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("oBudgetUser%017d", i)
	}
	return out
}

func TestBudgetPacketsAcrossReplicas(t *testing.T) {
	shared := store.NewMemoryStore()
	budgets := map[string]store.Budget{"spring": {Packets: 10}}
	e := newEnv(t, wxpaytest.Options{}, func(c *HandlerConfig) {
		c.Store, c.Policy, c.Budgets = shared, randomPolicy(t), budgets
	})
	other, _ := e.replica(t, func(c *HandlerConfig) { c.Store, c.Policy, c.Budgets = shared, randomPolicy(t), budgets })
	us := users(50)
	got := budgetBurst(t, e, []string{e.srv.URL, other.URL}, us)
	if got["200"] != 10 || got["403 budget_exhausted"] != 40 {
		t.Fatalf("answers %v, want 10 paid and 40 budget_exhausted", got)
	}
	fen, packets := hostPaid(e.host, us)
	st, ok, err := e.handler.Budget(context.Background(), "spring")
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if packets != 10 || st.CommittedPackets != 10 || st.CommittedFen != fen || st.ReservedFen != 0 || st.ReservedPackets != 0 {
		t.Errorf("host paid %d packets, %d fen; account %+v", packets, fen, st)
	}
	if st.RemainingPackets() != 0 || st.RemainingFen() != -1 {
		t.Errorf("remaining %d packets, %d fen", st.RemainingPackets(), st.RemainingFen())
	}
	// Users already granted keep getting their packet; a repeat tap
	// reserves nothing.
	again := budgetBurst(t, e, []string{e.srv.URL, other.URL}, us)
	if again["200"] != 10 {
		t.Errorf("repeat taps: %v", again)
	}
	if st2, _, _ := e.handler.Budget(context.Background(), "spring"); st2 != st {
		t.Errorf("repeat taps changed the account: %+v, then %+v", st, st2)
	}
}

func TestBudgetMoney(t *testing.T) {
	const budget = 2000
	e := newEnv(t, wxpaytest.Options{}, func(c *HandlerConfig) {
		c.Policy, c.Budgets = randomPolicy(t), map[string]store.Budget{"spring": {Fen: budget}}
	})
	us := users(30)
	got := budgetBurst(t, e, []string{e.srv.URL}, us)
	fen, packets := hostPaid(e.host, us)
	if fen > budget {
		t.Fatalf("the host paid %d fen of a %d budget", fen, budget)
	}
	if budget-fen >= 300 {
		t.Errorf("%d fen left unpaid, more than the largest grant (300); answers %v", budget-fen, got)
	}
	if got["200"] != packets || got["403 budget_exhausted"] != len(us)-packets {
		t.Errorf("answers %v, %d paid", got, packets)
	}
	st, _, _ := e.handler.Budget(context.Background(), "spring")
	if st.CommittedFen != fen || st.ReservedFen != 0 || st.RemainingFen() != budget-fen {
		t.Errorf("account %+v, host paid %d", st, fen)
	}
}

// TestBudgetFollowsTheLifecycle: an unknown outcome keeps the amount
// reserved until it is resolved; NOTENOUGH followed by FAILED releases it;
// a crash between the reservation and the send is settled by the next tap
// without double counting; a refund (re-claims off) gives the money back.
func TestBudgetFollowsTheLifecycle(t *testing.T) {
	budgets := map[string]store.Budget{"spring-2026": {Fen: 1000, Packets: 5}}
	account := func(t *testing.T, h *Handler) store.BudgetState {
		t.Helper()
		st, _, err := h.Budget(context.Background(), "spring-2026")
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	t.Run("unknown outcome", func(t *testing.T) {
		e := newEnv(t, wxpaytest.Options{}, func(c *HandlerConfig) { c.Budgets = budgets })
		e.host.Inject(wxpaytest.Fault{ErrCode: "SYSTEMERROR", Times: testAttempts, Match: onSend})
		checkError(t, e.tap(t, e.token, ""), http.StatusServiceUnavailable, "outcome_unknown", true)
		if st := account(t, e.handler); st.ReservedFen != 100 || st.ReservedPackets != 1 || st.CommittedPackets != 0 {
			t.Fatalf("after an unknown outcome: %+v", st)
		}
		e.checkParams(t, e.tap(t, e.token, ""), e.billno(t, "spring-2026", testOpenID))
		if st := account(t, e.handler); st.ReservedFen != 0 || st.CommittedFen != 100 || st.CommittedPackets != 1 {
			t.Fatalf("after the payout: %+v", st)
		}
	})
	t.Run("NOTENOUGH then FAILED", func(t *testing.T) {
		e := newEnv(t, wxpaytest.Options{Balance: 50}, func(c *HandlerConfig) { c.Budgets = budgets })
		checkError(t, e.tap(t, e.token, ""), http.StatusServiceUnavailable, "merchant_unavailable", false)
		if st := account(t, e.handler); st.ReservedFen != 100 {
			t.Fatalf("after NOTENOUGH: %+v", st)
		}
		// The second refusal is asked about: FAILED closes the number.
		e.tap(t, e.token, "")
		if st := account(t, e.handler); st.ReservedFen != 0 || st.ReservedPackets != 0 || st.CommittedFen != 0 {
			t.Fatalf("after FAILED: %+v", st)
		}
	})
	t.Run("crash between reservation and send", func(t *testing.T) {
		shared := store.NewMemoryStore()
		e := newEnv(t, wxpaytest.Options{}, func(c *HandlerConfig) { c.Budgets, c.Store = budgets, shared })
		billno := e.billno(t, "spring-2026", testOpenID)
		// What a replica that died after reserving left behind.
		ctx := context.Background()
		if _, _, err := shared.AddTerms(ctx, billno, store.Terms{Payout: testGrant().Payout, DecidedAt: time.Now()}, time.Hour); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := shared.Budget(ctx, "spring-2026", store.BudgetOp{Step: store.BudgetReserve, Billno: billno, Amount: 100, Limit: budgets["spring-2026"]}); !ok || err != nil {
			t.Fatal(ok, err)
		}
		e.checkParams(t, e.tap(t, e.token, ""), billno)
		if st := account(t, e.handler); st.ReservedFen != 0 || st.CommittedFen != 100 || st.CommittedPackets != 1 {
			t.Fatalf("after the restart's tap: %+v", st)
		}
	})
	t.Run("refund gives the money back", func(t *testing.T) {
		clk := &clock{}
		e := newEnv(t, wxpaytest.Options{Now: clk.Now}, func(c *HandlerConfig) { c.Budgets, c.Now = budgets, clk.Now })
		billno := e.billno(t, "spring-2026", testOpenID)
		e.checkParams(t, e.tap(t, e.token, ""), billno)
		clk.Advance(25 * time.Hour)
		if err := e.host.MarkRefunded(billno); err != nil {
			t.Fatal(err)
		}
		checkError(t, e.tap(t, e.token, ""), http.StatusGone, "claim_window_expired", false)
		if st := account(t, e.handler); st.CommittedFen != 0 || st.ReservedFen != 0 {
			t.Fatalf("after the refund: %+v", st)
		}
		// And it stays given back: no second payout, no second release.
		checkError(t, e.tap(t, e.token, ""), http.StatusGone, "claim_window_expired", false)
		if st := account(t, e.handler); st.CommittedFen != 0 || st.ReservedFen != 0 {
			t.Fatalf("after a later tap: %+v", st)
		}
	})
	t.Run("store down", func(t *testing.T) {
		e := newEnv(t, wxpaytest.Options{}, func(c *HandlerConfig) { c.Budgets, c.Store = budgets, &failingStore{} })
		checkError(t, e.tap(t, e.token, ""), http.StatusServiceUnavailable, "budget_unavailable", true)
		if n := len(e.sendRequests()); n != 0 {
			t.Errorf("%d sends without a budget", n)
		}
	})
}

func TestBudgetConfig(t *testing.T) {
	host := wxpaytest.Start(t, wxpaytest.Options{})
	for _, b := range []map[string]store.Budget{{"": {Packets: 1}}, {"x": {}}, {"x": {Fen: -1, Packets: 2}}} {
		if _, err := NewHandler(HandlerConfig{Client: newTestClient(t, host, nil), Policy: PolicyFunc(grantTest), Budgets: b}); err == nil {
			t.Errorf("Budgets %v accepted", b)
		}
	}
}

func grantTest(context.Context, jwtauth.User, []byte) (Grant, error) { return testGrant(), nil }

// errorCode returns the code of a JSON error body.
func errorCode(body string) string {
	var v struct{ Code string }
	_ = json.Unmarshal([]byte(body), &v)
	return v.Code
}
