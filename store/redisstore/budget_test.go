package redisstore_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hongbao-go/hongbao/middleware/claim"
	"github.com/hongbao-go/hongbao/middleware/jwtauth"
	"github.com/hongbao-go/hongbao/store"
)

// TestBudgetScript: the account's steps on Redis, shared by two stores and
// under concurrency: exactly the cap is granted, sums follow the entries.
func TestBudgetScript(t *testing.T) {
	prefix := newPrefix(t)
	a, b := newStore(t, prefix), newStore(t, prefix)
	ctx := context.Background()
	limit := store.Budget{Fen: 10000, Packets: 10}
	var granted atomic.Int32
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			s := a
			if i%2 == 1 {
				s = b
			}
			_, ok, err := s.Budget(ctx, "spring", store.BudgetOp{Step: store.BudgetReserve,
				Billno: fmt.Sprintf("b%02d", i), Amount: 100, Limit: limit})
			if err != nil {
				t.Error(err)
			}
			if ok {
				granted.Add(1)
			}
		})
	}
	wg.Wait()
	if n := granted.Load(); n != 10 {
		t.Fatalf("%d of 40 reservations granted under a cap of 10 packets", n)
	}
	st, _, err := a.Budget(ctx, "spring", store.BudgetOp{Step: store.BudgetRead, Limit: limit})
	if err != nil || st.ReservedPackets != 10 || st.ReservedFen != 1000 || st.RemainingPackets() != 0 {
		t.Fatalf("account %+v, %v", st, err)
	}
	// Find one reserved number and walk it through its steps.
	var held string
	for i := range 40 {
		bn := fmt.Sprintf("b%02d", i)
		if _, ok, _ := a.Budget(ctx, "spring", store.BudgetOp{Step: store.BudgetReserve, Billno: bn, Amount: 100, Limit: limit}); ok {
			held = bn // an existing entry stays granted
			break
		}
	}
	if held == "" {
		t.Fatal("no reserved number found")
	}
	steps := []struct {
		op             store.BudgetOp
		rf, rp, cf, cp int64
	}{
		{store.BudgetOp{Step: store.BudgetReserve, Billno: held, Amount: 150}, 1050, 10, 0, 0}, // the platform's amount wins
		{store.BudgetOp{Step: store.BudgetCommit, Billno: held}, 900, 9, 150, 1},
		{store.BudgetOp{Step: store.BudgetCommit, Billno: held}, 900, 9, 150, 1}, // idempotent
		{store.BudgetOp{Step: store.BudgetReserve, Billno: held, Amount: 999}, 900, 9, 150, 1},
		{store.BudgetOp{Step: store.BudgetRelease, Billno: held}, 900, 9, 0, 0},
		{store.BudgetOp{Step: store.BudgetRelease, Billno: held}, 900, 9, 0, 0},
		{store.BudgetOp{Step: store.BudgetCommit, Billno: "unreserved", Amount: 77}, 900, 9, 77, 1},
	}
	for i, s := range steps {
		s.op.Limit = limit
		st, ok, err := b.Budget(ctx, "spring", s.op)
		if err != nil || !ok || st.ReservedFen != s.rf || st.ReservedPackets != s.rp || st.CommittedFen != s.cf || st.CommittedPackets != s.cp {
			t.Errorf("step %d (%+v): %+v ok %v err %v; want rf %d rp %d cf %d cp %d", i, s.op, st, ok, err, s.rf, s.rp, s.cf, s.cp)
		}
	}
	if ttl := newClient(t, redisURL).PTTL(ctx, prefix+"budget:spring").Val(); ttl <= 0 {
		t.Errorf("the account has no expiry: %v", ttl)
	}
	if _, _, err := a.Budget(ctx, "", store.BudgetOp{}); err == nil {
		t.Error("an empty campaign accepted")
	}
	if _, _, err := a.Budget(ctx, "x", store.BudgetOp{Step: store.BudgetReserve}); err == nil {
		t.Error("a reservation without a bill number accepted")
	}
}

// TestBudgetTwoReplicasOnRedis: 2 replicas sharing Redis, a budget of 10
// packets, 50 distinct users tapping at once with random amounts: exactly
// 10 paid, the rest budget_exhausted, and the committed sum is what the
// host paid.
func TestBudgetTwoReplicasOnRedis(t *testing.T) {
	prefix := newPrefix(t)
	w := newWorld(t)
	secret := []byte("budget-on-redis-secret")
	budget := func(c *claim.HandlerConfig) {
		c.Budgets = map[string]store.Budget{w.grant.Key: {Packets: 10}}
		c.Policy = claim.PolicyFunc(func(_ context.Context, u jwtauth.User, _ []byte) (claim.Grant, error) {
			g := w.grant
			a, err := claim.RandomAmount(secret, g.Key, u.OpenID, 100, 300)
			g.Amount = a
			return g, err
		})
	}
	a := w.replica(t, "A", newStore(t, prefix), budget)
	b := w.replica(t, "B", newStore(t, prefix), budget)
	openIDs := make([]string, 50)
	answers := make([]answer, 50)
	var wg sync.WaitGroup
	for i := range openIDs {
		openIDs[i] = "oBudget_" + rand.Text()[:20]
		tok := w.token(t, openIDs[i])
		r := a
		if i%2 == 1 {
			r = b
		}
		wg.Go(func() { answers[i] = tap(r, tok) })
	}
	wg.Wait()
	paid, exhausted := 0, 0
	for _, ans := range answers {
		switch {
		case ans.status == http.StatusOK:
			paid++
		case ans.status == http.StatusForbidden && ans.code == "budget_exhausted":
			exhausted++
		default:
			t.Errorf("answer %+v", ans)
		}
	}
	if paid != 10 || exhausted != 40 {
		t.Fatalf("%d paid, %d budget_exhausted; want 10 and 40", paid, exhausted)
	}
	var fen int64
	packets := 0
	for _, o := range openIDs {
		for _, p := range w.fake.PacketsOf(o) {
			if p.ErrCode == "" {
				fen += p.Amount
				packets++
			}
		}
	}
	s := newStore(t, prefix)
	st, _, err := s.Budget(context.Background(), w.grant.Key, store.BudgetOp{Step: store.BudgetRead})
	if err != nil {
		t.Fatal(err)
	}
	if packets != 10 || st.CommittedPackets != 10 || st.CommittedFen != fen || st.ReservedPackets != 0 {
		t.Errorf("the host paid %d packets, %d fen; the account says %+v", packets, fen, st)
	}
}
