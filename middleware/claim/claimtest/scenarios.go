package claimtest

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hongbao-go/hongbao/middleware/claim"
	"github.com/hongbao-go/hongbao/rail"
	"github.com/hongbao-go/hongbao/store"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

// onSend matches the calls of sendminiprogramhb; onQuery those of
// gethbinfo.
func onSend(path string, _ map[string]string) bool  { return path == wxpaytest.PathSendMiniProgramHB }
func onQuery(path string, _ map[string]string) bool { return path == wxpaytest.PathGetHBInfo }

// want fails t unless a has the status and code (and a Retry-After when
// retry).
func want(t *testing.T, a answer, status int, code string, retry bool) {
	t.Helper()
	if a.status != status || a.code != code {
		t.Fatalf("answer %s, want %d %s", a, status, code)
	}
	if retry != (a.retryAfter > 0) {
		t.Fatalf("answer %s: Retry-After %d", a, a.retryAfter)
	}
}

// LateSuccess: 25 hours between a refused first tap and the tap that
// pays; that tap and every tap within 24 hours of the paid send answer 200
// with the package, on two replicas and a restarted one; then 410.
func LateSuccess(t *testing.T, newBackend func(*testing.T) Backend) {
	cases := []struct {
		name   string
		opts   wxpaytest.Options
		refuse func(*world)
		settle func(*world)
		status int
		code   string
	}{
		{"PARAM_ERROR", wxpaytest.Options{},
			func(w *world) { w.host.Inject(wxpaytest.Fault{ErrCode: "PARAM_ERROR", Match: onSend}) },
			func(*world) {}, http.StatusBadGateway, "platform_rejected"},
		{"NOTENOUGH recorded FAILED", wxpaytest.Options{Balance: 50},
			func(*world) {}, func(w *world) { w.host.TopUp(100_000) }, http.StatusServiceUnavailable, "merchant_unavailable"},
		{"NOTENOUGH not recorded", wxpaytest.Options{Balance: 50, NotEnough: wxpaytest.NotEnoughForgotten},
			func(*world) {}, func(w *world) { w.host.TopUp(100_000) }, http.StatusServiceUnavailable, "merchant_unavailable"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t, newBackend(t), c.opts)
			a, b := w.replica(nil), w.replica(nil)
			const user = "oLateSuccess0000000000000001"
			c.refuse(w)
			first := a.tap(user)
			if first.status != c.status || first.code != c.code {
				t.Fatalf("the first tap: %s, want %d %s", first, c.status, c.code)
			}
			w.clock.Advance(25 * time.Hour)
			c.settle(w)
			res := b.tap(user)
			want(t, res, http.StatusOK, "", false)
			paid := w.paid(user)
			if len(paid) != 1 || res.pkg != encoded(paid[0].Package) {
				t.Fatalf("paid %+v; answered %s", paid, res)
			}
			w.clock.Advance(24*time.Hour - time.Minute)
			restarted := w.replica(nil)
			for _, r := range []*replica{a, b, restarted} {
				if got := r.tap(user); got.status != http.StatusOK || got.pkg != res.pkg {
					t.Fatalf("23h59m after the send: %s", got)
				}
			}
			w.clock.Advance(2 * time.Minute)
			want(t, a.tap(user), http.StatusGone, "claim_window_expired", false)
			if got := w.paid(user); len(got) != 1 {
				t.Errorf("paid %d packets", len(got))
			}
			t.Logf("refused (%s), paid 25h later (%d bill numbers used); 200 with its package on 3 replicas until 23h59m after the send, 410 at 24h01m; 1 packet",
				first.code, len(w.numbers(user)))
		})
	}
}

// MerchantOutage: a 10-minute merchant outage (NOTENOUGH, recorded FAILED
// or not) tapped every 9 seconds by each of 20 users on two replicas (one
// of them restarted midway), then a top-up: every user is paid exactly
// once, and no grant used more than 2 bill numbers.
func MerchantOutage(t *testing.T, newBackend func(*testing.T) Backend) {
	for _, mode := range []wxpaytest.NotEnoughMode{wxpaytest.NotEnoughFailed, wxpaytest.NotEnoughForgotten} {
		t.Run(mode.String(), func(t *testing.T) {
			w := newWorld(t, newBackend(t), wxpaytest.Options{Balance: 50, NotEnough: mode})
			reps := []*replica{w.replica(nil), w.replica(nil)}
			us := users("oOutage", 20)
			const tick = 3 * time.Second
			const outage = 10 * time.Minute
			codes := map[string]int{}
			taps := 0
			for k := 0; time.Duration(k)*tick < outage; k++ {
				var who []int
				for i := range us {
					// Each user from tick i on, every third tick.
					if k >= i && (k-i)%3 == 0 {
						who = append(who, i)
					}
				}
				for _, a := range w.tapAll(reps, us, who, k) {
					if a.status == http.StatusOK {
						t.Fatalf("paid without money: %s", a)
					}
					if a.status != http.StatusServiceUnavailable || a.code != "merchant_unavailable" || a.retryAfter < 1 {
						t.Fatalf("during the outage: %s (Retry-After %d)", a, a.retryAfter)
					}
					codes[a.code]++
					taps++
				}
				if k == 100 {
					reps[1] = w.replica(nil) // a restart
				}
				w.clock.Advance(tick)
			}
			outageSends := len(w.sends())
			w.host.TopUp(1_000_000)
			paidAfter := map[string]time.Duration{}
			start := w.clock.Now()
			all := make([]int, len(us))
			for i := range all {
				all[i] = i
			}
			for k := 0; k < 200 && len(paidAfter) < len(us); k++ {
				for i, a := range w.tapAll(reps, us, all, k) {
					switch {
					case a.status == http.StatusOK:
						if _, ok := paidAfter[us[i]]; !ok {
							paidAfter[us[i]] = w.clock.Now().Sub(start)
						}
					case a.status != http.StatusServiceUnavailable || a.code != "merchant_unavailable":
						t.Fatalf("after the top-up: %s", a)
					}
				}
				w.clock.Advance(tick)
			}
			perGrant := map[int]int{}
			var last time.Duration
			for _, u := range us {
				paid := w.paid(u)
				if len(paid) != 1 {
					t.Errorf("%s was paid %d times", u, len(paid))
					continue
				}
				n := len(w.numbers(u))
				perGrant[n]++
				if n > 2 {
					t.Errorf("%s used %d bill numbers", u, n)
				}
				for _, r := range reps {
					if a := r.tap(u); a.status != http.StatusOK || a.pkg != encoded(paid[0].Package) {
						t.Errorf("%s after the payout: %s", u, a)
					}
				}
				last = max(last, paidAfter[u])
			}
			t.Logf("%s: %d taps in the 10-minute outage, all 503 merchant_unavailable with Retry-After; %d sends reached the platform meanwhile (the probes and the first refusal); after the top-up all %d users paid once within %v; grants by bill numbers used %v",
				mode, taps, outageSends, len(paidAfter), last.Round(time.Second), perGrant)
		})
	}
}

// tapAll taps each of users[who] on replica (i+k)%2, concurrently.
func (w *world) tapAll(reps []*replica, users []string, who []int, k int) []answer {
	out := make([]answer, len(who))
	var wg sync.WaitGroup
	for j, i := range who {
		wg.Go(func() { out[j] = reps[(i+k)%len(reps)].tapOnce(users[i]) })
	}
	wg.Wait()
	for _, a := range out {
		if a.status == 0 {
			w.t.Fatalf("a tap failed: %s", a.body)
		}
	}
	return out
}

// sends returns the host's records of sendminiprogramhb calls.
func (w *world) sends() []wxpaytest.Request {
	var out []wxpaytest.Request
	for _, r := range w.host.Requests() {
		if r.Path == wxpaytest.PathSendMiniProgramHB {
			out = append(out, r)
		}
	}
	return out
}

// DailyLimit: a user at the daily limit taps 20 times in a minute, on two
// replicas; the next day (the platform's and the handlers' clock) one tap
// on a restarted replica pays, once, whether the platform recorded the
// refusal FAILED or not.
func DailyLimit(t *testing.T, newBackend func(*testing.T) Backend) {
	for _, mode := range []wxpaytest.NotEnoughMode{wxpaytest.NotEnoughFailed, wxpaytest.NotEnoughForgotten} {
		t.Run(mode.String(), func(t *testing.T) {
			w := newWorld(t, newBackend(t), wxpaytest.Options{UserLimits: wxpaytest.UserLimits{Count: 1, Refusals: mode}})
			a, b := w.replica(nil), w.replica(nil)
			const user = "oDailyLimit00000000000000001"
			// The user's packet of the day, from another campaign.
			w.setGrant(func(g *claim.Grant) { g.Key, g.ActName = "autumn-2026", "秋季红包" })
			want(t, a.tap(user), http.StatusOK, "", false)
			w.setGrant(func(*claim.Grant) {})
			before := len(w.sends())
			for i := range 20 {
				res := []*replica{a, b}[i%2].tap(user)
				want(t, res, http.StatusForbidden, "user_limit_reached", true)
				w.clock.Advance(3 * time.Second)
			}
			limited := len(w.sends()) - before
			y, m, d := w.clock.Now().In(beijing).Date()
			w.clock.Advance(time.Date(y, m, d+1, 1, 0, 0, 0, beijing).Sub(w.clock.Now()))
			res := w.replica(nil).tap(user)
			want(t, res, http.StatusOK, "", false)
			paid := w.paid(user)
			if len(paid) != 1 || res.pkg != encoded(paid[0].Package) {
				t.Fatalf("paid %+v, answered %s", paid, res)
			}
			if n := len(w.numbers(user)); n > 2 {
				t.Errorf("the grant used %d bill numbers", n)
			}
			if again := b.tap(user); again.pkg != res.pkg {
				t.Errorf("a repeat tap: %s", again)
			}
			t.Logf("%s: 20 taps at the limit, all 403 user_limit_reached with Retry-After until midnight in Beijing, %d of them reached the platform; the next day 1 tap paid, 1 packet, %d bill numbers used",
				mode, limited, len(w.numbers(user)))
		})
	}
}

var beijing = time.FixedZone("CST", 8*3600)

// FlushedBudget: a campaign capped at 5 packets pays 3 users, then the
// Store is flushed mid-campaign: no payout beyond the cap, new users'
// taps answer 503 budget_unavailable on every replica (a restarted one
// too) until the account is rebuilt from the platform; after it, exactly 5
// are paid in all.
func FlushedBudget(t *testing.T, newBackend func(*testing.T) Backend) {
	const capPackets = 5
	w := newWorld(t, newBackend(t), wxpaytest.Options{})
	cfg := func(c *claim.HandlerConfig) { c.Budgets = map[string]store.Budget{campaign: {Packets: capPackets}} }
	a, b := w.replica(cfg), w.replica(cfg)
	// The campaign's first configuration opens its account.
	if _, err := a.handler.OpenBudget(context.Background(), campaign); err != nil {
		t.Fatal(err)
	}
	us := users("oBudget", 12)
	for _, u := range us[:3] {
		want(t, a.tap(u), http.StatusOK, "", false)
	}
	w.b.Flush(t)
	restarted := w.replica(cfg)
	reps := []*replica{a, b, restarted}
	refused := 0
	for round := range 2 {
		for i, u := range us[3:] {
			want(t, reps[(i+round)%3].tap(u), http.StatusServiceUnavailable, "budget_unavailable", true)
			refused++
		}
	}
	// Users paid before the loss get the package the platform holds:
	// nothing new is paid.
	for i, u := range us[:3] {
		want(t, reps[i%3].tap(u), http.StatusOK, "", false)
	}
	if n := w.paidTotal(us); n != 3 {
		t.Fatalf("%d paid before the rebuild", n)
	}
	if !strings.Contains(w.logs.String(), "budget account lost") {
		t.Error("the loss is not logged")
	}
	w.rebuild(us, false)
	st := a.account()
	if !st.Open || st.CommittedPackets != 3 || st.ReservedPackets != 0 {
		t.Fatalf("the rebuilt account: %+v", st)
	}
	codes := map[string]int{}
	for i, u := range us[3:] {
		res := reps[i%3].tap(u)
		codes[fmt.Sprint(res.status, " ", res.code)]++
	}
	if n := w.paidTotal(us); n != capPackets || codes["200 "] != capPackets-3 || codes["403 budget_exhausted"] != len(us)-capPackets {
		t.Fatalf("%d paid in all, cap %d; answers after the rebuild %v", n, capPackets, codes)
	}
	if st := b.account(); st.CommittedPackets != capPackets || st.ReservedPackets != 0 {
		t.Errorf("the account %+v", st)
	}
	t.Logf("cap %d packets: 3 paid, the Store flushed; %d taps of new users answered 503 budget_unavailable and paid nothing; the rebuild committed 3; then %v: %d paid in all",
		capPackets, refused, codes, w.paidTotal(us))
}

// LostAccount: a campaign capped at 4 packets has paid 3 users and a
// fourth whose reply was lost (reserved, and paid by the platform); its
// account alone is lost (the grants' records stay, as after a failover of
// the node that held it). New users are refused until the account is
// rebuilt from the grants the Store still holds; then the cap holds: 4
// paid in all, and the user whose reply was lost gets the package.
func LostAccount(t *testing.T, newBackend func(*testing.T) Backend) {
	const capPackets = 4
	w := newWorld(t, newBackend(t), wxpaytest.Options{})
	cfg := func(c *claim.HandlerConfig) { c.Budgets = map[string]store.Budget{campaign: {Packets: capPackets}} }
	a, b := w.replica(cfg), w.replica(cfg)
	if _, err := a.handler.OpenBudget(context.Background(), campaign); err != nil {
		t.Fatal(err)
	}
	us := users("oLostAccount", 8)
	for _, u := range us[:3] {
		want(t, a.tap(u), http.StatusOK, "", false)
	}
	w.host.Inject(wxpaytest.Fault{DropAfter: true, Times: 3, Match: onSend})
	want(t, b.tap(us[3]), http.StatusServiceUnavailable, "outcome_unknown", true)
	if st := a.account(); st.CommittedPackets != 3 || st.ReservedPackets != 1 {
		t.Fatalf("before the loss: %+v", st)
	}
	w.b.ForgetBudgets(t)
	for i, u := range us[4:] {
		want(t, []*replica{a, b}[i%2].tap(u), http.StatusServiceUnavailable, "budget_unavailable", true)
	}
	w.rebuild(us, true)
	st := b.account()
	if !st.Open || st.CommittedPackets != 4 || st.ReservedPackets != 0 {
		t.Fatalf("the rebuilt account: %+v", st)
	}
	for i, u := range us[4:] {
		want(t, []*replica{a, b}[i%2].tap(u), http.StatusForbidden, "budget_exhausted", false)
	}
	want(t, a.tap(us[3]), http.StatusOK, "", false)
	if n := w.paidTotal(us); n != capPackets {
		t.Fatalf("%d paid in all, cap %d", n, capPackets)
	}
	t.Logf("cap %d packets: 3 paid and 1 reply lost, the account lost; new users refused; rebuilt from the platform: %d committed; then 4 of 4 new users budget_exhausted, %d paid in all",
		capPackets, st.CommittedPackets, w.paidTotal(us))
}

// paidTotal counts the packets paid to openids.
func (w *world) paidTotal(openids []string) int {
	n := 0
	for _, o := range openids {
		n += len(w.paid(o))
	}
	return n
}

// FatalRecoveryCommitsThePaidAmount: a 300-fen packet is paid but its
// reply lost; the grant's records are lost (the account stays) and the
// amount is edited to 100; a restarted replica meets FATAL_ERROR, recovers
// the paid terms and answers the package; the account commits 300.
func FatalRecoveryCommitsThePaidAmount(t *testing.T, newBackend func(*testing.T) Backend) {
	w := newWorld(t, newBackend(t), wxpaytest.Options{})
	cfg := func(c *claim.HandlerConfig) { c.Budgets = map[string]store.Budget{campaign: {Fen: 100_000}} }
	a := w.replica(cfg)
	if _, err := a.handler.OpenBudget(context.Background(), campaign); err != nil {
		t.Fatal(err)
	}
	const user = "oFatalRecovery00000000000001"
	w.setGrant(func(g *claim.Grant) { g.Amount = 300 })
	w.host.Inject(wxpaytest.Fault{DropAfter: true, Times: 3, Match: onSend})
	want(t, a.tap(user), http.StatusServiceUnavailable, "outcome_unknown", true)
	w.b.ForgetRecords(t)
	w.setGrant(func(g *claim.Grant) { g.Amount = 100 })
	// gethbinfo does not answer before the send: the send meets
	// FATAL_ERROR.
	w.host.Inject(wxpaytest.Fault{ErrCode: "SYSTEMERROR", Times: 3, Match: onQuery})
	b := w.replica(cfg)
	res := b.tap(user)
	want(t, res, http.StatusOK, "", false)
	paid := w.paid(user)
	if len(paid) != 1 || paid[0].Amount != 300 || res.pkg != encoded(paid[0].Package) {
		t.Fatalf("paid %+v", paid)
	}
	fatal := 0
	for _, r := range w.sends() {
		if r.ErrCode == "FATAL_ERROR" {
			fatal++
		}
	}
	st := b.account()
	if st.CommittedFen != 300 || st.CommittedPackets != 1 || st.ReservedFen != 0 || fatal != 1 {
		t.Fatalf("the account %+v after %d FATAL_ERROR; the platform paid 300 fen", st, fatal)
	}
	t.Logf("paid 300 fen, reply lost, records lost, amount edited to 100: %d FATAL_ERROR, the package of the 300-fen packet, the account commits %d fen in %d packet", fatal, st.CommittedFen, st.CommittedPackets)
}

// hookStore runs a hook before the first reservation of one bill number.
type hookStore struct {
	store.Store
	mu     sync.Mutex
	billno string
	hook   func(store.Store)
	ran    atomic.Bool
}

func (s *hookStore) Budget(ctx context.Context, c string, op store.BudgetOp) (store.BudgetState, bool, error) {
	s.mu.Lock()
	hook := op.Step == store.BudgetReserve && op.Billno == s.billno && s.hook != nil && !s.ran.Load()
	if hook {
		s.ran.Store(true)
	}
	s.mu.Unlock()
	if hook {
		s.hook(s.Store)
	}
	return s.Store.Budget(ctx, c, op)
}

// ClosedUnderTheLock: another replica closes a grant's number between a
// tap's lookup and its reservation (a Store hook places it there); the tap
// finds the number closed under the lock, moves on and pays the next one;
// nothing stays reserved.
func ClosedUnderTheLock(t *testing.T, newBackend func(*testing.T) Backend) {
	be := newBackend(t)
	w := newWorld(t, be, wxpaytest.Options{})
	budgets := map[string]store.Budget{campaign: {Packets: 5}}
	hs := &hookStore{Store: be.Store(t)}
	a := w.replica(func(c *claim.HandlerConfig) { c.Budgets, c.Store = budgets, hs })
	if _, err := a.handler.OpenBudget(context.Background(), campaign); err != nil {
		t.Fatal(err)
	}
	const user = "oClosedUnderLock000000000001"
	// Attempt 0 fails and the platform records it FAILED; the query
	// after the refusal does not answer, so it is not known closed.
	var queries atomic.Int32
	w.host.Inject(wxpaytest.Fault{ErrCode: "SEND_FAILED", Record: true, Match: onSend})
	w.host.Inject(wxpaytest.Fault{ErrCode: "SYSTEMERROR", Times: 3, Match: func(path string, p map[string]string) bool {
		return onQuery(path, p) && queries.Add(1) > 1
	}})
	want(t, a.tap(user), http.StatusBadGateway, "send_failed", false)
	first := w.billno(user, 0)
	hs.mu.Lock()
	hs.billno, hs.hook = first, func(s store.Store) {
		ctx := context.Background()
		_ = s.SaveResult(ctx, first, store.Result{Billno: first, OpenID: user, Amount: 100, Closed: rail.Closed, At: w.clock.Now()}, time.Hour)
		_, _, _ = s.Budget(ctx, campaign, store.BudgetOp{Step: store.BudgetRelease, Billno: first, Limit: budgets[campaign]})
	}
	hs.mu.Unlock()
	res := a.tap(user)
	want(t, res, http.StatusOK, "", false)
	if !hs.ran.Load() {
		t.Fatal("the interleaving did not happen")
	}
	if paid := w.paid(user); len(paid) != 1 || paid[0].Billno != w.billno(user, 1) {
		t.Fatalf("paid %+v", paid)
	}
	st := a.account()
	if st.ReservedPackets != 0 || st.ReservedFen != 0 || st.CommittedPackets != 1 {
		t.Fatalf("the account %+v: a reservation stayed", st)
	}
	t.Logf("number 0 closed by another replica between the lookup and the reservation: paid on number 1; the account: %d reserved, %d committed", st.ReservedPackets, st.CommittedPackets)
}

// LoweredMaxAttempts: a grant paid on its attempt 1 is answered its
// package by replicas configured with MaxAttempts 1, with the grant's
// records and after they were lost; a grant whose one attempt is closed
// gets no new number.
func LoweredMaxAttempts(t *testing.T, newBackend func(*testing.T) Backend) {
	w := newWorld(t, newBackend(t), wxpaytest.Options{})
	a := w.replica(nil)
	const user = "oLoweredMaxAttempts000000001"
	w.host.Inject(wxpaytest.Fault{ErrCode: "SEND_FAILED", Record: true, Match: onSend})
	res := a.tap(user)
	want(t, res, http.StatusOK, "", false)
	if paid := w.paid(user); len(paid) != 1 || paid[0].Billno != w.billno(user, 1) {
		t.Fatalf("paid %+v", paid)
	}
	lowered := func(c *claim.HandlerConfig) { c.MaxAttempts = 1 }
	for _, lose := range []bool{false, true} {
		if lose {
			w.b.ForgetRecords(t)
		}
		if got := w.replica(lowered).tap(user); got.status != http.StatusOK || got.pkg != res.pkg {
			t.Fatalf("MaxAttempts 1 (records lost: %v): %s", lose, got)
		}
	}
	if n := len(w.numbers(user)); n != 2 {
		t.Errorf("%d numbers sent", n)
	}
	const other = "oLoweredMaxAttempts000000002"
	w.host.Inject(wxpaytest.Fault{ErrCode: "SEND_FAILED", Record: true, Match: onSend})
	want(t, w.replica(lowered).tap(other), http.StatusGone, "attempts_exhausted", false)
	if n := len(w.numbers(other)); n != 1 {
		t.Errorf("%d numbers sent past MaxAttempts 1", n)
	}
	t.Logf("paid on attempt 1, MaxAttempts lowered to 1: 200 with its package (records kept and lost); a grant with its one number closed: 410 attempts_exhausted, no new number")
}
