package middleware

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
)

// Budget caps what one campaign may pay: money in fen and/or a number of
// packets (0: that dimension has no cap). A grant counts against the budget
// of its campaign (Grant.Campaign, or its Key) when HandlerConfig.Budgets
// names one.
//
// The accounting follows each bill number (each attempt of a grant): its
// amount is reserved before its first send (right after the grant's terms
// are recorded), stays reserved while the send is in flight or its outcome
// unknown, is committed once paid, and is released only when the platform
// reports the number closed (FAILED, or REFUND: the money came back). A
// grant moving to its next number reserves again, and may then find the
// budget used up. A repeat tap of a paid grant reserves nothing. Reserved
// and committed money both count against the cap, so a send is never made
// beyond it; a reservation a crash left behind stays until the grant's next
// tap settles it from the platform (see Handler.Budget for what is left).
type Budget struct {
	Fen     int64 // money, in fen; 0: no cap
	Packets int64 // packets; 0: no cap
}

// BudgetState is a campaign's account: its caps and what is reserved and
// committed. Remaining is what is left under each cap (-1 where there is
// none).
type BudgetState struct {
	Budget
	ReservedFen, ReservedPackets   int64
	CommittedFen, CommittedPackets int64
}

// RemainingFen is the money left under the cap (-1: no cap).
func (s BudgetState) RemainingFen() int64 {
	if s.Fen == 0 {
		return -1
	}
	return max(s.Fen-s.ReservedFen-s.CommittedFen, 0)
}

// RemainingPackets is the packets left under the cap (-1: no cap).
func (s BudgetState) RemainingPackets() int64 {
	if s.Packets == 0 {
		return -1
	}
	return max(s.Packets-s.ReservedPackets-s.CommittedPackets, 0)
}

// BudgetStep is one step of a bill number's accounting.
type BudgetStep int

const (
	// BudgetRead changes nothing and returns the account.
	BudgetRead BudgetStep = iota
	// BudgetReserve reserves Amount for Billno when the caps allow it
	// (ok=false otherwise). A number already reserved or committed keeps
	// its entry (ok=true); a reserved one whose amount differs takes the
	// new amount, even beyond the caps (the platform's terms win).
	BudgetReserve
	// BudgetCommit turns Billno's entry into a commitment of Amount, the
	// amount the platform paid, whatever was reserved (the reserved
	// amount when Amount is 0); a number without an entry is committed
	// anyway (the money left), beyond the caps if need be.
	BudgetCommit
	// BudgetRelease drops Billno's reservation or commitment: the platform
	// reported the number closed.
	BudgetRelease
)

// BudgetOp is one call of Store.Budget.
type BudgetOp struct {
	Step   BudgetStep
	Billno string // the attempt's bill number; empty for BudgetRead
	Amount int64  // fen: the grant's terms (BudgetReserve, BudgetCommit)
	// Limit is the campaign's budget, passed on each call (the Store
	// keeps the account, the configuration keeps the caps).
	Limit Budget
}

var errBudgetExhausted = errors.New("middleware: the campaign's budget is used up")

// budgetOf returns the campaign and budget a grant counts against.
func (h *Handler) budgetOf(g Grant) (string, Budget, bool) {
	if len(h.budgets) == 0 {
		return "", Budget{}, false
	}
	campaign := g.Campaign
	if campaign == "" {
		campaign = g.Key
	}
	b, ok := h.budgets[campaign]
	return campaign, b, ok
}

// account applies op to the grant's campaign. Without a budget it does
// nothing (ok). The budget lives in the shared Store only: a Store failure
// is an error, never a fallback to this process, whose account would let
// replicas overspend together.
func (h *Handler) account(ctx context.Context, run *grantRun, op BudgetOp) (BudgetState, bool, error) {
	campaign, limit, ok := h.budgetOf(run.grant)
	if !ok {
		return BudgetState{}, true, nil
	}
	op.Limit = limit
	st, granted, err := h.store.Budget(ctx, campaign, op)
	if err != nil {
		h.log.LogAttrs(ctx, slog.LevelWarn, "hongbao: budget unavailable", slog.String("campaign", campaign),
			slog.String("billno", op.Billno), slog.String("error", err.Error()))
		return st, false, err
	}
	return st, granted, nil
}

// reserve reserves billno's amount before its send; the error is the
// tap's answer.
func (h *Handler) reserve(ctx context.Context, run *grantRun, billno string) error {
	_, ok, err := h.account(ctx, run, BudgetOp{Step: BudgetReserve, Billno: billno, Amount: run.terms.Amount})
	switch {
	case err != nil:
		e := newError(http.StatusServiceUnavailable, "budget_unavailable", "red packets are not available at the moment",
			fmt.Errorf("middleware: the campaign's budget cannot be read: %w", err))
		e.RetryAfter, e.Billno = retryAfterUpstream, billno
		return e
	case !ok:
		e := newError(http.StatusForbidden, "budget_exhausted", "the red packets of this campaign are all given out", errBudgetExhausted)
		e.Billno = billno
		return e
	}
	return nil
}

// commit records billno paid; release records it closed. Their failures
// are logged and left: a reservation counts against the cap like a
// commitment, so the cap holds, and the next run of the grant commits.
func (h *Handler) commit(ctx context.Context, run *grantRun, r Result) {
	_, _, _ = h.account(ctx, run, BudgetOp{Step: BudgetCommit, Billno: r.Billno, Amount: r.Amount})
}

func (h *Handler) release(ctx context.Context, run *grantRun, billno string) {
	_, _, _ = h.account(ctx, run, BudgetOp{Step: BudgetRelease, Billno: billno})
}

// Campaigns returns the names of the campaigns with a budget, sorted.
func (h *Handler) Campaigns() []string {
	return slices.Sorted(maps.Keys(h.budgets))
}

// Budget returns campaign's account as the Store holds it: its caps (from
// HandlerConfig.Budgets), what is reserved and committed, and so what
// remains. ok is false when no budget is configured for campaign.
func (h *Handler) Budget(ctx context.Context, campaign string) (st BudgetState, ok bool, err error) {
	limit, ok := h.budgets[campaign]
	if !ok {
		return BudgetState{}, false, nil
	}
	st, _, err = h.store.Budget(ctx, campaign, BudgetOp{Step: BudgetRead, Limit: limit})
	return st, true, err
}
