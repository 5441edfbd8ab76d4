// Package storetest checks an implementation of store.Store against the
// contract, with the same tests that the MemoryStore and the Redis store
// pass:
//
//	func TestMyStoreBudget(t *testing.T) {
//		storetest.TestBudget(t, func(t *testing.T) (store.Store, store.Store) {
//			return newMyStore(t), newMyStore(t) // two replicas on one state
//		})
//	}
package storetest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hongbao-go/hongbao/store"
)

// TestBudget checks the budget account of store.Store.Budget: a missing
// account stays missing and refuses reservations until it is opened;
// entries written while it is missing (commits, restores) are kept; an
// account younger than a grant refuses that grant's new numbers; the caps
// hold across two Stores sharing one state (newPair returns them, empty)
// under concurrent reservations; commits take the paid amount; restores
// go beyond the caps; the opening time only moves back.
func TestBudget(t *testing.T, newPair func(t *testing.T) (a, b store.Store)) {
	ctx := context.Background()
	limit := store.Budget{Fen: 10000, Packets: 10}
	t0 := time.Date(2026, 2, 10, 9, 0, 0, 0, time.UTC)
	a, b := newPair(t)
	step := func(t *testing.T, s store.Store, campaign string, op store.BudgetOp) (store.BudgetState, bool) {
		t.Helper()
		op.Limit = limit
		st, ok, err := s.Budget(ctx, campaign, op)
		if err != nil {
			t.Fatalf("%+v: %v", op, err)
		}
		return st, ok
	}
	want := func(t *testing.T, st store.BudgetState, open bool, rf, rp, cf, cp int64) {
		t.Helper()
		if st.Open != open || st.ReservedFen != rf || st.ReservedPackets != rp || st.CommittedFen != cf || st.CommittedPackets != cp {
			t.Errorf("account %+v; want open %v, reserved %d fen in %d, committed %d fen in %d", st, open, rf, rp, cf, cp)
		}
	}

	t.Run("missing", func(t *testing.T) {
		c := "missing"
		st, _ := step(t, a, c, store.BudgetOp{Step: store.BudgetRead})
		want(t, st, false, 0, 0, 0, 0)
		if st, ok := step(t, a, c, store.BudgetOp{Step: store.BudgetReserve, Billno: "m1", Amount: 100}); ok {
			t.Errorf("a reservation in a missing account: %+v", st)
		}
		st, _ = step(t, b, c, store.BudgetOp{Step: store.BudgetRelease, Billno: "m1"})
		want(t, st, false, 0, 0, 0, 0)
		// A send that paid while the account was missing is counted,
		// and the account stays not open.
		st, _ = step(t, b, c, store.BudgetOp{Step: store.BudgetCommit, Billno: "m2", Amount: 300})
		want(t, st, false, 0, 0, 300, 1)
		st, _ = step(t, a, c, store.BudgetOp{Step: store.BudgetRestore, Billno: "m3", Amount: 200})
		want(t, st, false, 200, 1, 300, 1)
		if _, ok := step(t, a, c, store.BudgetOp{Step: store.BudgetReserve, Billno: "m4", Amount: 100}); ok {
			t.Error("a reservation in an account that is not open")
		}
		// Opening keeps what was written.
		st, _ = step(t, b, c, store.BudgetOp{Step: store.BudgetOpen, At: t0})
		want(t, st, true, 200, 1, 300, 1)
		if !st.OpenedAt.Equal(t0) {
			t.Errorf("opened at %v, want %v", st.OpenedAt, t0)
		}
		if _, ok := step(t, a, c, store.BudgetOp{Step: store.BudgetReserve, Billno: "m4", Amount: 100}); !ok {
			t.Error("no reservation in the open account")
		}
	})

	t.Run("younger than the grant", func(t *testing.T) {
		c := "younger"
		step(t, a, c, store.BudgetOp{Step: store.BudgetOpen, At: t0})
		st, ok := step(t, b, c, store.BudgetOp{Step: store.BudgetReserve, Billno: "y1", Amount: 100, At: t0.Add(-time.Hour)})
		if ok || !st.Younger(t0.Add(-time.Hour)) {
			t.Errorf("a grant decided before the opening reserved: %v %+v", ok, st)
		}
		if _, ok := step(t, b, c, store.BudgetOp{Step: store.BudgetReserve, Billno: "y2", Amount: 100, At: t0.Add(time.Second)}); !ok {
			t.Error("a grant decided after the opening refused")
		}
		// A number already counted stays granted.
		if _, ok := step(t, a, c, store.BudgetOp{Step: store.BudgetReserve, Billno: "y2", Amount: 100, At: t0.Add(-time.Hour)}); !ok {
			t.Error("a counted number refused")
		}
		// Opening again later changes nothing; earlier moves back (a
		// rebuild that counted older grants).
		st, _ = step(t, a, c, store.BudgetOp{Step: store.BudgetOpen, At: t0.Add(time.Hour)})
		if !st.OpenedAt.Equal(t0) {
			t.Errorf("opened at %v after a later opening", st.OpenedAt)
		}
		st, _ = step(t, b, c, store.BudgetOp{Step: store.BudgetOpen, At: t0.Add(-2 * time.Hour)})
		if !st.OpenedAt.Equal(t0.Add(-2 * time.Hour)) {
			t.Errorf("opened at %v after an earlier opening", st.OpenedAt)
		}
		if _, ok := step(t, b, c, store.BudgetOp{Step: store.BudgetReserve, Billno: "y1", Amount: 100, At: t0.Add(-time.Hour)}); !ok {
			t.Error("refused after the account was rebuilt from older grants")
		}
	})

	t.Run("caps across replicas", func(t *testing.T) {
		c := "caps"
		step(t, a, c, store.BudgetOp{Step: store.BudgetOpen, At: t0})
		var granted atomic.Int32
		var wg sync.WaitGroup
		for i := range 40 {
			wg.Go(func() {
				s := a
				if i%2 == 1 {
					s = b
				}
				_, ok, err := s.Budget(ctx, c, store.BudgetOp{Step: store.BudgetReserve, Billno: fmt.Sprintf("c%02d", i), Amount: 100, Limit: limit})
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
		st, _ := step(t, a, c, store.BudgetOp{Step: store.BudgetRead})
		want(t, st, true, 1000, 10, 0, 0)
		if st.RemainingPackets() != 0 || st.RemainingFen() != 9000 {
			t.Errorf("remaining %d packets, %d fen", st.RemainingPackets(), st.RemainingFen())
		}
		var held string
		for i := range 40 {
			bn := fmt.Sprintf("c%02d", i)
			if _, ok := step(t, b, c, store.BudgetOp{Step: store.BudgetReserve, Billno: bn, Amount: 100}); ok {
				held = bn
				break
			}
		}
		steps := []struct {
			op             store.BudgetOp
			rf, rp, cf, cp int64
		}{
			{store.BudgetOp{Step: store.BudgetReserve, Billno: held, Amount: 150}, 1050, 10, 0, 0}, // the platform's amount wins
			{store.BudgetOp{Step: store.BudgetCommit, Billno: held}, 900, 9, 150, 1},               // the reserved amount
			{store.BudgetOp{Step: store.BudgetCommit, Billno: held}, 900, 9, 150, 1},               // idempotent
			{store.BudgetOp{Step: store.BudgetCommit, Billno: held, Amount: 300}, 900, 9, 300, 1},  // the paid amount
			{store.BudgetOp{Step: store.BudgetReserve, Billno: held, Amount: 999}, 900, 9, 300, 1},
			{store.BudgetOp{Step: store.BudgetRestore, Billno: held, Amount: 999}, 900, 9, 300, 1}, // a commitment is kept
			{store.BudgetOp{Step: store.BudgetRestore, Billno: "r1", Amount: 500}, 1400, 10, 300, 1},
			{store.BudgetOp{Step: store.BudgetRestore, Billno: "r2", Amount: 500}, 1900, 11, 300, 1}, // beyond the cap
			{store.BudgetOp{Step: store.BudgetRestore, Billno: "r2", Amount: 400}, 1800, 11, 300, 1},
			{store.BudgetOp{Step: store.BudgetRelease, Billno: "r2"}, 1400, 10, 300, 1},
			{store.BudgetOp{Step: store.BudgetRelease, Billno: held}, 1400, 10, 0, 0},
			{store.BudgetOp{Step: store.BudgetRelease, Billno: held}, 1400, 10, 0, 0},
			{store.BudgetOp{Step: store.BudgetCommit, Billno: "unreserved", Amount: 77}, 1400, 10, 77, 1},
		}
		for i, s := range steps {
			st, ok := step(t, []store.Store{a, b}[i%2], c, s.op)
			if !ok || st.ReservedFen != s.rf || st.ReservedPackets != s.rp || st.CommittedFen != s.cf || st.CommittedPackets != s.cp {
				t.Errorf("step %d (%+v): %+v ok %v; want rf %d rp %d cf %d cp %d", i, s.op, st, ok, s.rf, s.rp, s.cf, s.cp)
			}
		}
	})

	t.Run("arguments", func(t *testing.T) {
		if _, _, err := a.Budget(ctx, "", store.BudgetOp{}); err == nil {
			t.Error("an empty campaign accepted")
		}
		if _, _, err := a.Budget(ctx, "x", store.BudgetOp{Step: store.BudgetReserve}); err == nil {
			t.Error("a reservation without a bill number accepted")
		}
	})
}
