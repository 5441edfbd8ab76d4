// Package wxlogin is the login route of a mini program: it exchanges the
// code of wx.login for the user's openid (code2Session) and answers a
// session token, a JWT whose subject is that openid, which the claim
// route's jwtauth.Authenticator verifies.
//
// The openid is the red packet's recipient, so it must come from the
// platform, never from the mini program: the page calls wx.login, POSTs
// {"code": "<code>"} here, keeps the token until it expires and sends it
// as "Authorization: Bearer <token>" with each claim.
//
//	key, err := wxlogin.HMACSecret("", jwtSecret) // or PrivateKeyPEM(kid, pem)
//	login, err := wxlogin.New(wxlogin.Config{
//		AppID: "wx8888888888888888", AppSecret: appSecret, Key: key,
//	})
//	cfg, err := login.AuthConfig() // accepts the tokens login signs
//	auth, err := jwtauth.NewAuthenticator(cfg)
//	wxlogin.Mount(mux, "/hongbao/login", login)
//	claim.Mount(mux, "/hongbao/send", auth, send)
//
// The handler calls GET https://api.weixin.qq.com/sns/jscode2session with
// appid, secret, js_code and grant_type=authorization_code, and answers
// 200 {"token", "expiresIn" (seconds), "expiresAt" (Unix seconds)}. The
// token carries sub (the openid), unionid when the platform gives one,
// iat, exp (Config.Lifetime, 2 hours by default) and, when configured, iss
// and aud. The session_key of the answer is never decoded, returned or
// logged; neither are the code, the app secret or the token.
//
// Errors are {"code", "message"}, the message in the request's
// Accept-Language (English, or Chinese for zh), as on the claim route:
//
//	400 missing_code         no code in the body
//	400 malformed_body       the body is not JSON, or code not a string
//	400 invalid_code         40029, or not a wx.login code: call wx.login again
//	400 code_used            seen before on this server, or 40163
//	403 login_blocked        40226: WeChat blocks this high-risk user
//	405 method_not_allowed   not POST (Allow: POST)
//	413 body_too_large       over Config.MaxBodyBytes (4 KiB)
//	429 rate_limited         over Config.RateLimit logins from one address (Retry-After)
//	429 login_rate_limited   45011: too many calls to code2Session (Retry-After: 60)
//	502 login_misconfigured  40013 (AppID), 40125 (AppSecret), an untrusted
//	                         host certificate (RootCAPEM): logged at ERROR
//	                         with the field to fix
//	502 login_failed         any other errcode, an unreadable answer
//	503 login_busy           -1, no answer in Config.Timeout (Retry-After)
//
// Check proves AppID and AppSecret at start-up, without a user: it asks
// about a code that does not exist, which code2Session answers 40029 when
// both are right.
//
// A code is used once: every code seen is remembered (its SHA-256, in
// memory, github.com/patrickmn/go-cache) for Config.CodeTTL, and a second
// use is refused before the platform is asked; behind several replicas the
// platform's 40163 refuses it all the same.
//
// Adapters: hongbaochi.MountLogin, hongbaogin.MountLogin and
// hongbaoecho.MountLogin register the route on chi, gin and echo.
// transport/wxpaytest's LoginHost fakes code2Session for tests.
package wxlogin
