package claim

import (
	"context"

	"github.com/hongbao-go/hongbao/rail"
	"github.com/hongbao-go/hongbao/store"
)

// Offers that wait for the user: on a rail whose payouts the user must
// still confirm (rail.ConfirmedPayout: the transfer's WAIT_USER_CONFIRM),
// a successful send is an offer, not a payment. The handler stores and
// answers it like the red packet's package (every repeat tap, on any
// replica, answers the same stored package_info, and no new bill is
// made), but its budget entry stays reserved until the platform reports
// the number Paid (notify.go, or a query), and a tap after ClaimWindow
// asks the platform before answering, since the bill stays open until the
// platform closes it.

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

// stillOffered answers a tap after ClaimWindow from what the platform
// reports of the offered number r: Paid, the user has it (recorded,
// committed, and answered already_received); Waiting on a rail that pays
// on confirmation, the offer is still open (the stored answer again). ok
// is false when neither applies.
func (h *Handler) stillOffered(ctx context.Context, run *grantRun, r store.Result, bill rail.Bill) (res store.Result, ok bool, err error) {
	switch {
	case bill.State == rail.Paid:
		h.remember(ctx, run, r.Billno, store.Result{Closed: rail.Paid})
		h.commit(ctx, run, r)
		return store.Result{}, true, errReceived(r.Billno)
	case bill.State == rail.Waiting && h.paidOnConfirmation():
		return r, true, nil
	}
	return store.Result{}, false, nil
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
