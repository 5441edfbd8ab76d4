package middleware

import (
	"errors"
	"net/http"
	"strings"
)

// Language is a language of the messages in error bodies. See Localize.
type Language string

// The languages of the message catalogue.
const (
	// English is the default: the answer when a request names no language
	// of the catalogue.
	English Language = "en"
	// Chinese is Simplified Chinese, as shown in a WeChat dialog. Every
	// "zh" language range selects it, zh-TW and zh-Hant included.
	Chinese Language = "zh-CN"
)

// messageText is one code's message in each language of the catalogue.
type messageText struct {
	en, zh string
}

// messages is the catalogue: the message of every code this package writes
// or reserves (scene_not_supported, attempts_exhausted, budget_exhausted).
// The English texts are the package's; an answer may carry a more specific
// English text under the same code (the variants of invalid_token and
// malformed_body), which Localize keeps for English readers. The Chinese
// texts are short enough for a WeChat dialog.
var messages = map[string]messageText{
	// Authentication (errorTable).
	"missing_token":           {"a bearer token is required", "请先登录"},
	"malformed_authorization": {"the Authorization header is malformed", "登录信息格式有误，请重新登录"},
	"authorization_too_large": {"the Authorization header is too large", "登录信息过长，请重新登录"},
	"token_expired":           {"the token has expired", "登录已过期，请重新登录"},
	"token_not_yet_valid":     {"the token is not valid yet", "登录尚未生效，请稍后再试"},
	"token_issued_in_future":  {"the token was issued in the future", "登录时间有误，请重新登录"},
	"token_missing_exp":       {"the token has no expiration time", "登录信息缺少有效期，请重新登录"},
	"invalid_issuer":          {"the token issuer is not accepted", "登录来源无效，请重新登录"},
	"invalid_audience":        {"the token audience is not accepted", "登录信息不适用于本服务，请重新登录"},
	"unknown_key":             {"the token key id is not known", "登录信息无法识别，请重新登录"},
	"invalid_algorithm":       {"the token signing algorithm is not accepted", "登录信息签名方式无效，请重新登录"},
	"missing_openid":          {"the token carries no openid", "登录信息缺少用户标识，请重新登录"},
	"invalid_token":           {"the token is invalid", "登录信息无效，请重新登录"},

	// The claim route.
	"method_not_allowed": {"only POST is allowed", "仅支持 POST 请求"},
	"not_found":          {"the requested path was not found", "请求的地址不存在"},
	"rate_limited":       {"too many requests; retry later", "操作太频繁，请稍后再试"},
	"malformed_body":     {"the request body is not valid JSON", "请求内容格式有误"},
	"body_too_large":     {"the request body is too large", "请求内容过大"},
	"policy_error":       {"the red packet could not be granted", "暂时无法发放红包，请稍后再试"},
	"refused":            {"the red packet is not available", "暂无可领取的红包"},
	"in_progress":        {"the red packet is being sent; retry shortly", "红包正在发放，请稍后再试"},
	"claim_window_expired": {"the red packet can no longer be opened",
		"红包已过期，无法领取"},
	"scene_not_supported": {"red packets cannot be claimed from this scene",
		"当前场景不支持领取红包"},
	"scene_required": {"the claim names no launch scene: send the scene of wx.getEnterOptionsSync() as scene",
		"缺少进入场景，请重新扫码打开小程序"},
	"attempts_exhausted": {"no attempts are left for this red packet", "领取次数已用完"},
	"budget_exhausted":   {"the red packets of this campaign are all given out", "红包已发完"},
	"budget_unavailable": {"red packets are not available at the moment", "红包暂时无法发放，请稍后再试"},

	// The platform's answers.
	"outcome_unknown":       {"the red packet is not confirmed yet; retry shortly", "红包发放结果确认中，请稍后再试"},
	"rate_limited_upstream": {"the payment platform is busy; retry shortly", "微信支付繁忙，请稍后再试"},
	"risk_control":          {"the payment platform does not allow this user a red packet", "当前账号暂时无法领取红包"},
	"user_limit_reached":    {"the daily red packet limit of this user is reached", "今日领取红包已达上限"},
	"grant_conflict":        {"this red packet was already granted on other terms", "该红包已按其他条件发放"},
	"merchant_unavailable":  {"red packets are not available at the moment", "红包暂时无法发放，请稍后再试"},
	"send_failed":           {"the red packet could not be sent", "红包发放失败"},
	"platform_rejected":     {"the payment platform rejected the request", "红包发放失败，请联系商家"},
	"platform_error":        {"the payment platform returned an error", "红包发放出错，请稍后再试"},
	"internal_error":        {"internal error", "系统繁忙，请稍后再试"},
}

// Message returns the catalogue's message for code in the language r
// prefers (see PreferredLanguage), or "" when code is not in the catalogue.
// A nil r means English.
func Message(code string, r *http.Request) string {
	t, ok := messages[code]
	if !ok {
		return ""
	}
	return t.in(PreferredLanguage(r))
}

func (t messageText) in(lang Language) string {
	if lang == Chinese {
		return t.zh
	}
	return t.en
}

// Localize returns the message to send with code to the client of r: the
// default error handlers of this package write every body through it, and
// custom error handlers may do the same:
//
//	middleware.WriteError(w, status, code, middleware.Localize(r, code, message))
//
// For a code of the catalogue and a client that prefers Chinese, it
// returns the catalogue's Chinese text; a detail that follows the
// catalogue's English text and ": " in message is kept ("the red packet
// grant is invalid: send_name" becomes "红包配置有误：send_name"). English
// clients get message itself, or the catalogue's English when message is
// empty. For any other code, a Policy's refusal code for example, message
// is returned as it is.
func Localize(r *http.Request, code, message string) string {
	s, _ := localize(PreferredLanguage(r), code, message)
	return s
}

// localize returns message in lang, and the language of the result ("" when
// it is not known: message was returned as it is for an unknown code).
func localize(lang Language, code, message string) (string, Language) {
	t, ok := messages[code]
	if !ok {
		return message, ""
	}
	if lang != Chinese {
		if message == "" {
			return t.en, English
		}
		return message, English
	}
	if detail, ok := strings.CutPrefix(message, t.en+": "); ok && detail != "" {
		return t.zh + "：" + detail, Chinese
	}
	return t.zh, Chinese
}

// writeLocalized writes the error body with message in the language of r
// (see Localize), and says so: Vary: Accept-Language, and Content-Language
// when the language of the message is known.
func writeLocalized(w http.ResponseWriter, r *http.Request, status int, code, message string) {
	msg, lang := localize(PreferredLanguage(r), code, message)
	writeIn(w, status, code, msg, lang)
}

func writeIn(w http.ResponseWriter, status int, code, message string, lang Language) {
	h := w.Header()
	if !headerHasToken(h, "Vary", "Accept-Language") {
		h.Add("Vary", "Accept-Language")
	}
	if lang != "" {
		h.Set("Content-Language", string(lang))
	}
	WriteError(w, status, code, message)
}

// handlerMessage is the message of a handler's answer e in the language of
// r: a Policy's own refusal text is sent as the policy wrote it; the
// generic text of a refusal without one is the catalogue's "refused".
func handlerMessage(r *http.Request, e *HandlerError) (string, Language) {
	lang := PreferredLanguage(r)
	var ref *Refusal
	switch {
	case errors.As(e.Err, &ref) && ref != nil && ref.Message != "":
		return e.Message, ""
	case errors.Is(e.Err, ErrRefused):
		return localize(lang, "refused", e.Message)
	}
	return localize(lang, e.Code, e.Message)
}

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
