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
// PaidAt), an offer the user must still confirm lives as long as the
// platform keeps it open (waiting.go). Past it, a red packet is asked
// about when PaidAt is an estimate, when the grant allows re-claims, or
// when a budget counts the return: an estimate gets the platform's time,
// a payout returned gives the money back and moves a re-claimable grant
// to its next number, and one the user opened is already_received.
func (h *Handler) paid(ctx context.Context, run *grantRun, r store.Result, src string) (store.Result, string, bool, error) {
	now := h.now()
	if now.Sub(r.PaidAt) < h.claimWindow {
		return r, src, false, nil
	}
	if h.paidOnConfirmation() {
		return h.offerPastWindow(ctx, run, r, src, now)
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
		next, _, err := h.closedByPlatform(ctx, run, r.Billno, bill)
		return store.Result{}, "", next, err
	case bill.State == rail.Paid:
		// The user opened it: nothing left to open.
		return store.Result{}, "", false, h.received(ctx, run, r.Billno, bill)
	case !r.Exact && offered(bill.State) && !bill.At.IsZero():
		r.PaidAt, r.Exact = bill.At, true
		h.touch(ctx, r)
		if now.Sub(r.PaidAt) < h.claimWindow {
			return r, src, false, nil
		}
	}
	return store.Result{}, "", false, errExpired(r.Billno, "the platform reports "+bill.Status+" made at "+bill.At.Format(time.RFC3339))
}

// touch saves r, a success whose PaidAt or CheckedAt a query updated,
// under its number's lock and only while the Store still holds the number
// unsettled: a settlement recorded meanwhile (a notification, another
// replica's query) is never written over. When the lock is busy, or the
// Store fails, nothing is saved; the next tap asks again.
func (h *Handler) touch(ctx context.Context, r store.Result) {
	st := h.shared()
	if st != h.store {
		return // the Store fails: nothing kept in this process for it
	}
	release, ok, err := st.TryLock(ctx, r.Billno, h.lockTTL)
	if err != nil || !ok {
		return
	}
	defer release()
	if cur, found := h.lookup(ctx, r.Billno); found && !cur.Paid() {
		return
	}
	h.save(ctx, r.Billno, r)
}
