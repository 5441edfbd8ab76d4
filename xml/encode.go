package xml

import (
	"fmt"
	"slices"
	"strings"
)

// Marshal encodes p as an APIv2 body, <xml><key>value</key>...</xml>, with the keys sorted by
// byte value so that the output is deterministic.
//
// A value is written as plain text when it holds none of < > & and no carriage return; as a
// CDATA section when it holds < > or & (a "]]>" inside it splits the section in two); and as
// escaped text (&amp; &lt; &gt; &#13;) when it holds a carriage return, which a parser would
// otherwise read back as a line feed. Every entry is written, empty values included, and
// values are not trimmed (the decoder trims, see Document).
//
// A key that is not a simple name (an ASCII letter or '_', then ASCII letters, digits, '_',
// '-' or '.') is ErrInvalidName. A value holding a character XML 1.0 cannot carry (invalid
// UTF-8, a C0 control other than tab, LF and CR, U+FFFE, U+FFFF) is ErrInvalidChar.
func Marshal(p map[string]string) ([]byte, error) {
	return AppendMarshal(nil, p)
}

// AppendMarshal appends the encoding of p (see Marshal) to dst and returns the extended
// buffer. On error it returns dst with its length unchanged.
func AppendMarshal(dst []byte, p map[string]string) ([]byte, error) {
	type field struct{ k, v string }
	var stack [32]field // no allocation for up to 32 fields
	fs := stack[:0]
	n := len("<xml></xml>")
	for k, v := range p {
		fs = append(fs, field{k, v})
		n += len("<></><![CDATA[]]>") + 2*len(k) + len(v)
	}
	slices.SortFunc(fs, func(a, b field) int { return strings.Compare(a.k, b.k) })

	b := dst
	if cap(b)-len(b) < n {
		b = make([]byte, len(dst), len(dst)+n)
		copy(b, dst)
	}
	b = append(b, "<xml>"...)
	for _, f := range fs {
		if !validName(f.k) {
			return dst, fmt.Errorf("%w: %q", ErrInvalidName, clip(f.k))
		}
		flags, bad := scan(f.v)
		if bad >= 0 {
			return dst, fmt.Errorf("%w in field %s at byte %d", ErrInvalidChar, clip(f.k), bad)
		}
		b = append(append(append(b, '<'), f.k...), '>')
		switch {
		case flags&hasCR != 0:
			b = appendEscaped(b, f.v)
		case flags&hasMarkup != 0:
			b = appendCDATA(b, f.v)
		default:
			b = append(b, f.v...)
		}
		b = append(append(append(b, "</"...), f.k...), '>')
	}
	return append(b, "</xml>"...), nil
}

// appendCDATA writes v as CDATA, ending the section inside every "]]>" and opening a new one.
func appendCDATA(b []byte, v string) []byte {
	b = append(b, "<![CDATA["...)
	for {
		i := strings.Index(v, "]]>")
		if i < 0 {
			break
		}
		b = append(append(b, v[:i+2]...), "]]><![CDATA["...)
		v = v[i+2:]
	}
	return append(append(b, v...), "]]>"...)
}

// appendEscaped writes v as text with & < > and CR escaped.
func appendEscaped(b []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '&':
			b = append(b, "&amp;"...)
		case '<':
			b = append(b, "&lt;"...)
		case '>':
			b = append(b, "&gt;"...)
		case '\r':
			b = append(b, "&#13;"...)
		default:
			b = append(b, c)
		}
	}
	return b
}
