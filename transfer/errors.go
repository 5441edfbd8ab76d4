package transfer

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/hongbao-go/hongbao"
	"github.com/hongbao-go/hongbao/apiv3"
)

// Operations, as Error.Op names them.
const (
	OpCreate = "create"
	OpQuery  = "query"
	OpCancel = "cancel"
)

// Error is the error of a call to the platform that did not succeed: an
// error answer (Status, Code, Message), a call whose outcome is unknown, or
// one held back by the flow control. The underlying *apiv3.Error or
// network error is Err.
type Error struct {
	Op string // OpCreate, OpQuery or OpCancel
	// OutBillNo is the bill the call is about (for a query by
	// transfer_bill_no, that number).
	OutBillNo string
	// Status is the HTTP status of the last answer; 0 when none was read.
	Status    int
	Code      string // the platform's code, e.g. NOT_ENOUGH
	Message   string // the platform's message
	RequestID string // the answer's Request-ID: support asks for it
	// Retryable reports whether the same call, with the same out_bill_no
	// and body, may succeed when made again.
	Retryable bool
	// Unknown reports that the platform may have acted on the call: for a
	// create, the bill may exist. Repeat the same create or query the
	// bill; never move the grant to another number. It stays true when a
	// later attempt of the call failed otherwise.
	Unknown bool
	// RetryAfter, when positive, is when the call may be made again: set
	// on a call the flow control held back (hongbao.ErrThrottled).
	RetryAfter time.Duration
	Err        error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("transfer: ")
	b.WriteString(e.Op)
	if e.OutBillNo != "" {
		b.WriteByte(' ')
		b.WriteString(e.OutBillNo)
	}
	// An *apiv3.Error says status, code, message and Request-ID itself.
	var ae *apiv3.Error
	if !errors.As(e.Err, &ae) {
		if e.Status != 0 {
			b.WriteString(": HTTP ")
			b.WriteString(strconv.Itoa(e.Status))
		}
		if e.Code != "" {
			b.WriteByte(' ')
			b.WriteString(e.Code)
		}
		if e.Message != "" {
			b.WriteString(": ")
			b.WriteString(e.Message)
		}
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	if e.Unknown && !strings.Contains(b.String(), "[outcome unknown") {
		b.WriteString(" [outcome unknown: repeat the same out_bill_no or query it, never a new one]")
	}
	return b.String()
}

// Unwrap returns e.Err.
func (e *Error) Unwrap() error { return e.Err }

// rootSentinels are the red-packet rail's sentinels of the same meaning,
// so that code serving both rails can test one.
var rootSentinels = map[string]error{
	"NOT_ENOUGH":        hongbao.ErrNotEnough,
	"FREQUENCY_LIMITED": hongbao.ErrFrequency,
	"SYSTEM_ERROR":      hongbao.ErrSystem,
	"NOT_FOUND":         hongbao.ErrNotFound,
	"PARAM_ERROR":       hongbao.ErrParam,
	"SIGN_ERROR":        hongbao.ErrSign,
}

// Is matches apiv3.ErrOutcomeUnknown and hongbao.ErrOutcomeUnknown when
// Unknown; the root sentinel of the same meaning as Code
// (hongbao.ErrNotEnough for NOT_ENOUGH, ErrFrequency, ErrSystem,
// ErrNotFound, ErrParam, ErrSign); and, through Err, apiv3's sentinels
// (apiv3.ErrNotEnough, ...), hongbao.ErrThrottled and network errors.
func (e *Error) Is(target error) bool {
	switch target {
	case apiv3.ErrOutcomeUnknown, hongbao.ErrOutcomeUnknown:
		return e.Unknown
	}
	if e.Code != "" && rootSentinels[e.Code] == target {
		return true
	}
	return false
}
