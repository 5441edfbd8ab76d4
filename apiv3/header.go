package apiv3

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// The headers of signed answers and notifications.
const (
	HeaderTimestamp     = "Wechatpay-Timestamp"
	HeaderNonce         = "Wechatpay-Nonce"
	HeaderSignature     = "Wechatpay-Signature"
	HeaderSerial        = "Wechatpay-Serial"
	HeaderSignatureType = "Wechatpay-Signature-Type"
	HeaderRequestID     = "Request-ID"
)

// AuthorizationHeader is the content of a request's Authorization header.
type AuthorizationHeader struct {
	MchID     string // mchid
	Serial    string // serial_no: the merchant API certificate's serial
	Timestamp int64  // timestamp, Unix seconds
	Nonce     string // nonce_str
	Signature string // signature, base64
}

// FormatAuthorization returns the header value of a: the scheme, one
// space, and mchid, serial_no, timestamp, nonce_str and signature as
// key="value" pairs joined by ','. It does not check a; Signer does.
func FormatAuthorization(a AuthorizationHeader) string {
	var b strings.Builder
	b.Grow(len(SchemeRSA) + len(a.MchID) + len(a.Serial) + len(a.Nonce) + len(a.Signature) + 90)
	b.WriteString(SchemeRSA)
	b.WriteString(` mchid="`)
	b.WriteString(a.MchID)
	b.WriteString(`",serial_no="`)
	b.WriteString(a.Serial)
	b.WriteString(`",timestamp="`)
	b.WriteString(strconv.FormatInt(a.Timestamp, 10))
	b.WriteString(`",nonce_str="`)
	b.WriteString(a.Nonce)
	b.WriteString(`",signature="`)
	b.WriteString(a.Signature)
	b.WriteString(`"`)
	return b.String()
}

// ErrAuthorization matches every error of ParseAuthorization.
var ErrAuthorization = errors.New("apiv3: malformed Authorization header")

// ParseAuthorization parses an Authorization header value: the scheme
// WECHATPAY2-SHA256-RSA2048, white space, then the five parameters mchid,
// serial_no, timestamp, nonce_str and signature, each exactly once, in any
// order, as key="value" pairs separated by ',' (optional white space around
// it). Values are not escaped: they may not hold '"', '\\' or ','. It does
// not verify the signature.
func ParseAuthorization(v string) (AuthorizationHeader, error) {
	var a AuthorizationHeader
	rest, ok := strings.CutPrefix(v, SchemeRSA)
	if !ok {
		return a, fmt.Errorf("%w: the scheme is not %s", ErrAuthorization, SchemeRSA)
	}
	if rest == "" || rest[0] != ' ' && rest[0] != '\t' {
		return a, fmt.Errorf("%w: no white space after the scheme", ErrAuthorization)
	}
	rest = trimOWS(rest)
	var seen [5]bool
	var ts string
	for {
		eq := strings.IndexByte(rest, '=')
		if eq < 0 {
			return a, fmt.Errorf("%w: a parameter without '='", ErrAuthorization)
		}
		key := rest[:eq]
		rest = rest[eq+1:]
		if len(rest) < 2 || rest[0] != '"' {
			return a, fmt.Errorf("%w: the value of %s is not quoted", ErrAuthorization, safeKey(key))
		}
		end := strings.IndexByte(rest[1:], '"')
		if end < 0 {
			return a, fmt.Errorf("%w: the value of %s has no closing quote", ErrAuthorization, safeKey(key))
		}
		val := rest[1 : 1+end]
		rest = rest[end+2:]
		if !quotable(val) {
			return a, fmt.Errorf("%w: the value of %s is empty or holds a character it may not", ErrAuthorization, safeKey(key))
		}
		var i int
		switch key {
		case "mchid":
			i, a.MchID = 0, val
		case "serial_no":
			i, a.Serial = 1, val
		case "timestamp":
			i, ts = 2, val
		case "nonce_str":
			i, a.Nonce = 3, val
		case "signature":
			i, a.Signature = 4, val
		default:
			return a, fmt.Errorf("%w: unknown parameter %s", ErrAuthorization, safeKey(key))
		}
		if seen[i] {
			return a, fmt.Errorf("%w: %s given twice", ErrAuthorization, key)
		}
		seen[i] = true
		rest = trimOWS(rest)
		if rest == "" {
			break
		}
		if rest[0] != ',' {
			return a, fmt.Errorf("%w: parameters not separated by ','", ErrAuthorization)
		}
		rest = trimOWS(rest[1:])
	}
	for i, name := range [...]string{"mchid", "serial_no", "timestamp", "nonce_str", "signature"} {
		if !seen[i] {
			return a, fmt.Errorf("%w: %s is missing", ErrAuthorization, name)
		}
	}
	t, ok := parseTimestamp(ts)
	if !ok {
		return a, fmt.Errorf("%w: timestamp %q is not Unix seconds", ErrAuthorization, ts)
	}
	a.Timestamp = t
	return a, nil
}

// safeKey returns k quoted unless it is a plain parameter name.
func safeKey(k string) string {
	for i := 0; i < len(k); i++ {
		if c := k[i]; !('a' <= c && c <= 'z' || c == '_') {
			if len(k) > 32 {
				k = k[:32]
			}
			return strconv.Quote(k)
		}
	}
	if k == "" {
		return `""`
	}
	return k
}

func trimOWS(s string) string { return strings.TrimLeft(s, " \t") }

// parseTimestamp parses canonical Unix seconds: decimal digits without a
// sign or leading zero, at most 18 of them.
func parseTimestamp(s string) (int64, bool) {
	if s == "" || len(s) > 18 || s[0] == '0' && len(s) > 1 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// SignatureHeaders are the signature headers of an answer or a
// notification.
type SignatureHeaders struct {
	Timestamp int64  // Wechatpay-Timestamp
	Nonce     string // Wechatpay-Nonce
	Signature string // Wechatpay-Signature, base64
	Serial    string // Wechatpay-Serial: the id of the platform key that signed
	RequestID string // Request-ID, when present (printable ASCII only; else empty)
}

// Write sets the headers of s in h (Wechatpay-Signature-Type included; and
// Request-ID when set).
func (s SignatureHeaders) Write(h http.Header) {
	h.Set(HeaderTimestamp, strconv.FormatInt(s.Timestamp, 10))
	h.Set(HeaderNonce, s.Nonce)
	h.Set(HeaderSignature, s.Signature)
	h.Set(HeaderSerial, s.Serial)
	h.Set(HeaderSignatureType, SchemeRSA)
	if s.RequestID != "" {
		h.Set(HeaderRequestID, s.RequestID)
	}
}

// ParseSignatureHeaders reads the signature headers of h. Each must be
// present exactly once: Wechatpay-Timestamp in canonical Unix seconds,
// Wechatpay-Nonce, Wechatpay-Signature and Wechatpay-Serial non-empty
// printable ASCII; Wechatpay-Signature-Type, when present, must be
// WECHATPAY2-SHA256-RSA2048. An error matches ErrHeaders (and so
// ErrUnverified). The signature is not checked.
func ParseSignatureHeaders(h http.Header) (SignatureHeaders, error) {
	var s SignatureHeaders
	if id, ok := one(h, HeaderRequestID); ok && printable(id) {
		s.RequestID = id
	}
	get := func(name string) (string, error) {
		v, ok := one(h, name)
		switch {
		case !ok && len(h.Values(name)) > 1:
			return "", fmt.Errorf("%w: %s given more than once", ErrHeaders, name)
		case !ok || v == "":
			return "", fmt.Errorf("%w: %s is missing", ErrHeaders, name)
		case !printable(v):
			return "", fmt.Errorf("%w: %s holds a character other than printable ASCII", ErrHeaders, name)
		}
		return v, nil
	}
	ts, err := get(HeaderTimestamp)
	if err != nil {
		return s, err
	}
	var ok bool
	if s.Timestamp, ok = parseTimestamp(ts); !ok {
		return s, fmt.Errorf("%w: %s %q is not Unix seconds", ErrHeaders, HeaderTimestamp, clip(ts))
	}
	if s.Nonce, err = get(HeaderNonce); err != nil {
		return s, err
	}
	if s.Signature, err = get(HeaderSignature); err != nil {
		return s, err
	}
	if s.Serial, err = get(HeaderSerial); err != nil {
		return s, err
	}
	if vs := h.Values(HeaderSignatureType); len(vs) > 1 || len(vs) == 1 && vs[0] != SchemeRSA {
		return s, fmt.Errorf("%w: %s is not %s", ErrHeaders, HeaderSignatureType, SchemeRSA)
	}
	return s, nil
}

// one returns the only value of header name, ok=false when there is none
// or several.
func one(h http.Header, name string) (string, bool) {
	vs := h.Values(name)
	if len(vs) != 1 {
		return "", false
	}
	return vs[0], true
}

// printable reports whether v is printable ASCII without spaces.
func printable(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// clip shortens v to 40 bytes for an error message.
func clip(v string) string {
	if len(v) > 40 {
		return v[:40] + "..."
	}
	return v
}
