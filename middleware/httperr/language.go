package httperr

import (
	"net/http"
	"strings"
)

// headerHasToken reports whether a comma-separated header of h lists token.
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for part := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(part), token) {
				return true
			}
		}
	}
	return false
}

// PreferredLanguage returns the language of the catalogue that r's
// Accept-Language header prefers (RFC 9110, section 12.5.4): the language
// range with the highest weight that the catalogue has, the first listed
// among equals. A range matches by its primary subtag ("zh-CN", "zh-Hans"
// and "zh_TW" all select Chinese; "_" is accepted because WeChat reports
// languages so), "*" matches every language not listed, and q=0 excludes.
// Malformed ranges and weights are skipped. Without a header, or when no
// acceptable language is in the catalogue, it returns English. A nil r
// means English.
func PreferredLanguage(r *http.Request) Language {
	if r == nil {
		return English
	}
	return preferredLanguage(r.Header.Values("Accept-Language"))
}

// langChoice is how acceptable one language of the catalogue is: the
// highest weight of the ranges naming it, and the position of that range.
type langChoice struct {
	lang    Language
	primary string
	named   bool
	q, pos  int
}

func preferredLanguage(values []string) Language {
	choices := [...]langChoice{
		{lang: English, primary: "en"},
		{lang: Chinese, primary: "zh"},
	}
	starQ, starPos := -1, 0 // "*", absent
	pos := 0
	for _, v := range values {
		for elem := range strings.SplitSeq(v, ",") {
			tag, q, ok := parseLanguageRange(elem)
			if !ok {
				continue
			}
			pos++
			if tag == "*" {
				if q > starQ {
					starQ, starPos = q, pos
				}
				continue
			}
			for i := range choices {
				c := &choices[i]
				if strings.EqualFold(primarySubtag(tag), c.primary) && (!c.named || q > c.q) {
					c.named, c.q, c.pos = true, q, pos
				}
			}
		}
	}
	// The highest weight above 0 wins, the first listed among equals; a
	// language no range names has the weight of "*". English is first in
	// choices, so it wins a tie through "*" and is the default.
	best, bestQ, bestPos := English, 0, 0
	for _, c := range choices {
		q, p := starQ, starPos
		if c.named {
			q, p = c.q, c.pos
		}
		if q > bestQ || (q == bestQ && q > 0 && p < bestPos) {
			best, bestQ, bestPos = c.lang, q, p
		}
	}
	return best
}

// primarySubtag returns the part of tag before the first "-" or "_".
func primarySubtag(tag string) string {
	if i := strings.IndexAny(tag, "-_"); i >= 0 {
		return tag[:i]
	}
	return tag
}

// parseLanguageRange parses one element of Accept-Language: a language
// range and an optional weight, returned in thousandths (1000 without one).
func parseLanguageRange(elem string) (tag string, q int, ok bool) {
	tag, params, _ := strings.Cut(elem, ";")
	tag = strings.TrimSpace(tag)
	if !validLanguageRange(tag) {
		return "", 0, false
	}
	q = 1000
	for p := range strings.SplitSeq(params, ";") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		name, value, _ := strings.Cut(p, "=")
		if !strings.EqualFold(strings.TrimSpace(name), "q") {
			continue // no other parameter is defined; ignore it
		}
		if q, ok = parseWeight(strings.TrimSpace(value)); !ok {
			return "", 0, false
		}
	}
	return tag, q, true
}

// validLanguageRange accepts "*" and 1*8ALPHA *( ("-" / "_") 1*8alphanum ).
func validLanguageRange(tag string) bool {
	if tag == "*" {
		return true
	}
	if tag == "" {
		return false
	}
	n, first := 0, true
	for i := 0; i <= len(tag); i++ {
		if i == len(tag) || tag[i] == '-' || tag[i] == '_' {
			if n == 0 || n > 8 {
				return false
			}
			n, first = 0, false
			continue
		}
		c := tag[i] | 0x20 // lower-case letters; digits keep their value
		switch {
		case c >= 'a' && c <= 'z':
		case !first && tag[i] >= '0' && tag[i] <= '9':
		default:
			return false
		}
		n++
	}
	return true
}

// parseWeight parses an RFC 9110 weight: "0" or "1", with at most three
// decimals ("0.8", "1.000"), as thousandths.
func parseWeight(s string) (int, bool) {
	if s == "" || (s[0] != '0' && s[0] != '1') {
		return 0, false
	}
	whole := int(s[0]-'0') * 1000
	rest := s[1:]
	if rest == "" {
		return whole, true
	}
	if rest[0] != '.' || len(rest) > 4 {
		return 0, false
	}
	frac, scale := 0, 100
	for i := 1; i < len(rest); i++ {
		d := rest[i]
		if d < '0' || d > '9' {
			return 0, false
		}
		frac += int(d-'0') * scale
		scale /= 10
	}
	if whole == 1000 && frac != 0 {
		return 0, false
	}
	return whole + frac, true
}
