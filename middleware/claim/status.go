package claim

import (
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/hongbao-go/hongbao/middleware/httperr"
	"github.com/hongbao-go/hongbao/rail"
)

// HandlerError is how the handler answers a failed tap; ErrorHandler
// receives one. Status, Code and Message are what the client gets (Message
// is a fixed text, never the platform's words or a secret); Err is the
// cause, for logs and errors.Is (hongbao.ErrNotEnough, ErrRefused, ...).
type HandlerError struct {
	Status     int
	Code       string
	Message    string
	RetryAfter time.Duration // > 0: sent as Retry-After, in whole seconds rounded up
	Billno     string        // "" when not derived yet
	Err        error
}

func (e *HandlerError) Error() string {
	if e.Err != nil {
		return "claim: " + e.Code + ": " + e.Err.Error()
	}
	return "claim: " + e.Code
}

func (e *HandlerError) Unwrap() error { return e.Err }

// StatusOf maps an error of a tap to the HTTP status and code the handler
// answers; adapters and custom error handlers use it to stay consistent.
// Platform errors are mapped by their rail.State (rail.Classify: a
// *rail.Error, or a rail's own error such as *hongbao.Error):
//
//	*HandlerError                      its Status and Code
//	*Refusal / ErrRefused              403, the refusal's code ("refused")
//	rail.Invalid                       500 policy_error (the server decided
//	                                   the grant: its mistake, not the client's)
//	every attempt closed               410 attempts_exhausted
//	rail.Unknown                       503 outcome_unknown (may have paid)
//	rail.Throttled                     503 rate_limited_upstream
//	rail.RefusedRisk                   403 risk_control
//	rail.RefusedUser                   403 user_limit_reached
//	rail.Conflict                      409 grant_conflict
//	rail.RefusedMerchant               503 merchant_unavailable
//	rail.Failed, rail.Closed           502 send_failed
//	rail.Paid                          410 already_received
//	rail.Rejected                      502 platform_rejected
//	rail.Unrecognized, other states    502 platform_error
//	anything else                      500 internal_error
//
// For the red packet: SYSTEMERROR or PROCESSING after retries, timeouts and
// unreadable replies are Unknown; FREQ_LIMIT and hongbao.ErrThrottled
// Throttled; NO_AUTH RefusedRisk; SENDNUM_LIMIT and RCVDAMOUNT_LIMIT
// RefusedUser; FATAL_ERROR Conflict; NOTENOUGH, SENDAMOUNT_LIMIT,
// API_METHOD_CLOSED and PRODUCT_AUTHORITY_UNOPEN RefusedMerchant;
// SEND_FAILED (and PROCESSING then FAILED) Failed (Closed); CA_ERROR,
// SIGN_ERROR, XML_ERROR, PARAM_ERROR, MONEY_LIMIT, ILLEGAL_APPID,
// OPENID_ERROR, MSGAPPID_ERROR, ACCEPTMODE_ERROR and return_code FAIL
// Rejected, and so is a refused TLS handshake (hongbao.ErrTLS; see
// hongbao.Error.RailState).
//
// A nil error gives 200 and "".
func StatusOf(err error) (status int, code string) {
	if err == nil {
		return http.StatusOK, ""
	}
	e := classify(err)
	return e.Status, e.Code
}

// DefaultSendErrorHandler is the handler's ErrorHandler when
// HandlerConfig.ErrorHandler is nil; custom handlers may call it after
// logging. It writes the JSON body {"code", "message"} with WriteError,
// the status of StatusOf and, for the answers that carry one, Retry-After.
// The message is in the language the request prefers (see Localize),
// except a Policy's own Refusal message, which is sent as it is.
func DefaultSendErrorHandler(w http.ResponseWriter, r *http.Request, err error) {
	e := classify(err)
	if e.RetryAfter > 0 && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", retryAfterSeconds(e.RetryAfter))
	}
	msg, lang := handlerMessage(r, e)
	httperr.WriteIn(w, e.Status, e.Code, msg, lang)
}

func retryAfterSeconds(d time.Duration) string {
	s := (d + time.Second - 1) / time.Second
	return strconv.FormatInt(int64(max(s, 1)), 10)
}

func newError(status int, code, message string, err error) *HandlerError {
	return &HandlerError{Status: status, Code: code, Message: message, Err: err}
}

var (
	errInProgress = errors.New("claim: another replica is sending this red packet")
	errNoUser     = errors.New("claim: no authenticated user in the request context: mount the handler behind Authenticator.Middleware")
)

// classify returns the answer to err.
func classify(err error) *HandlerError {
	var he *HandlerError
	if errors.As(err, &he) {
		return he
	}
	var ref *Refusal
	if errors.As(err, &ref) {
		return newError(http.StatusForbidden, ref.code(), ref.message(), err)
	}
	if errors.Is(err, ErrRefused) {
		return newError(http.StatusForbidden, "refused", (*Refusal)(nil).message(), err)
	}
	if st, ok := rail.Classify(err); ok {
		return classifyRail(st, err)
	}
	return newError(http.StatusInternalServerError, "internal_error", "internal error", err)
}

// classifyRail answers a platform's failure in state st.
func classifyRail(st rail.State, err error) *HandlerError {
	var e *HandlerError
	switch st {
	case rail.Invalid:
		return policyError(err)
	case rail.Unknown:
		e = newError(http.StatusServiceUnavailable, "outcome_unknown", "the red packet is not confirmed yet; retry shortly", err)
		e.RetryAfter = retryAfterUnknown
	case rail.Throttled:
		e = newError(http.StatusServiceUnavailable, "rate_limited_upstream", "the payment platform is busy; retry shortly", err)
		e.RetryAfter = retryAfterUpstream
		if wait := railRetryAfter(err); wait > 0 {
			// The rail held the send back: its turn comes after
			// RetryAfter. Spread the comebacks of a burst over twice
			// that, so they do not all return at once.
			e.RetryAfter = wait + rand.N(wait+1)
		}
	case rail.RefusedRisk:
		e = newError(http.StatusForbidden, "risk_control", "the payment platform does not allow this user a red packet", err)
	case rail.RefusedUser:
		e = newError(http.StatusForbidden, "user_limit_reached", "the daily red packet limit of this user is reached", err)
	case rail.Conflict:
		e = newError(http.StatusConflict, "grant_conflict", "this red packet was already granted on other terms", err)
	case rail.RefusedMerchant:
		e = newError(http.StatusServiceUnavailable, "merchant_unavailable", "red packets are not available at the moment", err)
	case rail.Failed, rail.Closed:
		e = newError(http.StatusBadGateway, "send_failed", "the red packet could not be sent", err)
	case rail.Paid:
		e = newError(http.StatusGone, "already_received", "the red packet was already received", err)
	case rail.Rejected:
		e = newError(http.StatusBadGateway, "platform_rejected", "the payment platform rejected the request", err)
	default:
		e = newError(http.StatusBadGateway, "platform_error", "the payment platform returned an error", err)
	}
	e.Billno = railBillno(err)
	return e
}

// railRetryAfter is the RetryAfter of the *rail.Error in err's chain.
func railRetryAfter(err error) time.Duration {
	var re *rail.Error
	if errors.As(err, &re) {
		return re.RetryAfter
	}
	return 0
}

// railBillno is the bill number of the *rail.Error in err's chain.
func railBillno(err error) string {
	var re *rail.Error
	if errors.As(err, &re) {
		return re.Billno
	}
	return ""
}

// railCode is the platform's code of the *rail.Error in err's chain.
func railCode(err error) string {
	var re *rail.Error
	if errors.As(err, &re) {
		return re.Code
	}
	return ""
}

// handlerMessage is the message of a handler's answer e in the language of
// r: a Policy's own refusal text is sent as the policy wrote it; the
// generic text of a refusal without one is the catalogue's "refused".
func handlerMessage(r *http.Request, e *HandlerError) (string, httperr.Language) {
	lang := httperr.PreferredLanguage(r)
	var ref *Refusal
	switch {
	case errors.As(e.Err, &ref) && ref != nil && ref.Message != "":
		return e.Message, ""
	case errors.Is(e.Err, ErrRefused):
		return httperr.LocalizeTo(lang, "refused", e.Message)
	}
	return httperr.LocalizeTo(lang, e.Code, e.Message)
}
