package redisstore_test

import (
	"context"
	"crypto/rand"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/hongbao-go/hongbao/middleware/claim"
	"github.com/hongbao-go/hongbao/middleware/jwtauth"
	"github.com/hongbao-go/hongbao/store"
	"github.com/hongbao-go/hongbao/store/storetest"
)

// TestBudgetScript: the account's steps on Redis, shared by two stores,
// with the contract's tests; an account keeps an expiry; an account
// written by an older version (sums and entries, no opening time) is open.
func TestBudgetScript(t *testing.T) {
	needRedis(t)
	var prefix string
	storetest.TestBudget(t, func(t *testing.T) (store.Store, store.Store) {
		prefix = newPrefix(t)
		return newStore(t, prefix), newStore(t, prefix)
	})
	ctx := context.Background()
	rdb := newClient(t, redisURL)
	if ttl := rdb.PTTL(ctx, prefix+"budget:caps").Val(); ttl <= 0 {
		t.Errorf("the account has no expiry: %v", ttl)
	}
	if ttl := rdb.PTTL(ctx, prefix+"budget:missing").Val(); ttl <= 0 {
		t.Errorf("the account written while missing has no expiry: %v", ttl)
	}
	legacy := prefix + "budget:legacy"
	if err := rdb.HSet(ctx, legacy, "rf", 100, "rp", 1, "cf", 0, "cp", 0, "b:old", "100:R").Err(); err != nil {
		t.Fatal(err)
	}
	s := newStore(t, prefix)
	st, ok, err := s.Budget(ctx, "legacy", store.BudgetOp{Step: store.BudgetReserve, Billno: "new", Amount: 100,
		At: time.Now(), Limit: store.Budget{Packets: 5}})
	if err != nil || !ok || !st.Open || !st.OpenedAt.IsZero() || st.ReservedPackets != 2 {
		t.Errorf("an older account: %+v ok %v err %v", st, ok, err)
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
	// The campaign's first configuration opens its account.
	if _, err := a.handler.OpenBudget(context.Background(), w.grant.Key); err != nil {
		t.Fatal(err)
	}
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
