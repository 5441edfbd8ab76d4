package wxlogin

import (
	"net/http"
	"time"

	"github.com/hongbao-go/hongbao/middleware/httperr"
)

// answer is one kind of failed login: its status, code and message in
// English and Chinese (short enough for a WeChat dialog).
type answer struct {
	status int
	code   string
	en, zh string
}

// failure is an answer to one request, with its cause for the log.
type failure struct {
	answer
	err        error
	hint       string // what to fix, for the log
	retryAfter time.Duration
}

func (a answer) with(err error) *failure { return &failure{answer: a, err: err} }

// answers is the catalogue of the login route's errors.
var answers = map[string]answer{
	"missing_code":        {http.StatusBadRequest, "missing_code", "the login code is missing: send the code of wx.login as code", "缺少登录凭证，请重新登录"},
	"invalid_code":        {http.StatusBadRequest, "invalid_code", "the login code is invalid or expired: call wx.login again", "登录凭证无效或已过期，请重新登录"},
	"code_used":           {http.StatusBadRequest, "code_used", "the login code was already used: call wx.login again", "登录凭证已使用，请重新登录"},
	"login_blocked":       {http.StatusForbidden, "login_blocked", "WeChat blocked the login of this user (high-risk account)", "当前微信账号存在风险，暂时无法登录"},
	"rate_limited":        {http.StatusTooManyRequests, "rate_limited", "too many requests; retry later", "操作太频繁，请稍后再试"},
	"login_rate_limited":  {http.StatusTooManyRequests, "login_rate_limited", "too many WeChat logins; retry in a minute", "微信登录太频繁，请一分钟后再试"},
	"login_busy":          {http.StatusServiceUnavailable, "login_busy", "WeChat login is busy; retry shortly", "微信登录繁忙，请稍后再试"},
	"login_misconfigured": {http.StatusBadGateway, "login_misconfigured", "the login service is misconfigured", "登录服务配置有误，请联系商家"},
	"login_failed":        {http.StatusBadGateway, "login_failed", "WeChat login failed", "微信登录失败，请稍后再试"},
	"malformed_body":      {http.StatusBadRequest, "malformed_body", "the request body is not valid JSON", "请求内容格式有误"},
	"body_too_large":      {http.StatusRequestEntityTooLarge, "body_too_large", "the request body is too large", "请求内容过大"},
	"internal_error":      {http.StatusInternalServerError, "internal_error", "internal error", "系统繁忙，请稍后再试"},
}

// writeAnswer writes f's JSON error body in the language r prefers
// (httperr.PreferredLanguage), with Content-Language and Vary.
func writeAnswer(w http.ResponseWriter, r *http.Request, f *failure) {
	lang := httperr.PreferredLanguage(r)
	msg := f.en
	if lang == httperr.Chinese {
		msg = f.zh
	} else {
		lang = httperr.English
	}
	httperr.WriteIn(w, f.status, f.code, msg, lang)
}
