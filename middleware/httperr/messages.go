package httperr

import (
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
	"already_received":   {"the red packet was already received", "红包已领取"},
	"budget_exhausted":   {"the red packets of this campaign are all given out", "红包已发完"},
	"budget_unavailable": {"red packets are not available at the moment", "红包暂时无法发放，请稍后再试"},

	// The platform's answers.
	"outcome_unknown":       {"the red packet is not confirmed yet; retry shortly", "红包发放结果确认中，请稍后再试"},
	"rate_limited_upstream": {"the payment platform is busy; retry shortly", "微信支付繁忙，请稍后再试"},
	"risk_control":          {"the payment platform does not allow this user a red packet", "当前账号暂时无法领取红包"},
	"user_limit_reached":    {"the daily red packet limit of this user is reached", "今日领取红包已达上限"},
	"grant_conflict":        {"this red packet was already granted on other terms", "该红包已按其他条件发放"},
	"recovered_terms_invalid": {"the red packet's recorded terms cannot be sent again",
		"红包信息有误，请联系商家"},
	"merchant_unavailable": {"red packets are not available at the moment", "红包暂时无法发放，请稍后再试"},
	"send_failed":          {"the red packet could not be sent", "红包发放失败"},
	"platform_rejected":    {"the payment platform rejected the request", "红包发放失败，请联系商家"},
	"platform_error":       {"the payment platform returned an error", "红包发放出错，请稍后再试"},
	"internal_error":       {"internal error", "系统繁忙，请稍后再试"},
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
//	httperr.WriteError(w, status, code, httperr.Localize(r, code, message))
//
// For a code of the catalogue and a client that prefers Chinese, it
// returns the catalogue's Chinese text; a detail that follows the
// catalogue's English text and ": " in message is kept ("the red packet
// grant is invalid: send_name" becomes "红包配置有误：send_name"). English
// clients get message itself, or the catalogue's English when message is
// empty. For any other code, a Policy's refusal code for example, message
// is returned as it is.
func Localize(r *http.Request, code, message string) string {
	s, _ := LocalizeTo(PreferredLanguage(r), code, message)
	return s
}

// LocalizeTo is Localize for the language lang; it also returns the
// language of the result ("" when it is not known: message was returned as
// it is for a code outside the catalogue).
func LocalizeTo(lang Language, code, message string) (string, Language) {
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
