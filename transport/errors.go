package transport

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// ErrorKind classifies an *Error.
type ErrorKind int

const (
	// KindStatus is a reply with an HTTP status other than 200.
	KindStatus ErrorKind = iota + 1
	// KindNotXML is a reply that is not an APIv2 <xml> document: an HTML
	// error page, garbage, a body that could not be read, or a document
	// without a return_code.
	KindNotXML
	// KindTooLarge is a reply larger than Config.MaxReplyBytes.
	KindTooLarge
	// KindReturnFail is a reply with return_code=FAIL.
	KindReturnFail
	// KindSign is a reply whose sign is missing where the endpoint signs
	// its replies, or does not verify.
	KindSign
	// KindRequest is an outgoing call this package refused to send: a
	// mch_id other than the configured one, a body it cannot convert, a
	// method other than POST, a URL that is not https. Nothing reached the
	// network.
	KindRequest
)

// String returns a short name of the kind.
func (k ErrorKind) String() string {
	switch k {
	case KindStatus:
		return "status"
	case KindNotXML:
		return "not-xml"
	case KindTooLarge:
		return "too-large"
	case KindReturnFail:
		return "return-fail"
	case KindSign:
		return "sign"
	case KindRequest:
		return "request"
	}
	return "ErrorKind(" + strconv.Itoa(int(k)) + ")"
}

// Error is the error Call and RoundTrip return for a call refused or a
// reply rejected. Call returns it as it is; http.Client wraps it in a
// *url.Error, so use errors.As to get it back:
//
//	var te *transport.Error
//	if errors.As(err, &te) && te.Kind == transport.KindReturnFail { ... }
//
// Network failures (dial errors, timeouts, a connection dropped before or
// while the reply is read) are not *Error: they come from net/http and
// net as they are. For a payout they mean the same as OutcomeUnknown: the
// platform may have processed the call.
type Error struct {
	Kind ErrorKind
	// Path is the URL path of the call, e.g. /mmpaymkttransfers/sendminiprogramhb.
	Path string
	// StatusCode is the reply's HTTP status, 0 for KindRequest.
	StatusCode int
	// ReturnCode, ReturnMsg, ErrCode and ErrCodeDes are copied from the
	// reply when it carries them (KindReturnFail, KindSign).
	ReturnCode, ReturnMsg, ErrCode, ErrCodeDes string
	// Snippet is the start of a reply body that is not APIv2 XML (or came
	// with a status other than 200): at most 96 bytes, invalid UTF-8 and
	// control characters replaced, for logs.
	Snippet string
	// Err is the underlying error, if any: an xml decoding error, a
	// signer error (errors.Is(err, signer.ErrSignMismatch)), a body read
	// error.
	Err error
}

// Error describes the failure; it never holds the API key, a private key
// or the sign input.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("transport: ")
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	switch e.Kind {
	case KindStatus:
		b.WriteString("HTTP status ")
		b.WriteString(strconv.Itoa(e.StatusCode))
	case KindNotXML:
		b.WriteString("reply is not an APIv2 <xml> document")
	case KindTooLarge:
		b.WriteString("reply too large")
	case KindReturnFail:
		b.WriteString("return_code=FAIL")
		if e.ReturnMsg != "" {
			b.WriteString(" return_msg=")
			b.WriteString(strconv.Quote(e.ReturnMsg))
		}
	case KindSign:
		b.WriteString("reply sign rejected")
	case KindRequest:
		b.WriteString("request not sent")
	default:
		b.WriteString(e.Kind.String())
	}
	if e.ErrCode != "" {
		b.WriteString(" err_code=")
		writeCode(&b, e.ErrCode)
		if e.ErrCodeDes != "" {
			b.WriteString(" err_code_des=")
			b.WriteString(strconv.Quote(e.ErrCodeDes))
		}
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
	return b.String()
}

// writeCode writes an err_code as is when it is a plain code (A-Z, 0-9,
// '_'), else quoted: it comes from the reply and must not break a log line.
func writeCode(b *strings.Builder, code string) {
	for i := 0; i < len(code); i++ {
		if c := code[i]; !('A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_') {
			b.WriteString(strconv.Quote(code))
			return
		}
	}
	b.WriteString(code)
}

// Unwrap returns e.Err.
func (e *Error) Unwrap() error { return e.Err }

// OutcomeUnknown reports whether the platform may have processed the call
// even though no usable reply came back, so that a payout must be retried
// with the same mch_billno and never a new one. It is true for a 5xx or
// other non-200 2xx status, an unreadable, non-XML or too large reply, a
// reply whose sign does not verify, and return_code=FAIL carrying err_code
// SYSTEMERROR or PROCESSING. It is false for KindRequest (nothing was
// sent), 3xx and 4xx statuses, and other return_code=FAIL replies (the
// platform refused the call).
//
// Network errors, which are not *Error, must be treated as outcome unknown
// too.
func (e *Error) OutcomeUnknown() bool {
	switch e.Kind {
	case KindStatus:
		return e.StatusCode < 300 || e.StatusCode >= 500
	case KindNotXML, KindTooLarge, KindSign:
		return true
	case KindReturnFail:
		return e.ErrCode == "SYSTEMERROR" || e.ErrCode == "PROCESSING"
	}
	return false
}

// snippetLen is the most of a body an Error quotes.
const snippetLen = 96

// snippet returns the start of body, trimmed, safe to log: invalid UTF-8
// and control characters become '.', and runs of white space one space.
func snippet(body []byte) string {
	s := strings.TrimSpace(string(body[:min(len(body), snippetLen+utf8.UTFMax)]))
	var b strings.Builder
	space := false
	for i, r := range s {
		if i >= snippetLen {
			b.WriteString("...")
			break
		}
		switch {
		case r == ' ' || r == '\t' || r == '\n' || r == '\r':
			if !space {
				b.WriteByte(' ')
			}
			space = true
			continue
		case r == utf8.RuneError || r < ' ' || r == 0x7f:
			b.WriteByte('.')
		default:
			b.WriteRune(r)
		}
		space = false
	}
	return b.String()
}
