package xml

import (
	"errors"
	"unicode/utf8"
)

// Errors returned by this package. They are wrapped with details (field name, byte offset),
// so compare them with errors.Is.
var (
	ErrTooLarge    = errors.New("xml: body too large")
	ErrTooDeep     = errors.New("xml: nesting too deep")
	ErrDoctype     = errors.New("xml: DOCTYPE or entity declaration refused")
	ErrNotXML      = errors.New("xml: not an <xml> document")
	ErrInvalidChar = errors.New("xml: invalid character")
	ErrInvalidName = errors.New("xml: invalid name")
	ErrDuplicate   = errors.New("xml: duplicate element")
)

// validName reports whether s is a name this package writes and reads: an ASCII letter or '_',
// then ASCII letters, digits, '_', '-' or '.'.
func validName(s string) bool {
	if s == "" || s[0] == '-' || s[0] == '.' || '0' <= s[0] && s[0] <= '9' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isNameByte(s[i]) {
			return false
		}
	}
	return true
}

func isNameByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.'
}

// Flags reported by scan, and the byte classes behind them.
const (
	hasMarkup = 1 << iota // one of < > &
	hasCR                 // a carriage return
	control               // a C0 control other than tab, LF and CR
	multiByte             // the first byte of a multi-byte or invalid UTF-8 sequence
)

var byteClass = func() (t [256]uint8) {
	for c := range t {
		switch {
		case c >= utf8.RuneSelf:
			t[c] = multiByte
		case c == '<' || c == '>' || c == '&':
			t[c] = hasMarkup
		case c == '\r':
			t[c] = hasCR
		case c < ' ' && c != '\t' && c != '\n':
			t[c] = control
		}
	}
	return t
}()

// scan reports which characters needing care s holds (hasMarkup, hasCR), and the byte
// offset of the first character XML 1.0 cannot carry (-1 if none): invalid UTF-8, a C0
// control other than tab, LF and CR, U+FFFE or U+FFFF. Surrogates are invalid UTF-8 in Go
// strings.
func scan(s string) (flags, bad int) {
	for i := 0; i < len(s); {
		c := byteClass[s[i]]
		if c < control {
			flags |= int(c)
			i++
			continue
		}
		if c == control {
			return flags, i
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 || r == 0xFFFE || r == 0xFFFF {
			return flags, i
		}
		i += n
	}
	return flags, -1
}

// isXMLChar reports whether r is a Char of XML 1.0.
func isXMLChar(r rune) bool {
	return r == '\t' || r == '\n' || r == '\r' || 0x20 <= r && r <= 0xD7FF ||
		0xE000 <= r && r <= 0xFFFD || 0x10000 <= r && r <= utf8.MaxRune
}

// clip shortens s to at most 64 bytes, on a rune boundary, for error messages.
func clip(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	i := max
	for i > max-utf8.UTFMax && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "..."
}
