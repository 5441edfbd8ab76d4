package claim

import (
	"context"
	"errors"
	"time"

	"github.com/hongbao-go/hongbao"
	"github.com/hongbao-go/hongbao/store"
)

// The claim window follows the platform's: a packet can be opened for
// ClaimWindow (24 hours) after the platform sent it. PaidAt is when that
// was: the start of the send that paid, or gethbinfo's send_time when the
// handler learnt it from there, so a packet paid late (a day after a
// refusal, say) is fresh for its whole window. When an earlier send of the
// number lost its reply, the packet may date from that send: gethbinfo's
// send_time is asked then, and until it answers PaidAt is that send's
// start, an estimate (Result.Exact false). Before answering 410 for an
// estimate, the handler asks the platform.

// stamp sets PaidAt of r, a success of run's current number.
func (h *Handler) stamp(ctx context.Context, run *grantRun, r *store.Result) {
	switch {
	case !run.sentAt.IsZero():
		r.PaidAt, r.Exact = run.sentAt, true
	case !run.lostAt.IsZero():
		// The packet may be the lost send's: its time is the platform's.
		r.PaidAt, r.Exact = run.lostAt, false
		if info, err := h.query(ctx, r.Billno); err == nil && info.Status.Paid() && !info.SendTime.IsZero() {
			r.PaidAt, r.Exact = info.SendTime, true
		}
	default:
		r.PaidAt, r.Exact = run.sendStart, true
	}
}

// paid answers a stored success within its claim window. Past it (by
// PaidAt), the platform is asked when PaidAt is an estimate, when the
// grant allows re-claims, or when a budget counts the refund: an estimate
// gets the platform's send_time, and REFUND gives the money back and
// moves a re-claimable grant to its next number.
func (h *Handler) paid(ctx context.Context, run *grantRun, r store.Result, src string) (store.Result, string, bool, error) {
	now := h.now()
	if now.Sub(r.PaidAt) < h.claimWindow {
		return r, src, false, nil
	}
	_, _, counted := h.budgetOf(run.grant)
	if r.Exact && !run.grant.Reclaim && !counted {
		return store.Result{}, "", false, errExpired(r.Billno, "paid at "+r.PaidAt.Format(time.RFC3339))
	}
	info, err := h.query(ctx, r.Billno)
	switch {
	case err != nil && (r.Exact || errors.Is(err, hongbao.ErrNotFound)):
		return store.Result{}, "", false, errExpired(r.Billno, "gethbinfo: "+err.Error())
	case err != nil:
		// No 410 on an estimate without the platform's word.
		return store.Result{}, "", false, err
	case info.Status == hongbao.StatusRefunded:
		h.close(ctx, run, r.Billno, info.Status, "", time.Time{})
		if !run.grant.Reclaim {
			return store.Result{}, "", false, errExpired(r.Billno, "the platform refunded it")
		}
		return store.Result{}, "", true, nil
	case !r.Exact && info.Status.Paid() && !info.SendTime.IsZero():
		r.PaidAt, r.Exact = info.SendTime, true
		h.save(ctx, r.Billno, r)
		if now.Sub(r.PaidAt) < h.claimWindow {
			return r, src, false, nil
		}
	}
	return store.Result{}, "", false, errExpired(r.Billno, "the platform reports "+string(info.Status)+" sent at "+info.SendTime.Format(time.RFC3339))
}
