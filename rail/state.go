package rail

import (
	"errors"
	"time"
)

// State is where a bill number stands, in the terms the claim handler acts
// on. Query reports the first eight (a Bill's State); Send's failures carry
// any of them but Pending, Waiting and NotFound (an *Error's State). The
// values are stable strings: a Store keeps the closing ones (Closed,
// Returned, Cancelled, Paid) in its records.
//
//	state            red packet (v2)                   transfer (v3)                 the handler
//	Unknown          timeouts, SYSTEMERROR, unreadable  timeouts, 5xx, unverifiable   same number again later, never a new one
//	NotFound         gethbinfo NOT_FOUND               404 NOT_FOUND                  sending the same number is safe
//	Pending          SENDING, RFUND_ING                ACCEPTED, PROCESSING,          same number; nothing moves
//	                                                   TRANSFERING, CANCELING
//	Waiting          SENT                              WAIT_USER_CONFIRM              offered: repeat taps answer the stored material
//	Paid             RECEIVED                          SUCCESS                        the user has it
//	Closed           FAILED                            FAIL                           closed, no money moved: next attempt
//	Returned         REFUND                            FAIL OVERDUE_CLOSE             money came back: next attempt with re-claims
//	Cancelled        -                                 CANCELLED                      as Returned: next attempt with re-claims
//	Conflict         FATAL_ERROR                       400 INVALID_REQUEST (number    the platform's terms are read back and sent
//	                                                   reused with other terms)
//	Failed           SEND_FAILED                       -                              refused: ask Query whether it closed
//	RefusedMerchant  NOTENOUGH, SENDAMOUNT_LIMIT,      403 NOT_ENOUGH, 403 NO_AUTH    same number after the operator acts; new
//	                 API_METHOD_CLOSED,                                               numbers wait (the merchant gate)
//	                 PRODUCT_AUTHORITY_UNOPEN
//	RefusedUser      SENDNUM_LIMIT, RCVDAMOUNT_LIMIT   the user's daily limits        same number on a later tap
//	RefusedRisk      NO_AUTH                           -                              same number on a later tap
//	Throttled        FREQ_LIMIT, held back by pacing   429 FREQUENCY_LIMITED          nothing sent that counts: same number
//	Rejected         CA_ERROR, SIGN_ERROR, PARAM_ERROR, 400 PARAM_ERROR, 401          configuration: nothing moves
//	                 XML_ERROR, MONEY_LIMIT, ...       SIGN_ERROR
//	Invalid          a payout the rail refuses before any call                        the policy's mistake (500)
//	Unrecognized     a code the rail does not know, a failure before anything was sent   nothing moves
type State string

// The states. The zero State is Unknown.
const (
	Unknown         State = ""
	NotFound        State = "not_found"
	Pending         State = "pending"
	Waiting         State = "waiting"
	Paid            State = "paid"
	Closed          State = "closed"
	Returned        State = "returned"
	Cancelled       State = "cancelled"
	Conflict        State = "conflict"
	Failed          State = "failed"
	RefusedMerchant State = "refused_merchant"
	RefusedUser     State = "refused_user"
	RefusedRisk     State = "refused_risk"
	Throttled       State = "throttled"
	Rejected        State = "rejected"
	Invalid         State = "invalid"
	Unrecognized    State = "unrecognized"
)

// Final reports whether s closes the number for good (Paid, Closed,
// Returned, Cancelled): the platform will not pay it (again).
func (s State) Final() bool {
	switch s {
	case Paid, Closed, Returned, Cancelled:
		return true
	}
	return false
}

// Refused reports whether s is a definitive refusal of a send that the
// platform may lift once someone acted (RefusedMerchant, RefusedUser,
// RefusedRisk): the same number is sent again on a later tap.
func (s State) Refused() bool {
	return s == RefusedMerchant || s == RefusedUser || s == RefusedRisk
}

// Error is a Send or Query that did not pay: what the platform answered,
// in the handler's terms. Err is the rail's own error (for the red packet a
// *hongbao.Error), so that errors.Is and errors.As reach its sentinels.
type Error struct {
	State  State
	Billno string // the bill number the call was about
	// Code is the platform's code (err_code; the v3 error code), for logs,
	// metrics and operators; empty when there was none.
	Code string
	// RetryAfter, when positive, is when a send may be tried again (a send
	// the rail held back for the merchant's send rate).
	RetryAfter time.Duration
	Err        error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Err.Error()
	}
	msg := "rail: " + string(e.State)
	if e.State == Unknown {
		msg = "rail: outcome unknown"
	}
	if e.Code != "" {
		msg += ": " + e.Code
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// A StateError is an error of a rail's own type that knows its State (the
// red packet's *hongbao.Error does), for code that meets it unwrapped.
type StateError interface {
	error
	RailState() State
}

// Classify returns the State of err: that of the *Error it wraps, else that
// of the first StateError in its chain; ok is false when err carries
// neither.
func Classify(err error) (s State, ok bool) {
	var e *Error
	if errors.As(err, &e) {
		return e.State, true
	}
	var se StateError
	if errors.As(err, &se) {
		return se.RailState(), true
	}
	return Unknown, false
}

// StateOf is Classify's State, Unrecognized for a non-nil error that
// carries none, and Unknown for nil.
func StateOf(err error) State {
	if err == nil {
		return Unknown
	}
	if s, ok := Classify(err); ok {
		return s
	}
	return Unrecognized
}
