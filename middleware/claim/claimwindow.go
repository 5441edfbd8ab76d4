package claim

import (
	"context"
	"time"

	"github.com/hongbao-go/hongbao/rail"
	"github.com/hongbao-go/hongbao/store"
)

// The claim window follows the platform's: a payout can be opened for
// ClaimWindow (24 hours) after the platform made it. PaidAt is when that
// was: the start of the send that paid, or the platform's own time (the
// send's answer, a query), so a payout made late (a day after a refusal,
// say) is fresh for its whole window. When an earlier send of the number
// lost its reply, the payout may date from that send: the platform is
// asked for its time then, and until it answers PaidAt is that send's
// start, an estimate (Result.Exact false). Before answering 410 for an
// estimate, the handler asks the platform.

// stamp sets PaidAt of r, a success of run's current number.
func (h *Handler) stamp(ctx context.Context, run *grantRun, r *store.Result) {
	switch {
	case !run.sentAt.IsZero():
		r.PaidAt, r.Exact = run.sentAt, true
	case !run.lostAt.IsZero():
		// The payout may be the lost send's: its time is the platform's.
		r.PaidAt, r.Exact = run.lostAt, false
		if bill, err := h.query(ctx, r.Billno); err == nil && offered(bill.State) && !bill.At.IsZero() {
			r.PaidAt, r.Exact = bill.At, true
		}
	default:
		r.PaidAt, r.Exact = run.sendStart, true
	}
}

// offered reports whether a number in state st holds a payout the
// platform made (being made, offered, or taken).
func offered(st rail.State) bool {
	return st == rail.Pending || st == rail.Waiting || st == rail.Paid
}

// paid answers a stored success within its claim window. Past it (by
// PaidAt), the platform is asked when PaidAt is an estimate, when the
// grant allows re-claims, or when a budget counts the return: an estimate
// gets the platform's time, and a payout returned or cancelled gives the
// money back and moves a re-claimable grant to its next number.
func (h *Handler) paid(ctx context.Context, run *grantRun, r store.Result, src string) (store.Result, string, bool, error) {
	now := h.now()
	if now.Sub(r.PaidAt) < h.claimWindow {
		return r, src, false, nil
	}
	_, _, counted := h.budgetOf(run.grant)
	if r.Exact && !run.grant.Reclaim && !counted {
		return store.Result{}, "", false, errExpired(r.Billno, "paid at "+r.PaidAt.Format(time.RFC3339))
	}
	bill, err := h.query(ctx, r.Billno)
	switch {
	case err != nil && r.Exact:
		return store.Result{}, "", false, errExpired(r.Billno, "query: "+err.Error())
	case err != nil:
		// No 410 on an estimate without the platform's word.
		return store.Result{}, "", false, err
	case bill.State == rail.Returned || bill.State == rail.Cancelled:
		h.close(ctx, run, r.Billno, bill.State, refusal{})
		if !run.grant.Reclaim {
			return store.Result{}, "", false, errExpired(r.Billno, "the platform reports it "+bill.Status)
		}
		return store.Result{}, "", true, nil
	case bill.State == rail.Paid || bill.State == rail.Waiting:
		// The user has it, or may still confirm it (waiting.go).
		if res, ok, err := h.stillOffered(ctx, run, r, bill); ok {
			return res, src, false, err
		}
		if !r.Exact && !bill.At.IsZero() {
			return h.estimated(ctx, run, r, src, bill, now)
		}
	case !r.Exact && offered(bill.State) && !bill.At.IsZero():
		return h.estimated(ctx, run, r, src, bill, now)
	}
	return store.Result{}, "", false, errExpired(r.Billno, "the platform reports "+bill.Status+" made at "+bill.At.Format(time.RFC3339))
}

// estimated replaces an estimated PaidAt with the platform's time of the
// payout and answers it when that time is within the claim window.
func (h *Handler) estimated(ctx context.Context, run *grantRun, r store.Result, src string, bill rail.Bill, now time.Time) (store.Result, string, bool, error) {
	r.PaidAt, r.Exact = bill.At, true
	h.save(ctx, r.Billno, r)
	if now.Sub(r.PaidAt) < h.claimWindow {
		return r, src, false, nil
	}
	return store.Result{}, "", false, errExpired(r.Billno, "the platform reports "+bill.Status+" made at "+bill.At.Format(time.RFC3339))
}
