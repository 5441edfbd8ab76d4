package middleware

import (
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/hongbao-go/hongbao"
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
		return "middleware: " + e.Code + ": " + e.Err.Error()
	}
	return "middleware: " + e.Code
}

func (e *HandlerError) Unwrap() error { return e.Err }

// StatusOf maps an error of a tap to the HTTP status and code the handler
// answers; adapters and custom error handlers use it to stay consistent:
//
//	*HandlerError                      its Status and Code
//	*Refusal / ErrRefused              403, the refusal's code ("refused")
//	hongbao.ErrInvalidRequest          500 policy_error (the server decided
//	                                   the grant: its mistake, not the client's)
//	every attempt closed               410 attempts_exhausted
//	outcome unknown (SYSTEMERROR or PROCESSING after retries, timeouts,
//	  unreadable replies)              503 outcome_unknown
//	FREQ_LIMIT after retries, or held
//	  back by the send rate (ErrThrottled) 503 rate_limited_upstream
//	NO_AUTH                            403 risk_control
//	SENDNUM_LIMIT, RCVDAMOUNT_LIMIT    403 user_limit_reached
//	FATAL_ERROR                        409 grant_conflict
//	NOTENOUGH, SENDAMOUNT_LIMIT, API_METHOD_CLOSED,
//	  PRODUCT_AUTHORITY_UNOPEN         503 merchant_unavailable
//	SEND_FAILED, PROCESSING then
//	  FAILED                           502 send_failed
//	CA_ERROR, SIGN_ERROR, XML_ERROR, PARAM_ERROR, MONEY_LIMIT,
//	  ILLEGAL_APPID, OPENID_ERROR, MSGAPPID_ERROR, ACCEPTMODE_ERROR,
//	  return_code FAIL, a TLS handshake
//	  refused (hongbao.ErrTLS)         502 platform_rejected
//	any other *hongbao.Error           502 platform_error
//	anything else                      500 internal_error
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
	writeIn(w, e.Status, e.Code, msg, lang)
}

func retryAfterSeconds(d time.Duration) string {
	s := (d + time.Second - 1) / time.Second
	return strconv.FormatInt(int64(max(s, 1)), 10)
}

func newError(status int, code, message string, err error) *HandlerError {
	return &HandlerError{Status: status, Code: code, Message: message, Err: err}
}

var (
	errInProgress = errors.New("middleware: another replica is sending this red packet")
	errNoUser     = errors.New("middleware: no authenticated user in the request context: mount the handler behind Authenticator.Middleware")
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
	if errors.Is(err, hongbao.ErrInvalidRequest) {
		return policyError(err)
	}
	var pe *hongbao.Error
	if errors.As(err, &pe) {
		return classifyPlatform(pe, err)
	}
	return newError(http.StatusInternalServerError, "internal_error", "internal error", err)
}

func classifyPlatform(pe *hongbao.Error, err error) *HandlerError {
	is := func(targets ...error) bool { return isAny(pe, targets...) }
	var e *HandlerError
	switch {
	case pe.Unknown:
		e = newError(http.StatusServiceUnavailable, "outcome_unknown", "the red packet is not confirmed yet; retry shortly", err)
		e.RetryAfter = retryAfterUnknown
	case is(hongbao.ErrFrequency, hongbao.ErrThrottled):
		e = newError(http.StatusServiceUnavailable, "rate_limited_upstream", "the payment platform is busy; retry shortly", err)
		e.RetryAfter = retryAfterUpstream
		if pe.RetryAfter > 0 {
			// The client held the send back: its turn comes after
			// RetryAfter. Spread the comebacks of a burst over twice
			// that, so they do not all return at once.
			e.RetryAfter = pe.RetryAfter + rand.N(pe.RetryAfter+1)
		}
	case is(hongbao.ErrNoAuth):
		e = newError(http.StatusForbidden, "risk_control", "the payment platform does not allow this user a red packet", err)
	case is(userLimitCodes...):
		e = newError(http.StatusForbidden, "user_limit_reached", "the daily red packet limit of this user is reached", err)
	case is(hongbao.ErrFatal):
		e = newError(http.StatusConflict, "grant_conflict", "this red packet was already granted on other terms", err)
	case is(merchantCodes...):
		e = newError(http.StatusServiceUnavailable, "merchant_unavailable", "red packets are not available at the moment", err)
	case is(hongbao.ErrSendFailed):
		e = newError(http.StatusBadGateway, "send_failed", "the red packet could not be sent", err)
	case is(hongbao.ErrCA, hongbao.ErrSign, hongbao.ErrXML, hongbao.ErrParam, hongbao.ErrMoneyLimit,
		hongbao.ErrIllegalAppID, hongbao.ErrOpenID, hongbao.ErrMsgAppID, hongbao.ErrAcceptMode, hongbao.ErrReturnFail, hongbao.ErrTLS):
		e = newError(http.StatusBadGateway, "platform_rejected", "the payment platform rejected the request", err)
	default:
		e = newError(http.StatusBadGateway, "platform_error", "the payment platform returned an error", err)
	}
	e.Billno = pe.Billno
	return e
}
