package apiv3

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Verification failures. Every one matches ErrUnverified.
var (
	// ErrUnverified matches every answer or notification whose signature
	// was not verified: its body must not be acted on.
	ErrUnverified = errors.New("apiv3: signature not verified")
	// ErrHeaders: a signature header is missing or malformed.
	ErrHeaders = fmt.Errorf("%w: signature headers missing or malformed", ErrUnverified)
	// ErrStale: Wechatpay-Timestamp is more than MaxSkew from the local
	// clock.
	ErrStale = fmt.Errorf("%w: Wechatpay-Timestamp more than 300 s from the local clock", ErrUnverified)
	// ErrProbe: the signature starts with WECHATPAY/SIGNTEST/, the wrong
	// signature the platform sends on purpose to check that merchants
	// verify.
	ErrProbe = fmt.Errorf("%w: a probe signature (WECHATPAY/SIGNTEST/)", ErrUnverified)
	// ErrSignature: the signature does not match the message under the
	// key Wechatpay-Serial names.
	ErrSignature = fmt.Errorf("%w: the signature does not match", ErrUnverified)
	// ErrUnknownSerial: Wechatpay-Serial names no platform key the
	// Transport trusts (neither Config.PublicKeyID nor a platform
	// certificate valid now).
	ErrUnknownSerial = fmt.Errorf("%w: Wechatpay-Serial names no trusted platform key", ErrUnverified)
)

// ErrDecrypt matches a ciphertext that AES-256-GCM refuses: the APIv3 key
// is not the one the platform used, or the ciphertext, nonce or associated
// data were altered.
var ErrDecrypt = errors.New("apiv3: AES-256-GCM decryption failed (wrong APIv3Key, or altered ciphertext)")

// Sentinels matched by an *Error with errors.Is.
var (
	// ErrOutcomeUnknown matches an error after which the platform may
	// have acted on the request: a 5xx, or a 2xx whose answer could not be
	// verified or read. Repeat the same request (same out_bill_no, same
	// body) or query; never act as if it failed.
	ErrOutcomeUnknown = errors.New("apiv3: outcome unknown")
	// ErrRequest matches a request the Transport refused to send.
	ErrRequest = errors.New("apiv3: request not sent")

	ErrParamError       = errors.New("apiv3: PARAM_ERROR")
	ErrInvalidRequest   = errors.New("apiv3: INVALID_REQUEST")
	ErrSignError        = errors.New("apiv3: SIGN_ERROR: the platform refused the request's signature")
	ErrNoAuth           = errors.New("apiv3: NO_AUTH: the product is not open to the merchant")
	ErrNotEnough        = errors.New("apiv3: NOT_ENOUGH: the operating account's balance is short")
	ErrFrequencyLimited = errors.New("apiv3: FREQUENCY_LIMITED: rate limited")
	ErrSystemError      = errors.New("apiv3: SYSTEM_ERROR")
	ErrNotFound         = errors.New("apiv3: NOT_FOUND")
)

var codeSentinels = map[string]error{
	"PARAM_ERROR":       ErrParamError,
	"INVALID_REQUEST":   ErrInvalidRequest,
	"SIGN_ERROR":        ErrSignError,
	"NO_AUTH":           ErrNoAuth,
	"NOT_ENOUGH":        ErrNotEnough,
	"FREQUENCY_LIMITED": ErrFrequencyLimited,
	"SYSTEM_ERROR":      ErrSystemError,
	"NOT_FOUND":         ErrNotFound,
}

// ErrorDetail is the optional detail of an error answer.
type ErrorDetail struct {
	Field    string          `json:"field,omitempty"`
	Value    json.RawMessage `json:"value,omitempty"`
	Issue    string          `json:"issue,omitempty"`
	Location string          `json:"location,omitempty"`
}

// Error is what the Transport returns instead of an answer it does not
// hand on: an error answer (a status other than 2xx, with the platform's
// code, message and detail), a 2xx answer that could not be verified or
// read, or a request it refused to send (Status 0). http.Client wraps it in
// a *url.Error; errors.As finds it.
type Error struct {
	Method, Path string // of the request
	// Status is the answer's HTTP status; 0 when nothing was sent.
	Status int
	// Code, Message and Detail are the error answer's fields.
	Code, Message string
	Detail        *ErrorDetail
	// RequestID is the answer's Request-ID header: support asks for it.
	RequestID string
	// Snippet is the start of an error answer that is not the platform's
	// JSON (a gateway's page, say): at most 96 bytes, made safe to log.
	Snippet string
	// Err is the cause, if any: a verification failure (errors.Is
	// ErrUnverified), a read error, why a request was refused.
	Err error
}

// OutcomeUnknown reports whether the platform may have acted on the
// request: a 2xx answer that was not verified or could not be read, and
// every 5xx. It is false for a request not sent, 1xx, 3xx and 4xx (the
// platform refused it; 429 included).
func (e *Error) OutcomeUnknown() bool {
	return e.Status >= 200 && e.Status < 300 || e.Status >= 500
}

// Is matches ErrOutcomeUnknown (see OutcomeUnknown), ErrRequest (Status 0),
// the sentinel of the answer's code (ErrNotEnough, ErrNotFound, ...), and
// ErrFrequencyLimited for any 429.
func (e *Error) Is(target error) bool {
	switch {
	case target == ErrOutcomeUnknown:
		return e.OutcomeUnknown()
	case target == ErrRequest:
		return e.Status == 0
	case target == ErrFrequencyLimited && e.Status == 429:
		return true
	case e.Code != "":
		return codeSentinels[e.Code] == target
	}
	return false
}

// Unwrap returns e.Err.
func (e *Error) Unwrap() error { return e.Err }

// Error describes e; it never holds a key, a signature or a body beyond
// the Snippet.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("apiv3: ")
	if e.Method != "" {
		b.WriteString(e.Method)
		b.WriteByte(' ')
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	switch {
	case e.Status == 0:
		b.WriteString("request not sent")
	case e.Status >= 200 && e.Status < 300:
		b.WriteString("HTTP ")
		b.WriteString(strconv.Itoa(e.Status))
		b.WriteString(" answer not accepted")
	default:
		b.WriteString("HTTP ")
		b.WriteString(strconv.Itoa(e.Status))
	}
	if e.Code != "" {
		b.WriteByte(' ')
		b.WriteString(safeText(e.Code))
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(safeText(e.Message))
	}
	if d := e.Detail; d != nil && (d.Field != "" || d.Issue != "") {
		b.WriteString(" (")
		if d.Field != "" {
			b.WriteString("field ")
			b.WriteString(safeText(d.Field))
		}
		if d.Issue != "" {
			if d.Field != "" {
				b.WriteString(": ")
			}
			b.WriteString(safeText(d.Issue))
		}
		b.WriteString(")")
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	if e.Snippet != "" {
		b.WriteString(" (body: ")
		b.WriteString(strconv.Quote(e.Snippet))
		b.WriteString(")")
	}
	if e.RequestID != "" {
		b.WriteString(" [Request-ID ")
		b.WriteString(e.RequestID)
		b.WriteString("]")
	}
	if e.OutcomeUnknown() {
		b.WriteString(" [outcome unknown: repeat the same request or query, never a new one]")
	}
	return b.String()
}

// safeText returns s with control characters and invalid UTF-8 replaced,
// at most 256 bytes: it comes from an answer and must not break a log
// line.
func safeText(s string) string {
	if len(s) > 256 {
		s = s[:256]
	}
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || r < ' ' || r == 0x7f {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	return strings.Map(func(r rune) rune {
		if r == utf8.RuneError || r < ' ' || r == 0x7f {
			return '.'
		}
		return r
	}, s)
}

// snippetLen is the most of a body an Error quotes.
const snippetLen = 96

// snippet returns the start of body, trimmed and safe to log.
func snippet(body []byte) string {
	s := strings.TrimSpace(string(body[:min(len(body), snippetLen+utf8.UTFMax)]))
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > snippetLen {
		s = s[:snippetLen] + "..."
	}
	return safeText(s)
}
