package main

import (
	"context"
	"slices"

	"github.com/hongbao-go/hongbao/rail"
	"github.com/hongbao-go/hongbao/store"
)

// Transfer bills in reconcile: the platform column is the bill's state
// (WAIT_USER_CONFIRM, SUCCESS, FAIL, CANCELLED, ACCEPTED, PROCESSING,
// TRANSFERING, CANCELING) or NOT_FOUND, with fail_reason in the detail;
// the stored column says "offered" for an offer the Store holds (its
// package_info) and closed:SUCCESS, closed:FAIL, closed:OVERDUE_CLOSE or
// closed:CANCELLED for a final state it recorded.

// storedOffered is the stored column of a transfer bill offered to the
// user: the Store holds its package_info, and no final state.
const storedOffered = "offered"

// describeTransfer is the stored column of a transfer bill's result.
func describeTransfer(res store.Result) string {
	switch {
	case res.Closed != "":
		return "closed:" + transferWord(res.Closed)
	case res.Paid():
		return storedOffered
	case res.Refused != "":
		return "refused:" + res.Refused
	}
	return storedPending
}

// transferWord is the platform's word for a final state the Store keeps.
func transferWord(s rail.State) string {
	switch s {
	case rail.Paid:
		return "SUCCESS"
	case rail.Closed:
		return "FAIL"
	case rail.Returned:
		return "OVERDUE_CLOSE"
	case rail.Cancelled:
		return "CANCELLED"
	}
	return string(s)
}

// checkTransfer asks the platform about the transfer bill of r (whose
// Store side is filled in, prev its stored result) and judges it; with
// -resolve, it records a final state the Store does not know, as a
// notification would. ok is false when ctx ended first.
func (rc *reconciler) checkTransfer(ctx context.Context, r row, prev store.Result) (row, bool) {
	if rc.transfers == nil {
		r.platform, r.verdict = "error", verdictError
		r.note("a transfer bill: %s", rc.noTransfers)
		return r, true
	}
	if err := rc.limiter.Wait(ctx); err != nil {
		return r, false
	}
	bill, err := rc.transfers.Query(ctx, r.billno)
	if err != nil {
		if ctx.Err() != nil {
			return r, false
		}
		r.platform, r.verdict = "error", verdictError
		r.note("query: %v", err)
		return r, true
	}
	r.platform, r.platformAmount, r.sendTime = bill.Status, bill.Payout.Amount, bill.At
	if bill.Reason != "" {
		r.note("platform: %s", bill.Reason)
	}
	if bill.State == rail.Closed || bill.State == rail.Returned || bill.State == rail.Cancelled {
		r.closed = true
	}
	r.verdict = judgeTransfer(r.stored, prev, bill)
	if bill.State == rail.Unknown {
		r.note("a state this version does not know")
	}
	if rc.resolve && (r.verdict == verdictClosed || r.verdict == verdictConfirmed) {
		rc.resolveTransfer(ctx, &r, bill)
	}
	return r, true
}

// judgeTransfer is the verdict of a transfer bill from what the Store
// holds (stored, prev) and where the platform says it stands.
func judgeTransfer(stored string, prev store.Result, bill rail.Bill) string {
	if stored == storedUnreadable {
		return verdictError
	}
	st := bill.State
	if stored == storedNoStore {
		// Only the platform's side: what it means for the grant.
		switch st {
		case rail.NotFound:
			return verdictNotSent
		case rail.Waiting:
			return verdictWaiting
		case rail.Pending:
			return verdictPending
		case rail.Paid:
			return verdictPaid
		case rail.Closed, rail.Returned, rail.Cancelled:
			return verdictClosed
		}
		return verdictMismatch
	}
	final := prev.Closed
	switch st {
	case rail.NotFound:
		if prev.Paid() || final != "" {
			return verdictMismatch
		}
		return verdictNotSent
	case rail.Waiting:
		if final != "" {
			return verdictMismatch
		}
		return verdictWaiting
	case rail.Pending:
		if final != "" {
			return verdictMismatch
		}
		return verdictPending
	case rail.Paid:
		switch final {
		case rail.Paid:
			return verdictOK
		case "":
			return verdictConfirmed
		}
		return verdictMismatch
	case rail.Closed, rail.Returned, rail.Cancelled:
		switch final {
		case st:
			return verdictOK
		case "":
			return verdictClosed
		}
		return verdictMismatch
	}
	return verdictMismatch
}

// resolveTransfer records the final state the platform reported for r's
// bill as the services record a notification of it (claim.Handler.Settle:
// under the number's lock, forward only, its budget committed on SUCCESS
// and released otherwise), and says what the Store then holds.
func (rc *reconciler) resolveTransfer(ctx context.Context, r *row, bill rail.Bill) {
	if err := rc.settler.Settle(ctx, r.billno, bill); err != nil {
		r.verdict = verdictError
		r.note("-resolve: %v", err)
		return
	}
	cur, have, err := rc.store.Result(ctx, r.billno)
	if err != nil || !have {
		r.verdict = verdictError
		r.note("-resolve: reading the Store again: %v", err)
		return
	}
	r.stored = describeTransfer(cur)
	if cur.Closed != bill.State {
		r.verdict = judgeTransfer(r.stored, cur, bill)
		r.note("-resolve: the Store was updated meanwhile; it keeps its state")
		return
	}
	r.verdict = verdictResolved
	r.note("-resolve: wrote %s", r.stored)
	if slices.Contains(rc.budgets, cur.Campaign) {
		step := "released from"
		if bill.State == rail.Paid {
			step = "committed to"
		}
		r.note("-resolve: %s the budget of %s", step, cur.Campaign)
	}
}
