package claim

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hongbao-go/hongbao/rail"
	"github.com/hongbao-go/hongbao/store"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

// The refusal and budget rules on the transfer rail, whose offers wait for
// the user's confirmation and whose news comes by notification: a
// NOT_ENOUGH outage and its probes, a notification into a lost budget
// account and the rebuild that follows, an offer past the claim window,
// and the amount the platform paid.

// loseAccounts drops the budget accounts (and the locks and counters
// kept beside them), keeping the grants' records: a failover to a replica
// that lagged behind the accounts.
func (s *splitStore) loseAccounts() { s.rest.Store(store.NewMemoryStore()) }

// queries counts the platform's queries of billno.
func (w *world) queries(billno string) int {
	n := 0
	for _, r := range w.host.V3Requests() {
		if r.Method == http.MethodGet && r.URI == wxpaytest.PathTransferBillByOutBillNo+billno {
			n++
		}
	}
	return n
}

// The operating account is short when a campaign opens: the first send
// meets NOT_ENOUGH and opens an outage; six users tapping on two replicas
// are answered merchant_unavailable with a Retry-After and nothing is
// sent; the one probe at the probe time is refused and the probe time
// doubles; after the top-up the next probe pays, and every user is paid
// once, on the grant's first number, with one packet of the budget each.
func TestTransferOutageThenTopUpPaysEachOnce(t *testing.T) {
	const users = 6
	w := newWorld(t, transfers, wxpaytest.Options{Balance: 50}, nil, func(c *HandlerConfig) {
		c.Budgets = map[string]store.Budget{testGrant().Key: {Packets: users}}
	})
	a, b := w.replica(t), w.replica(t)
	on := func(i int) *replica { return []*replica{a, b}[i%2] }
	retryAfter := func(res response, want string) {
		t.Helper()
		checkError(t, res, http.StatusServiceUnavailable, "merchant_unavailable", true)
		if got := res.header.Get("Retry-After"); got != want {
			t.Errorf("Retry-After %q, want %q", got, want)
		}
	}

	retryAfter(w.tap(t, a, user("Outage", 0)), "30")
	for round := range 3 {
		w.clock.Advance(5 * time.Second)
		for i := range users {
			res := w.tap(t, on(i+round), user("Outage", i))
			retryAfter(res, map[int]string{0: "25", 1: "20", 2: "15"}[round])
		}
	}
	if w.sends() != 1 || w.host.BillsCreated() != 0 {
		t.Fatalf("%d sends, %d bills during the outage", w.sends(), w.host.BillsCreated())
	}
	// The refused number keeps its packet reserved (it is sent again);
	// the users held back reserve nothing.
	if st := w.budget(t, a); st.ReservedPackets != 1 || st.CommittedPackets != 0 {
		t.Errorf("budget during the outage %+v", st)
	}

	// The probe time comes before the top-up: one probe, refused.
	w.clock.Advance(15 * time.Second)
	for i := range users {
		res := w.tap(t, on(i), user("Outage", i))
		retryAfter(res, "60") // the probe time doubled
	}
	if w.sends() != 2 {
		t.Fatalf("%d sends: want the one probe", w.sends()-1)
	}

	w.host.TopUp(10_000)
	w.clock.Advance(time.Minute)
	offers := make([]response, users)
	for i := range users {
		offers[i] = w.tap(t, on(i), user("Outage", i))
		w.answer(t, offers[i], w.billno(t, user("Outage", i), 0))
	}
	// Every user taps again at once on both replicas: the same offers,
	// from the Store.
	var wg sync.WaitGroup
	again := make([]response, 2*users)
	for i := range again {
		wg.Go(func() { again[i] = w.tap(t, on(i), user("Outage", i/2)) })
	}
	wg.Wait()
	for i, res := range again {
		u := user("Outage", i/2)
		if got, want := w.answer(t, res, w.billno(t, u, 0)), w.answer(t, offers[i/2], w.billno(t, u, 0)); got != want {
			t.Errorf("user %d: package %q, then %q", i/2, want, got)
		}
	}
	for i := range users {
		u := user("Outage", i)
		if p := w.payoutsOf(u); len(p) != 1 || p[0] != w.billno(t, u, 0) {
			t.Errorf("user %d is paid under %v, want its first number", i, p)
		}
	}
	if w.host.BillsCreated() != users || w.sends() != 2+users {
		t.Errorf("%d bills, %d sends; want %d and %d", w.host.BillsCreated(), w.sends(), users, 2+users)
	}
	if st := w.budget(t, a); st.ReservedPackets != users || st.CommittedPackets != 0 {
		t.Errorf("budget of the offers %+v", st)
	}
	for i := range users {
		u := user("Outage", i)
		w.confirm(t, offers[i], w.billno(t, u, 0), u)
	}
	if st := w.budget(t, a); st.ReservedPackets != 0 || st.CommittedPackets != users || st.CommittedFen != users*testGrant().Amount {
		t.Errorf("budget once confirmed %+v", st)
	}
}

// The Store loses the campaign's account (not the grants' records) while
// offers are out. A SUCCESS notification is stored and counted into the
// missing account, which stays closed: a new user is refused
// budget_unavailable on every replica, a restarted one too, where a
// fresh count would pay beyond the cap; the users offered before still get
// their offers. The rebuild commits what the platform paid and reserves
// the offer still waiting; the cap holds, and a cancelled offer gives its
// packet to the new user.
func TestTransferNotificationIntoALostAccount(t *testing.T) {
	ss := newSplitStore()
	campaign := testGrant().Key
	w := newWorld(t, transfers, wxpaytest.Options{}, ss, func(c *HandlerConfig) {
		c.Budgets = map[string]store.Budget{campaign: {Packets: 3}}
	})
	a, b := w.replica(t), w.replica(t)
	ctx := context.Background()
	const userA, userC, userD, userB = "oLostAcctA", "oLostAcctC", "oLostAcctD", "oLostAcctB"
	offers := map[string]response{}
	for i, u := range []string{userA, userC, userD} {
		offers[u] = w.tap(t, []*replica{a, b}[i%2], u)
		w.answer(t, offers[u], w.billno(t, u, 0))
	}
	w.confirm(t, offers[userC], w.billno(t, userC, 0), userC)
	if st := w.budget(t, a); !st.Open || st.CommittedPackets != 1 || st.ReservedPackets != 2 {
		t.Fatalf("budget before the loss %+v", st)
	}

	ss.loseAccounts()
	billA := w.billno(t, userA, 0)
	w.confirm(t, offers[userA], billA, userA)
	if err := w.host.Renotify(billA); err != nil {
		t.Fatal(err)
	}
	w.delivered(t, billA, 2)
	if got := w.stored(t, billA); got.Closed != rail.Paid || got.Campaign != campaign {
		t.Errorf("stored %+v", got)
	}
	if st := w.budget(t, a); st.Open || st.CommittedPackets != 1 || st.ReservedPackets != 0 {
		t.Fatalf("the account after the notification %+v: it must stay missing", st)
	}
	if !strings.Contains(w.logs.String(), "budget account lost") {
		t.Error("the loss is not logged")
	}

	restarted := w.replica(t)
	for _, r := range []*replica{a, b, restarted} {
		checkError(t, w.tap(t, r, userB), http.StatusServiceUnavailable, "budget_unavailable", true)
	}
	billD := w.billno(t, userD, 0)
	w.answer(t, w.tap(t, restarted, userD), billD)
	checkError(t, w.tap(t, restarted, userA), http.StatusGone, "already_received", false)
	if p := w.payoutsOf(userB); len(p) != 0 || w.host.BillsCreated() != 3 {
		t.Fatalf("paid from a fresh count: %v, %d bills", p, w.host.BillsCreated())
	}

	rep, err := store.RebuildBudget(ctx, store.RebuildConfig{
		Platform: w.rail0, Store: ss, Campaign: campaign, Now: w.clock.Now,
		Grants: []store.RebuildGrant{{Key: campaign, OpenID: userA}, {Key: campaign, OpenID: userB},
			{Key: campaign, OpenID: userC}, {Key: campaign, OpenID: userD}},
	})
	if err != nil || rep.Committed != 2 || rep.Reserved != 1 || !rep.State.Open ||
		rep.State.CommittedPackets != 2 || rep.State.ReservedPackets != 1 {
		t.Fatalf("rebuild: %+v, %v; want A and C committed, D's offer reserved", rep, err)
	}
	checkError(t, w.tap(t, a, userB), http.StatusForbidden, "budget_exhausted", false)

	if bill, err := restarted.h.Cancel(ctx, billD); err != nil || bill.State != rail.Pending {
		t.Fatalf("cancel: %+v %v", bill, err)
	}
	w.delivered(t, billD, 1)
	if st := w.budget(t, a); st.CommittedPackets != 2 || st.ReservedPackets != 0 {
		t.Errorf("budget after the cancel %+v", st)
	}
	billB := w.billno(t, userB, 0)
	w.confirm(t, w.tap(t, b, userB), billB, userB)
	if st := w.budget(t, a); st.CommittedPackets != 3 || st.ReservedPackets != 0 {
		t.Errorf("budget at the end %+v", st)
	}
}

// An offer past the claim window is the platform's to close: a day on,
// with the bill still waiting (the platform closes it later), a tap of a
// grant without re-claims or a budget asks the platform and is answered
// the offer again (then not asking for recheckAfter); without the
// platform's answer it is 503, never 410. The user confirms: already
// received. Another offer the platform closed unconfirmed: 410, and
// nothing more is sent.
func TestTransferOfferPastTheWindow(t *testing.T) {
	w := newWorld(t, transfers, wxpaytest.Options{V3: wxpaytest.V3Options{CloseAfter: 26 * time.Hour}}, nil, nil)
	r := w.replica(t)
	const u, late = "oPastWindow", "oPastWindowLate"
	billno, lateNo := w.billno(t, u, 0), w.billno(t, late, 0)
	res := w.tap(t, r, u)
	pkg := w.answer(t, res, billno)
	w.answer(t, w.tap(t, r, late), lateNo)
	bill, _ := w.host.Bill(billno)
	if got := w.stored(t, billno); !got.Exact || !got.PaidAt.Equal(bill.CreatedAt.Truncate(time.Second)) {
		t.Errorf("PaidAt %v (exact %v), the bill was created at %v", got.PaidAt, got.Exact, bill.CreatedAt)
	}

	w.clock.Advance(25 * time.Hour)
	asked := w.queries(billno)
	if got := w.answer(t, w.tap(t, r, u), billno); got != pkg {
		t.Errorf("package %q, then %q", pkg, got)
	}
	if w.queries(billno) != asked+1 {
		t.Errorf("%d queries past the window, want 1", w.queries(billno)-asked)
	}
	w.clock.Advance(10 * time.Second)
	w.answer(t, w.tap(t, r, u), billno)
	if w.queries(billno) != asked+1 {
		t.Errorf("asked again within %v", recheckAfter)
	}

	w.host.InjectV3(wxpaytest.V3Fault{Times: testAttempts, Status: http.StatusInternalServerError, Code: "SYSTEM_ERROR",
		Match: func(q wxpaytest.V3Request) bool { return q.Method == http.MethodGet }})
	checkError(t, w.tap(t, r, late), http.StatusServiceUnavailable, "outcome_unknown", true)
	if got := w.stored(t, lateNo); !got.Paid() {
		t.Errorf("the offer changed without the platform's word: %+v", got)
	}

	w.confirm(t, res, billno, u)
	checkError(t, w.tap(t, r, u), http.StatusGone, "already_received", false)

	w.clock.Advance(2 * time.Hour)
	w.delivered(t, lateNo, 1)
	sends := w.sends()
	checkError(t, w.tap(t, r, late), http.StatusGone, "claim_window_expired", false)
	if got := w.stored(t, lateNo); got.Closed != rail.Returned {
		t.Errorf("stored %+v", got)
	}
	if w.sends() != sends || w.host.BillsCreated() != 2 {
		t.Errorf("%d sends after the close, %d bills", w.sends()-sends, w.host.BillsCreated())
	}
}

// The budget counts what the platform holds: the grant's records are lost
// while its 300-fen offer is out, and its amount is edited to 100 fen.
// Whether the SUCCESS notification comes (stored without the records) or
// not (the next tap finds the bill paid), the account commits 300 fen
// and the user is told already_received. A tap before the user confirms
// is answered the 300-fen offer, which stays reserved (an offer is not a
// payment) until its SUCCESS commits it.
func TestTransferCommitsThePaidAmount(t *testing.T) {
	for _, c := range []string{"notified", "not notified", "tapped before confirming"} {
		t.Run(c, func(t *testing.T) {
			ss := newSplitStore()
			w := newWorld(t, transfers, wxpaytest.Options{}, ss, func(c *HandlerConfig) {
				c.Budgets = map[string]store.Budget{testGrant().Key: {Fen: 10_000}}
			})
			r := w.replica(t)
			if c == "not notified" {
				w.recv.set(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
					rw.WriteHeader(http.StatusServiceUnavailable)
				}))
			}
			g := testGrant()
			g.Amount = 300
			w.grant.Store(&g)
			const u = "oPaidAmount"
			billno := w.billno(t, u, 0)
			res := w.tap(t, r, u)
			pkg := w.answer(t, res, billno)
			ss.forgetRecords()
			g.Amount = 100
			w.grant.Store(&g)
			if c == "tapped before confirming" {
				if got := w.answer(t, w.tap(t, r, u), billno); got != pkg {
					t.Errorf("another package %q, the platform's %q", got, pkg)
				}
				if st := w.budget(t, r); st.ReservedFen != 300 || st.CommittedFen != 0 {
					t.Errorf("the account of the offer %+v", st)
				}
				w.confirm(t, res, billno, u)
			} else {
				var page wxpaytest.TransferPage
				if err := json.Unmarshal([]byte(res.body), &page); err != nil {
					t.Fatal(err)
				}
				page.OpenID = u
				if _, err := w.host.ConfirmTransfer(page); err != nil {
					t.Fatal(err)
				}
				if c == "notified" {
					w.delivered(t, billno, 1)
				}
			}
			checkError(t, w.tap(t, r, u), http.StatusGone, "already_received", false)
			if st := w.budget(t, r); st.CommittedFen != 300 || st.CommittedPackets != 1 || st.ReservedFen != 0 {
				t.Errorf("the account %+v; the platform paid 300 fen", st)
			}
			if got := w.stored(t, billno); got.Closed != rail.Paid || got.Amount != 300 {
				t.Errorf("stored %+v", got)
			}
			if w.host.BillsCreated() != 1 {
				t.Errorf("%d bills", w.host.BillsCreated())
			}
		})
	}
}

// A replica cut off from the Store keeps an offer in its process while
// another replica stores the SUCCESS notification of that number; when
// the Store answers again, the kept offer is not written over the
// settlement: the number stays paid, and the user is already_received.
func TestTransferFlushNeverOverwritesASettlement(t *testing.T) {
	shared := store.NewMemoryStore()
	cut := &flakyStore{MemoryStore: shared}
	w := newWorld(t, transfers, wxpaytest.Options{}, cut, func(c *HandlerConfig) { c.StoreRetryAfter = 20 * time.Millisecond })
	a := w.replica(t)
	w.store = shared
	b := w.replica(t) // receives the notifications
	const u = "oFlushOver"
	billno := w.billno(t, u, 0)
	cut.down.Store(true)
	res := w.tap(t, a, u)
	w.answer(t, res, billno)
	if _, ok, _ := shared.Result(context.Background(), billno); ok {
		t.Fatal("saved while the Store was down")
	}
	w.confirm(t, res, billno, u)
	if got := w.stored(t, billno); got.Closed != rail.Paid {
		t.Fatalf("the notification stored %+v", got)
	}
	cut.down.Store(false)
	deadline := time.Now().Add(5 * time.Second)
	for len(a.h.pending.snapshot()) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the kept result was never flushed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := w.stored(t, billno); got.Closed != rail.Paid || got.Package != "" {
		t.Errorf("the flush wrote over the settlement: %+v", got)
	}
	checkError(t, w.tap(t, b, u), http.StatusGone, "already_received", false)
	if w.host.BillsCreated() != 1 {
		t.Errorf("%d bills", w.host.BillsCreated())
	}
}
