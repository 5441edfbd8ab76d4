package hongbao

import (
	"errors"
	"strings"
	"time"
)

// Sentinels for every err_code of the platform's table, matched with
// errors.Is against an *Error.
var (
	ErrSystem                 = errors.New("hongbao: SYSTEMERROR: accepted, outcome unknown")
	ErrProcessing             = errors.New("hongbao: PROCESSING: still being processed")
	ErrFrequency              = errors.New("hongbao: FREQ_LIMIT: rate limited")
	ErrSendFailed             = errors.New("hongbao: SEND_FAILED: the send failed")
	ErrFatal                  = errors.New("hongbao: FATAL_ERROR: the bill number was used with another openid or amount")
	ErrNoAuth                 = errors.New("hongbao: NO_AUTH: the user is blocked by risk control")
	ErrSendNumLimit           = errors.New("hongbao: SENDNUM_LIMIT: the user's daily count is reached")
	ErrReceivedAmountLimit    = errors.New("hongbao: RCVDAMOUNT_LIMIT: the user's daily amount is reached")
	ErrSendAmountLimit        = errors.New("hongbao: SENDAMOUNT_LIMIT: the merchant's daily amount is reached")
	ErrMoneyLimit             = errors.New("hongbao: MONEY_LIMIT: the amount is out of the allowed range")
	ErrIllegalAppID           = errors.New("hongbao: ILLEGAL_APPID: the appid is wrong or not bound to the merchant")
	ErrOpenID                 = errors.New("hongbao: OPENID_ERROR: the openid does not belong to the appid")
	ErrMsgAppID               = errors.New("hongbao: MSGAPPID_ERROR: msgappid is wrong")
	ErrAcceptMode             = errors.New("hongbao: ACCEPTMODE_ERROR: the service provider relation is wrong")
	ErrCA                     = errors.New("hongbao: CA_ERROR: certificate problem")
	ErrSign                   = errors.New("hongbao: SIGN_ERROR: signature problem")
	ErrXML                    = errors.New("hongbao: XML_ERROR: XML problem")
	ErrParam                  = errors.New("hongbao: PARAM_ERROR: parameter problem")
	ErrAPIMethodClosed        = errors.New("hongbao: API_METHOD_CLOSED: payouts are switched off")
	ErrNotEnough              = errors.New("hongbao: NOTENOUGH: the merchant's balance is too low")
	ErrProductAuthorityUnopen = errors.New("hongbao: PRODUCT_AUTHORITY_UNOPEN: the product is not enabled")
	ErrNotFound               = errors.New("hongbao: NOT_FOUND: no such red packet (yet)")

	// ErrOutcomeUnknown matches every error after which the platform may
	// or may not have paid: the same bill number must be sent again (or
	// queried), never a new one.
	ErrOutcomeUnknown = errors.New("hongbao: outcome unknown")
	// ErrReturnFail matches every return_code=FAIL reply; one that carries
	// an err_code matches that code's sentinel too.
	ErrReturnFail = errors.New("hongbao: return_code FAIL")
)

var sentinels = map[string]error{
	"SYSTEMERROR":              ErrSystem,
	"PROCESSING":               ErrProcessing,
	"FREQ_LIMIT":               ErrFrequency,
	"SEND_FAILED":              ErrSendFailed,
	"FATAL_ERROR":              ErrFatal,
	"NO_AUTH":                  ErrNoAuth,
	"SENDNUM_LIMIT":            ErrSendNumLimit,
	"RCVDAMOUNT_LIMIT":         ErrReceivedAmountLimit,
	"SENDAMOUNT_LIMIT":         ErrSendAmountLimit,
	"MONEY_LIMIT":              ErrMoneyLimit,
	"ILLEGAL_APPID":            ErrIllegalAppID,
	"OPENID_ERROR":             ErrOpenID,
	"MSGAPPID_ERROR":           ErrMsgAppID,
	"ACCEPTMODE_ERROR":         ErrAcceptMode,
	"CA_ERROR":                 ErrCA,
	"SIGN_ERROR":               ErrSign,
	"XML_ERROR":                ErrXML,
	"PARAM_ERROR":              ErrParam,
	"API_METHOD_CLOSED":        ErrAPIMethodClosed,
	"NOTENOUGH":                ErrNotEnough,
	"PRODUCT_AUTHORITY_UNOPEN": ErrProductAuthorityUnopen,
	"NOT_FOUND":                ErrNotFound,
}

// retryableCodes are sent again automatically, with the same bill number.
var retryableCodes = map[string]bool{"SYSTEMERROR": true, "FREQ_LIMIT": true}

// Error is the one error type of a call to the platform: a reply with
// result_code or return_code FAIL, or a call whose outcome is unknown.
type Error struct {
	Op         string // "sendminiprogramhb" or "gethbinfo"
	Billno     string
	ReturnCode string // SUCCESS or FAIL; empty when no reply was read
	ErrCode    string // the platform's err_code; empty when there was none
	Message    string // err_code_des or return_msg, as the platform wrote it
	// Retryable reports whether the same call, with the same bill number,
	// may succeed when sent again.
	Retryable bool
	// Unknown reports that the platform may have paid: resend the same
	// bill number or query it; never pay it again under another number.
	// It stays true when a later retry of the call failed otherwise.
	Unknown bool
	// Status is what gethbinfo said, when the client queried after
	// PROCESSING; empty otherwise.
	Status Status
	// RetryAfter, when positive, is when the call may be made again: set
	// on a send the client held back (ErrThrottled).
	RetryAfter time.Duration
	Err        error // the underlying transport or network error, if any
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("hongbao: ")
	b.WriteString(e.Op)
	if e.Billno != "" {
		b.WriteString(" ")
		b.WriteString(e.Billno)
	}
	switch {
	case e.ErrCode != "":
		b.WriteString(": ")
		b.WriteString(e.ErrCode)
	case e.ReturnCode == "FAIL":
		b.WriteString(": return_code FAIL")
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.Status != "" {
		b.WriteString(" (gethbinfo status ")
		b.WriteString(string(e.Status))
		b.WriteString(")")
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	if e.Unknown {
		b.WriteString(" [outcome unknown: resend the same bill number]")
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Is matches the sentinel of e's err_code, ErrOutcomeUnknown when the
// outcome is unknown, ErrReturnFail for a return_code FAIL reply, and
// ErrSendFailed when a query after PROCESSING found the packet FAILED.
func (e *Error) Is(target error) bool {
	switch {
	case target == ErrOutcomeUnknown:
		return e.Unknown
	case target == ErrReturnFail:
		return e.ReturnCode == "FAIL"
	case target == ErrSendFailed && e.Status == StatusFailed:
		return true
	case e.ErrCode != "":
		return sentinels[e.ErrCode] == target
	}
	return false
}

// codeError builds the Error of a reply carrying err_code. An unknown code
// is definitive: it is not retried.
func codeError(op, billno, returnCode, code, msg string) *Error {
	return &Error{
		Op:         op,
		Billno:     billno,
		ReturnCode: returnCode,
		ErrCode:    code,
		Message:    msg,
		Retryable:  retryableCodes[code],
		Unknown:    code == "SYSTEMERROR" || code == "PROCESSING",
	}
}
