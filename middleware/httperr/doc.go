// Package httperr writes the error answers of the hongbao routes: the JSON
// body {"code": "...", "message": "..."}, where code is a short snake_case
// string and message a fixed text that never carries a secret, in the
// language the request prefers. Packages middleware/jwtauth and
// middleware/claim answer through it, and so can a custom error handler:
//
//	httperr.WriteError(w, status, code, httperr.Localize(r, code, message))
//
// [WriteError] writes the body as given, with Content-Type
// application/json, X-Content-Type-Options: nosniff and Cache-Control:
// no-store. [WriteLocalized] first chooses the message's language and says
// so (Vary: Accept-Language, Content-Language); [WriteIn] writes a message
// already in a language.
//
// # Languages
//
// The message follows the request's Accept-Language header
// ([PreferredLanguage]): English ([English], the default when there is no
// header or it names no language of the catalogue) or Simplified Chinese
// ([Chinese], for every "zh" range: zh-CN, zh-Hans, zh, zh-TW). Weights are
// respected ("en;q=0.9, zh;q=0.8" is English), "*" stands for every
// language not listed, q=0 excludes, malformed ranges are skipped, and
// WeChat's form "zh_CN" is accepted. Codes never change with the language.
// The Chinese texts are short, for a WeChat dialog:
//
//	{"code":"token_expired","message":"登录已过期，请重新登录"}
//	{"code":"rate_limited","message":"操作太频繁，请稍后再试"}
//
// The catalogue holds every code the routes write ([Message] gives its
// text). [Localize] keeps a detail that follows the English text ("...:
// send_name") and returns a message of a code outside the catalogue (a
// policy's own refusal) as it is. wx.request does not promise an
// Accept-Language header: the mini program sets one from
// wx.getAppBaseInfo().language ("zh_CN", "en", ...).
package httperr
