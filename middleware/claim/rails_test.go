package claim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/hongbao-go/hongbao/rail"
	"github.com/hongbao-go/hongbao/store"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

// Both rails pass the same lifecycle, budget and replica tests (railkit_test.go).

// Users tap at once, many times each, on two replicas sharing a Store:
// each user is paid under exactly one number and every answer a user gets
// carries the same package, the platform's.
func TestRailsTwoReplicasPayOnce(t *testing.T) {
	for _, kind := range bothRails {
		t.Run(kind, func(t *testing.T) {
			w := newWorld(t, kind, wxpaytest.Options{}, nil, nil)
			a, b := w.replica(t), w.replica(t)
			const users, taps = 20, 5
			got := make([][]response, users)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range users {
				got[i] = make([]response, taps)
				for j := range taps {
					wg.Go(func() {
						<-start
						r := a
						if (i+j)%2 == 1 {
							r = b
						}
						got[i][j] = w.tap(t, r, user("Pay", i))
					})
				}
			}
			close(start)
			wg.Wait()
			ok := 0
			for i := range users {
				billno := w.billno(t, user("Pay", i), 0)
				pkgs := map[string]bool{}
				for _, res := range got[i] {
					switch res.status {
					case http.StatusOK:
						pkgs[w.answer(t, res, billno)] = true
						ok++
					case http.StatusServiceUnavailable: // in progress, paced: the page taps again
					default:
						t.Fatalf("user %d: %d %s", i, res.status, res.body)
					}
				}
				// One more tap on each replica: the same package again.
				for _, r := range []*replica{a, b} {
					pkgs[w.answer(t, w.tap(t, r, user("Pay", i)), billno)] = true
				}
				if len(pkgs) != 1 {
					t.Errorf("user %d got %d packages", i, len(pkgs))
				}
				if p := w.payoutsOf(user("Pay", i)); len(p) != 1 || p[0] != billno {
					t.Errorf("user %d is paid under %v, want [%s]", i, p, billno)
				}
			}
			if kind == transfers && w.host.BillsCreated() != users {
				t.Errorf("%d bills created for %d users", w.host.BillsCreated(), users)
			}
			t.Logf("%s: %d users x %d concurrent taps on 2 replicas: %d answered 200 at once, %d payouts", kind, users, taps, ok, users)
		})
	}
}

// The platform pays a send and its reply is lost, every retry too; the
// process restarts: the same number is sent again and its payout answered.
func TestRailsLostReplyThenRestart(t *testing.T) {
	for _, kind := range bothRails {
		t.Run(kind, func(t *testing.T) {
			w := newWorld(t, kind, wxpaytest.Options{}, nil, nil)
			const u = "oLostReply"
			billno := w.billno(t, u, 0)
			w.loseReplies(testAttempts)
			first := w.replica(t)
			checkError(t, w.tap(t, first, u), http.StatusServiceUnavailable, "outcome_unknown", true)
			if p := w.payoutsOf(u); len(p) != 1 || p[0] != billno {
				t.Fatalf("the platform pays %v", p)
			}
			restarted := w.replica(t) // a new process on the same Store
			pkg := w.answer(t, w.tap(t, restarted, u), billno)
			if again := w.answer(t, w.tap(t, first, u), billno); again != pkg {
				t.Errorf("the first replica answers %q, the restarted one %q", again, pkg)
			}
			if p := w.payoutsOf(u); len(p) != 1 {
				t.Errorf("the platform pays %v", p)
			}
		})
	}
}

// The merchant's balance is short (the platform records nothing of the
// refusal): the refusal opens an outage, and taps are answered 503
// merchant_unavailable with a Retry-After until the probe time, sending
// nothing, even after the top-up; at the probe time one tap probes with
// the same number and is paid, which ends the outage for every user.
func TestRailsNotEnoughThenTopUp(t *testing.T) {
	for _, kind := range bothRails {
		t.Run(kind, func(t *testing.T) {
			w := newWorld(t, kind, wxpaytest.Options{Balance: 50, NotEnough: wxpaytest.NotEnoughForgotten}, nil, nil)
			r := w.replica(t)
			const u = "oNotEnough"
			billno := w.billno(t, u, 0)
			res := w.tap(t, r, u)
			checkError(t, res, http.StatusServiceUnavailable, "merchant_unavailable", true)
			if ra := res.header.Get("Retry-After"); ra != "30" {
				t.Errorf("Retry-After %q, want the probe time, 30", ra)
			}
			sends := w.sends()
			if sends != 1 {
				t.Fatalf("%d sends", sends)
			}
			w.clock.Advance(10 * time.Second)
			res = w.tap(t, r, u)
			checkError(t, res, http.StatusServiceUnavailable, "merchant_unavailable", true)
			if ra := res.header.Get("Retry-After"); ra != "20" {
				t.Errorf("Retry-After %q 10 s later, want 20", ra)
			}
			w.host.TopUp(1000)
			checkError(t, w.tap(t, r, u), http.StatusServiceUnavailable, "merchant_unavailable", true)
			if w.sends() != sends || len(w.payoutsOf(u)) != 0 {
				t.Fatalf("%d sends before the probe time, payouts %v", w.sends()-sends, w.payoutsOf(u))
			}
			w.clock.Advance(20 * time.Second)
			w.answer(t, w.tap(t, r, u), billno)
			if p := w.payoutsOf(u); len(p) != 1 || p[0] != billno {
				t.Fatalf("the platform pays %v, want [%s]", p, billno)
			}
			// The outage is over: another user is paid at once.
			const other = "oNotEnoughOther"
			w.answer(t, w.tap(t, r, other), w.billno(t, other, 0))
			if w.sends() != sends+2 {
				t.Errorf("%d sends in all, want %d", w.sends(), sends+2)
			}
		})
	}
}

// The user never opens the payout: the red packet is refunded, the
// transfer closed OVERDUE_CLOSE. With re-claims the next tap pays the
// next number (a new package); without, it is answered 410 and nothing
// more is sent. Either way the budget gets the amount back.
func TestRailsUnclaimedPayout(t *testing.T) {
	for _, kind := range bothRails {
		for _, reclaim := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/reclaim=%v", kind, reclaim), func(t *testing.T) {
				w := newWorld(t, kind, wxpaytest.Options{}, nil, func(c *HandlerConfig) {
					c.Budgets = map[string]store.Budget{testGrant().Key: {Packets: 10}}
				})
				g := testGrant()
				g.Reclaim = reclaim
				w.grant.Store(&g)
				r := w.replica(t)
				const u = "oUnclaimed"
				first := w.billno(t, u, 0)
				pkg := w.answer(t, w.tap(t, r, u), first)
				w.unclaimed(t, first)
				sends := w.sends()
				if !reclaim {
					checkError(t, w.tap(t, r, u), http.StatusGone, "claim_window_expired", false)
					checkError(t, w.tap(t, r, u), http.StatusGone, "claim_window_expired", false)
					if w.sends() != sends || len(w.payoutsOf(u)) != 1 {
						t.Errorf("%d sends after the close, payouts %v", w.sends()-sends, w.payoutsOf(u))
					}
				} else {
					second := w.billno(t, u, 1)
					next := w.answer(t, w.tap(t, r, u), second)
					if next == pkg {
						t.Error("the next number answers the old package")
					}
					if p := w.payoutsOf(u); len(p) != 2 || p[1] != second {
						t.Errorf("payouts %v", p)
					}
				}
				if res := w.stored(t, first); res.Closed != rail.Returned {
					t.Errorf("the first number is stored %+v", res)
				}
				st := w.budget(t, r)
				wantReserved := int64(0)
				if reclaim {
					wantReserved = 1 // the second number, offered
					if kind == redPacket {
						wantReserved = 0 // committed at the send
					}
				}
				if st.ReservedPackets != wantReserved || st.ReservedPackets+st.CommittedPackets != map[bool]int64{true: 1, false: 0}[reclaim] {
					t.Errorf("budget %+v", st)
				}
			})
		}
	}
}

// A budget of N packets, two replicas, more users than packets tapping at
// once: exactly N payouts, the others answered budget_exhausted; once the
// users opened theirs, exactly N packets are committed and none reserved.
func TestRailsBudgetTwoReplicas(t *testing.T) {
	for _, kind := range bothRails {
		t.Run(kind, func(t *testing.T) {
			const packets, users = 7, 16
			w := newWorld(t, kind, wxpaytest.Options{}, nil, func(c *HandlerConfig) {
				c.Budgets = map[string]store.Budget{testGrant().Key: {Packets: packets}}
			})
			a, b := w.replica(t), w.replica(t)
			got := make([]response, users)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range users {
				wg.Go(func() {
					<-start
					got[i] = w.tap(t, []*replica{a, b}[i%2], user("Budget", i))
				})
			}
			close(start)
			wg.Wait()
			paid, refused := 0, 0
			for i, res := range got {
				u := user("Budget", i)
				switch res.status {
				case http.StatusOK:
					paid++
					w.confirm(t, res, w.billno(t, u, 0), u)
				case http.StatusForbidden:
					checkError(t, res, http.StatusForbidden, "budget_exhausted", false)
					refused++
					if p := w.payoutsOf(u); len(p) != 0 {
						t.Errorf("a refused user is paid %v", p)
					}
				default:
					t.Fatalf("user %d: %d %s", i, res.status, res.body)
				}
			}
			total := 0
			for i := range users {
				total += len(w.payoutsOf(user("Budget", i)))
			}
			st := w.budget(t, a)
			t.Logf("%s: budget %d packets, %d users on 2 replicas: %d paid, %d refused, %d payouts at the platform; account %+v",
				kind, packets, users, paid, refused, total, st)
			if paid != packets || total != packets || refused != users-packets {
				t.Errorf("%d paid, %d payouts, %d refused; want %d, %d, %d", paid, total, refused, packets, packets, users-packets)
			}
			if kind == transfers && w.host.BillsCreated() != packets {
				t.Errorf("%d bills created", w.host.BillsCreated())
			}
			if st.CommittedPackets != packets || st.ReservedPackets != 0 || st.CommittedFen != packets*testGrant().Amount {
				t.Errorf("account %+v, want %d packets committed and none reserved", st, packets)
			}
		})
	}
}

// Repeat taps on an offered payout never reach the platform.
func TestRailsRepeatTapsStayLocal(t *testing.T) {
	for _, kind := range bothRails {
		t.Run(kind, func(t *testing.T) {
			w := newWorld(t, kind, wxpaytest.Options{}, nil, nil)
			r := w.replica(t)
			const u = "oRepeat"
			billno := w.billno(t, u, 0)
			pkg := w.answer(t, w.tap(t, r, u), billno)
			calls := len(w.host.Requests()) + len(w.host.V3Requests())
			for range 5 {
				if got := w.answer(t, w.tap(t, r, u), billno); got != pkg {
					t.Fatalf("package %q, then %q", pkg, got)
				}
			}
			if n := len(w.host.Requests()) + len(w.host.V3Requests()); n != calls {
				t.Errorf("%d calls to the platform for repeat taps", n-calls)
			}
			if res := w.stored(t, billno); res.Rail != r.h.railName || !res.Paid() || res.Campaign != "" {
				t.Errorf("stored %+v", res)
			}
		})
	}
}

// The claim window ends for a payout the user has: the red packet keeps
// its answer (paid), the transfer's SUCCESS, learnt by a query when no
// notification came, is answered already_received and committed.
func TestRailsReceivedAfterTheWindow(t *testing.T) {
	w := newWorld(t, transfers, wxpaytest.Options{}, nil, func(c *HandlerConfig) {
		c.Budgets = map[string]store.Budget{testGrant().Key: {Packets: 3}}
	})
	r := w.replica(t)
	w.recv.set(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
		rw.WriteHeader(http.StatusInternalServerError) // notifications do not arrive
	}))
	const u = "oReceivedLate"
	billno := w.billno(t, u, 0)
	res := w.tap(t, r, u)
	w.answer(t, res, billno)
	var p wxpaytest.TransferPage
	if err := json.Unmarshal([]byte(res.body), &p); err != nil {
		t.Fatal(err)
	}
	if _, err := w.host.ConfirmTransfer(p); err != nil {
		t.Fatal(err)
	}
	// Within the window the stored answer stands (no query per tap).
	w.answer(t, w.tap(t, r, u), billno)
	if st := w.budget(t, r); st.ReservedPackets != 1 || st.CommittedPackets != 0 {
		t.Fatalf("budget %+v", st)
	}
	w.clock.Advance(25 * time.Hour)
	checkError(t, w.tap(t, r, u), http.StatusGone, "already_received", false)
	if res := w.stored(t, billno); res.Closed != rail.Paid {
		t.Errorf("stored %+v", res)
	}
	if st := w.budget(t, r); st.ReservedPackets != 0 || st.CommittedPackets != 1 {
		t.Errorf("budget %+v", st)
	}
}
