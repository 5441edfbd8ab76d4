package claim

import (
	"context"
	"time"

	"github.com/hongbao-go/hongbao/rail"
	"github.com/hongbao-go/hongbao/store"
)

// Offers that wait for the user: on a rail whose payouts the user must
// still confirm (rail.ConfirmedPayout: the transfer's WAIT_USER_CONFIRM),
// a successful send is an offer, not a payment. The handler stores and
// answers it like the red packet's package (every repeat tap, on any
// replica, answers the same stored package_info, and no new bill is
// made), but its budget entry stays reserved until the platform reports
// the number Paid (notify.go, or a query), and is then committed with the
// amount the platform reports. The platform closes an unconfirmed bill
// itself (24 hours after it made it, sometimes later), so past ClaimWindow
// the handler never answers 410 on its own clock: it asks the platform
// (at most every recheckAfter per number) and its word decides.

// paidOnConfirmation reports whether the handler's rail pays on the user's
// confirmation.
func (h *Handler) paidOnConfirmation() bool { return rail.PaidOnConfirmation(h.rail) }

// commitOffer commits a successful send's amount to the budget when the
// money left with the send (the red packet); an offer waiting for the
// user's confirmation stays reserved.
func (h *Handler) commitOffer(ctx context.Context, run *grantRun, r store.Result) {
	if !h.paidOnConfirmation() {
		h.commit(ctx, run, r)
	}
}

// offerPastWindow answers a tap on the offer r past ClaimWindow from what
// the platform reports of it: still waiting for the user, or being
// confirmed or cancelled (Pending), the stored answer again; Paid,
// already_received (recorded and committed); closed, returned or
// cancelled, the number is closed and released and the walk moves on as
// after any such report. Without an answer from the platform, the tap is
// answered the error (503), never 410.
func (h *Handler) offerPastWindow(ctx context.Context, run *grantRun, r store.Result, src string, now time.Time) (store.Result, string, bool, error) {
	if !r.CheckedAt.IsZero() && now.Sub(r.CheckedAt) < recheckAfter && !now.Before(r.CheckedAt) {
		return r, src, false, nil // asked lately: still open
	}
	bill, err := h.query(ctx, r.Billno)
	if err != nil {
		return store.Result{}, "", false, err
	}
	if next, settled, err := h.closedByPlatform(ctx, run, r.Billno, bill); settled {
		return store.Result{}, "", next, err
	}
	switch bill.State {
	case rail.Paid:
		return store.Result{}, "", false, h.received(ctx, run, r.Billno, bill)
	case rail.Waiting, rail.Pending:
		r.CheckedAt = now
		if !r.Exact && !bill.At.IsZero() {
			r.PaidAt, r.Exact = bill.At, true
		}
		h.touch(ctx, r)
		return r, src, false, nil
	}
	return store.Result{}, "", false, errExpired(r.Billno, "the platform reports "+bill.Status)
}

// received records that the platform reports billno paid to the user,
// with nothing left to open: the number closed Paid and the amount the
// platform reports (else the terms') committed. It returns the 410.
func (h *Handler) received(ctx context.Context, run *grantRun, billno string, bill rail.Bill) error {
	amount := bill.Payout.Amount
	if amount <= 0 {
		amount = run.terms.Amount
	}
	h.remember(ctx, run, billno, store.Result{Closed: rail.Paid, Amount: amount})
	h.commit(ctx, run, store.Result{Billno: billno, Amount: amount})
	return errReceived(billno)
}

// campaignOf names the budget account of the run's grant, "" when it has
// none: stored with each result, so that a notification settles it.
func (h *Handler) campaignOf(run *grantRun) string {
	if c, _, ok := h.budgetOf(run.grant); ok {
		return c
	}
	return ""
}

// Waiting reports whether r is an offer of this handler's rail still
// waiting for the user's confirmation, as far as the Store knows: a
// result with its answer material, not settled, on a rail that pays on
// confirmation (the transfer's WAIT_USER_CONFIRM bills). These are the
// numbers to cancel at a campaign's end (Cancel).
func (h *Handler) Waiting(r store.Result) bool {
	return r.Paid() && (r.Rail == h.railName) && h.paidOnConfirmation()
}
