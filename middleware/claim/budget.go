package claim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"time"

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

// budgetSkew is how much earlier than its account's opening a grant may
// have been decided and still be counted by it: replicas' clocks differ.
const budgetSkew = time.Minute

// retryAfterLost is the Retry-After of a tap refused while its campaign's
// account is lost: it comes back when an operator has rebuilt it.
const retryAfterLost = 30 * time.Second

var errBudgetLost = errors.New("claim: the campaign's budget account is lost")

// reserve reserves billno's amount before its send; the error is the
// tap's answer. An account that is missing, or younger than the grant
// (it was lost and opened again), refuses: a fresh count would pay again,
// up to the cap, what the lost account had counted.
func (h *Handler) reserve(ctx context.Context, run *grantRun, billno string) error {
	at := run.terms.DecidedAt.Add(budgetSkew)
	st, ok, err := h.account(ctx, run, store.BudgetOp{Step: store.BudgetReserve, Billno: billno, Amount: run.terms.Amount, At: at})
	switch {
	case err != nil:
		e := newError(http.StatusServiceUnavailable, "budget_unavailable", "red packets are not available at the moment",
			fmt.Errorf("claim: the campaign's budget cannot be read: %w", err))
		e.RetryAfter, e.Billno = retryAfterUpstream, billno
		return e
	case ok:
		return nil
	case !st.Open:
		return h.budgetLost(ctx, run, billno, "the account is missing (never opened, or lost)")
	case st.Younger(at):
		return h.budgetLost(ctx, run, billno, fmt.Sprintf("the account was opened at %s, after the grant was decided at %s: it was lost and opened again",
			st.OpenedAt.Format(time.RFC3339), run.terms.DecidedAt.Format(time.RFC3339)))
	}
	e := newError(http.StatusForbidden, "budget_exhausted", "the red packets of this campaign are all given out", errBudgetExhausted)
	e.Billno = billno
	return e
}

// budgetLost logs and answers a tap refused because its campaign's
// account cannot be trusted: nothing is sent until it is rebuilt.
func (h *Handler) budgetLost(ctx context.Context, run *grantRun, billno, why string) error {
	campaign, _, _ := h.budgetOf(run.grant)
	h.log.LogAttrs(ctx, slog.LevelError, "hongbao: budget account lost: nothing is paid until it is rebuilt from the platform",
		slog.String("campaign", campaign), slog.String("billno", billno), slog.String("why", why))
	e := newError(http.StatusServiceUnavailable, "budget_unavailable", "red packets are not available at the moment",
		fmt.Errorf("%w: %s: %s", errBudgetLost, campaign, why))
	e.RetryAfter, e.Billno = retryAfterLost, billno
	return e
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

// OpenBudget opens campaign's account in the Store when it is not open,
// and returns it. A capped campaign's taps are refused (503
// budget_unavailable) until its account is open: call OpenBudget once,
// when the campaign is first configured, before its first tap. Never call
// it to get past a lost account (a flushed Redis, say): that would start a
// fresh count, and users paid before the loss would not be counted.
// Rebuild a lost account from the platform instead (RebuildBudget, or the
// operator's "hongbao budget -rebuild"). An account opened after grants
// were decided (as one opened again after a loss) refuses those grants'
// new numbers.
func (h *Handler) OpenBudget(ctx context.Context, campaign string) (store.BudgetState, error) {
	limit, ok := h.budgets[campaign]
	if !ok {
		return store.BudgetState{}, fmt.Errorf("claim: no budget is configured for campaign %q", campaign)
	}
	st, _, err := h.store.Budget(ctx, campaign, store.BudgetOp{Step: store.BudgetOpen, Limit: limit, At: h.now()})
	if err != nil {
		return store.BudgetState{}, fmt.Errorf("claim: opening the budget of %q: %w", campaign, err)
	}
	return st, nil
}
