package claim

import (
	"fmt"
	"time"

	"github.com/hongbao-go/hongbao/rail"
	"github.com/hongbao-go/hongbao/store"
)

// A user's own refusals (rail.RefusedUser: the red packet's SENDNUM_LIMIT,
// RCVDAMOUNT_LIMIT, the user's daily limits; rail.RefusedRisk: NO_AUTH)
// hold for the rest of the platform's day, which ends at midnight in
// Beijing. Until then the grant sends nothing: taps are answered 403
// (user_limit_reached, risk_control) with a Retry-After until the next
// day, so that a user tapping on cannot close the grant's numbers one
// after another. The next day the grant sends again: the same number
// (which the platform may pay), or, when the platform recorded the refusal
// (the number closed), the next one. A limit costs a grant at most one
// number a day.

// beijing is the platform's time zone.
var beijing = time.FixedZone("CST", 8*3600)

// limitEnds returns when the user's limit met at t ends: the next
// midnight in Beijing.
func limitEnds(t time.Time) time.Time {
	y, m, d := t.In(beijing).Date()
	return time.Date(y, m, d+1, 0, 0, 0, 0, beijing)
}

// userRefusal reports whether st is a refusal of the user's own.
func userRefusal(st rail.State) bool { return st == rail.RefusedUser || st == rail.RefusedRisk }

// userWait holds a send back while the user's own limit holds: the
// number's own refusal (known) or, for a new number, the refusal that
// closed the one before it.
func (h *Handler) userWait(run *grantRun, prev store.Result, known bool) error {
	var r store.Result
	switch {
	case known && userRefusal(refusalOf(prev)):
		r = prev
	case !known && len(run.closed) > 0 && userRefusal(refusalOf(run.closed[len(run.closed)-1])):
		r = run.closed[len(run.closed)-1]
	default:
		return nil
	}
	ends, now := limitEnds(r.At), h.now()
	if !now.Before(ends) {
		return nil
	}
	return userLimited(run.billno, refusalOf(r), ends.Sub(now),
		fmt.Errorf("claim: %s was refused %s at %s; the user's limit holds until %s",
			r.Billno, r.Refused, r.At.In(beijing).Format(time.DateTime), ends.Format(time.DateTime)))
}

// userLimited is the answer while the user's own limit holds: the answer
// to the refusal st (rail.RefusedUser or RefusedRisk), with a Retry-After.
func userLimited(billno string, st rail.State, wait time.Duration, cause error) *HandlerError {
	e := classifyRail(st, cause)
	e.RetryAfter, e.Billno = max(wait, time.Second), billno
	return e
}
