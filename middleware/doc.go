// Package middleware holds the HTTP layer of the hongbao service.
//
// Authentication: an [Authenticator] verifies the bearer JWT of each request
// (RFC 6750 "Authorization: Bearer <token>" header only; never the query string
// or a form body), checks its signature against a fixed set of [Key]s, enforces
// exp, nbf, iat, iss and aud, and stores the verified [User] (with the caller's
// openid) in the request context, from where handlers read it with [UserFrom].
// Requests that fail are answered with 401, an RFC 6750 WWW-Authenticate
// challenge and a JSON body written by [WriteError].
//
// Errors: every response error body is the JSON object
// {"code": "...", "message": "..."}, where code is a short snake_case string
// (see [ErrorCode]) and message is a fixed human-readable text that never
// contains credentials or tokens, in the language the request prefers (see
// Languages below).
//
// # Languages
//
// The message of an error body follows the request's Accept-Language
// header: English ([English], the default when there is no header or it
// names no language of the catalogue) or Simplified Chinese ([Chinese],
// for every "zh" range: zh-CN, zh-Hans, zh, and also zh-TW). Weights are
// respected ("en;q=0.9, zh;q=0.8" is English), "*" stands for every
// language not listed, q=0 excludes, malformed ranges are skipped, and
// WeChat's own form "zh_CN" is accepted. Codes never change with the
// language. The Chinese texts are short, for a WeChat dialog:
//
//	{"code":"token_expired","message":"登录已过期，请重新登录"}
//	{"code":"rate_limited","message":"操作太频繁，请稍后再试"}
//
// The default error handlers ([DefaultErrorHandler],
// [DefaultSendErrorHandler]) and the route's answers ([MethodNotAllowed],
// [NotFound]) localize through [Localize] and add "Vary: Accept-Language"
// and Content-Language; [WriteError] itself writes the message it is given,
// so a custom error handler localizes with
//
//	middleware.WriteError(w, status, code, middleware.Localize(r, code, message))
//
// [Message] gives the catalogue's text for a code, [PreferredLanguage] the
// language chosen. A [Refusal]'s Message is the policy's own text and is
// sent as it is; a refusal without one gets the catalogue's generic text.
// The WWW-Authenticate challenge's error_description stays English: RFC
// 6750 allows only ASCII there.
//
// wx.request does not promise an Accept-Language header: the mini program
// sets one from wx.getAppBaseInfo().language ("zh_CN", "en", ...).
//
// # The red-packet handler
//
// [NewHandler] returns the http.Handler behind "user taps a button, gets a
// red packet". Mount it behind the Authenticator:
//
//	middleware.Mount(mux, "/hongbao/send", auth, h) // net/http
//
// [Mount] (and the Mount of each adapter, for chi, gin and echo) routes
// every method of the path: POST goes through the Authenticator to the
// handler, any other method gets [MethodNotAllowed] before authentication,
// and the paths under it get [NotFound], so the route answers the same JSON
// on every router, where a router would otherwise answer in plain text, with
// an empty body or with its own JSON. Mounted by hand, with
// mux.Handle("/hongbao/send", auth.Middleware(h)), the handler still answers
// other methods itself, after authentication.
//
// It answers POST only (405 with "Allow: POST" otherwise) and, on success,
// 200 with exactly the object wx.sendBizRedPacket takes, {timeStamp,
// nonceStr, package, signType, paySign}, and Cache-Control: no-store. A tap
// goes through these steps:
//
//  1. the verified [User] from the context (401 without one);
//  2. the per-openid rate limit of the [Store] (429 with Retry-After);
//  3. the body, capped by MaxBodyBytes (413) and, when not empty, one JSON
//     value (400 "malformed_body");
//  4. the [Policy], which decides the [Grant] on the server. The client
//     never chooses the amount or the openid: the openid is always the
//     verified user's, and an "amount" or "openid" in the body is ignored
//     unless the policy itself reads it;
//  5. the bill number, derived from the grant's Key and the openid by
//     hongbao.Client.Billno, and validation of the send (422
//     "invalid_grant" naming the field);
//  6. idempotency, below; then the platform's answer or the stored one.
//
// # Idempotency and replicas
//
// The bill number is the platform's idempotency key, and it is derived, not
// drawn: every tap of one user on one grant, on any replica, after any
// restart, carries the same number, and the platform never pays one number
// twice. On top of that safety net the handler avoids needless calls:
//
//   - a Result in the Store answers the tap without calling the platform:
//     the same package, with a fresh nonceStr, timeStamp and paySign; a
//     result older than ClaimWindow (24 hours) answers 410
//     "claim_window_expired", and a result for another amount 409
//     "grant_conflict" (the policy changed the grant under the same Key);
//   - concurrent taps in one process share one in-flight send;
//   - across replicas, the sender holds Store.TryLock on the bill number
//     (for at most LockTTL, which also bounds the send); a replica that
//     does not get it polls the Store for the result, or for the lock to
//     come free, for up to WaitTimeout and then answers 503 "in_progress"
//     with Retry-After;
//   - the send is detached from the request: a user leaving mid-way does
//     not abort a payout. Handler.Shutdown, called after the server's own
//     Shutdown, waits for such sends to end and save their results.
//
// When the Store fails (a shared server down, say), the handler degrades to
// this process: results, rate limits and coalescing are then kept in a
// private MemoryStore, a warning is logged for each failure, and a send
// goes ahead without the cross-replica lock. After a failure the handler
// leaves the Store alone for StoreRetryAfter (5 seconds), so taps during
// an outage do not each wait for failing round trips. Two replicas may then send the
// same bill number at once; the platform pays it once and both get the
// same package.
//
// When the outcome of a send is unknown (SYSTEMERROR or timeouts after the
// client's retries, PROCESSING), nothing is stored and the tap is answered
// 503 "outcome_unknown" with Retry-After: the next tap resends the same
// bill number, which pays at most once and returns the package if the
// first send went through. Definitive failures are not stored either, but
// the platform remembers them: after SEND_FAILED or NOTENOUGH the same bill
// number keeps failing, even once the balance is topped up, so a new attempt
// needs a new grant Key (for example the campaign id plus an attempt number
// the policy keeps). Change the Key only after a definitive failure, never
// after "outcome_unknown": a new Key is a new payout.
//
// Results are kept for ResultTTL (30 days, the platform's record window).
// A shorter one is safe for money (a repeat tap after expiry resends the
// same bill number and gets the same package) but would let a packet older
// than the claim window be handed out again as new. See [MemoryStore] for
// the memory this takes.
//
// # Status codes
//
// Every failure is a JSON body {"code", "message"} written by [WriteError]
// (through HandlerConfig.ErrorHandler), whose message is a fixed text: never
// a secret, never the platform's own words. [StatusOf] gives the status and
// code of any error, for adapters and custom error handlers:
//
//	400 malformed_body          the body is not one JSON value
//	401 unauthenticated         no verified user (handler not behind the middleware)
//	403 <refusal code>          the Policy refused ([Refusal], [ErrRefused])
//	403 risk_control            NO_AUTH
//	403 user_limit_reached      SENDNUM_LIMIT, RCVDAMOUNT_LIMIT
//	404 not_found               a path under the claim path (Mount)
//	405 method_not_allowed      not POST
//	409 grant_conflict          FATAL_ERROR, or a stored result for another amount
//	410 claim_window_expired    paid more than ClaimWindow ago
//	413 body_too_large          body over MaxBodyBytes
//	422 invalid_grant           the grant breaks a platform rule
//	429 rate_limited            the per-openid limit (Retry-After)
//	500 policy_error            the Policy failed (logged)
//	500 internal_error          anything unexpected
//	502 send_failed             SEND_FAILED, or PROCESSING then FAILED
//	502 platform_rejected       configuration: CA_ERROR, SIGN_ERROR, XML_ERROR,
//	                            PARAM_ERROR, MONEY_LIMIT, ILLEGAL_APPID, OPENID_ERROR,
//	                            MSGAPPID_ERROR, ACCEPTMODE_ERROR, return_code FAIL
//	502 platform_error          an err_code this package does not know
//	503 outcome_unknown         may have paid; the next tap resumes (Retry-After)
//	503 rate_limited_upstream   FREQ_LIMIT after retries (Retry-After)
//	503 merchant_unavailable    NOTENOUGH, SENDAMOUNT_LIMIT, API_METHOD_CLOSED,
//	                            PRODUCT_AUTHORITY_UNOPEN
//	503 in_progress             another replica is still sending (Retry-After)
//
// Each tap is logged once (openid, billno, status, code, err_code, source:
// "platform", "shared" or "store", elapsed); keys and tokens never are.
package middleware
