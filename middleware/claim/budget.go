package claim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"

	"github.com/hongbao-go/hongbao/store"
)

var errBudgetExhausted = errors.New("claim: the campaign's budget is used up")

// budgetOf returns the campaign and budget a grant counts against.
func (h *Handler) budgetOf(g Grant) (string, store.Budget, bool) {
	if len(h.budgets) == 0 {
		return "", store.Budget{}, false
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
func (h *Handler) account(ctx context.Context, run *grantRun, op store.BudgetOp) (store.BudgetState, bool, error) {
	campaign, limit, ok := h.budgetOf(run.grant)
	if !ok {
		return store.BudgetState{}, true, nil
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
	_, ok, err := h.account(ctx, run, store.BudgetOp{Step: store.BudgetReserve, Billno: billno, Amount: run.terms.Amount})
	switch {
	case err != nil:
		e := newError(http.StatusServiceUnavailable, "budget_unavailable", "red packets are not available at the moment",
			fmt.Errorf("claim: the campaign's budget cannot be read: %w", err))
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
func (h *Handler) commit(ctx context.Context, run *grantRun, r store.Result) {
	_, _, _ = h.account(ctx, run, store.BudgetOp{Step: store.BudgetCommit, Billno: r.Billno, Amount: r.Amount})
}

func (h *Handler) release(ctx context.Context, run *grantRun, billno string) {
	_, _, _ = h.account(ctx, run, store.BudgetOp{Step: store.BudgetRelease, Billno: billno})
}

// Campaigns returns the names of the campaigns with a budget, sorted.
func (h *Handler) Campaigns() []string {
	return slices.Sorted(maps.Keys(h.budgets))
}

// Budget returns campaign's account as the Store holds it: its caps (from
// HandlerConfig.Budgets), what is reserved and committed, and so what
// remains. ok is false when no budget is configured for campaign.
func (h *Handler) Budget(ctx context.Context, campaign string) (st store.BudgetState, ok bool, err error) {
	limit, ok := h.budgets[campaign]
	if !ok {
		return store.BudgetState{}, false, nil
	}
	st, _, err = h.store.Budget(ctx, campaign, store.BudgetOp{Step: store.BudgetRead, Limit: limit})
	return st, true, err
}
