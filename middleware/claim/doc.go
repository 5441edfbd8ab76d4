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
//	httperr.WriteError(w, status, code, httperr.Localize(r, code, message))
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
// Tests: package middleware/jwttest mints tokens for an Authenticator, and
// transport/wxpaytest fakes the platform behind the handler.
//
// # The red-packet handler
//
// [NewHandler] returns the http.Handler behind "user taps a button, gets a
// red packet". Mount it behind the Authenticator:
//
//	claim.Mount(mux, "/hongbao/send", auth, h) // net/http
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
// goes through these steps (ServeHTTP reads as this list; each step has a
// file of its own):
//
//  1. the verified [User] from the context (500 without one: the handler
//     is mounted without the Authenticator, a server misconfiguration);
//  2. the per-openid rate limit of the [Store] (429 with Retry-After);
//  3. the body, capped by MaxBodyBytes (413) and, when not empty, one JSON
//     value (400 "malformed_body");
//  4. the scene gate (scene.go): a body {"scene": n} naming a launch scene
//     from which wx.sendBizRedPacket cannot open a packet is answered 403
//     "scene_not_supported" before anything is paid ([DefaultScenes],
//     HandlerConfig.Scenes, RequireScene);
//  5. the [Policy] (policy.go), which decides the [Grant] on the server.
//     The client never chooses the amount or the openid: the openid is
//     always the verified user's, and an "amount" or "openid" in the body
//     is ignored unless the policy itself reads it. A policy error, or a
//     grant that breaks a platform rule, is 500 "policy_error";
//  6. the grant's lifecycle (lifecycle.go), below: its terms, its attempts,
//     recovery from the platform; sends are coalesced and locked across
//     replicas (send.go), and the Store may fail (fallback.go);
//  7. the paid result, answered with fresh wx.sendBizRedPacket parameters.
//
// # The grant lifecycle
//
// A grant is a (Key, openid) pair. It is paid under a sequence of bill
// numbers derived from it, attempt 0, 1, 2 ... (hongbao.Client.AttemptBillno;
// attempt 0 is the number Client.Billno has always given): derived, not
// drawn, so every tap of one user on one grant, on any replica, after any
// restart, carries the same number, and the platform never pays one number
// twice.
//
// Terms. The first grant decided is the one paid: its amount, texts and
// scene_id ([Terms]) are recorded in the Store before the first send, and
// every later tap, on every replica, sends those, whatever the Policy says
// then. A policy that draws a random amount per call is therefore safe;
// [RandomAmount] draws one that is stable anyway. When the Store knew
// nothing of a grant (a new grant, or records lost: a restart with the
// memory store, a flushed Redis) the handler asks gethbinfo about the
// number first (one query per new grant): a packet the platform already
// holds gives the terms that were paid (amount, wishing, act_name, remark;
// send_name and scene_id from the current grant) and its send_time. Should
// a send still meet FATAL_ERROR (the number was paid with other terms), the
// same recovery runs and the paid terms are sent again: the user gets the
// package that was paid.
//
// Attempts. The handler moves from attempt n to n+1 only when the platform
// itself reports n closed: gethbinfo status FAILED, or REFUND (a packet
// never opened, its money returned) when the grant allows re-claims
// (Grant.Reclaim). It never moves while n is SENT, SENDING, RECEIVED,
// RFUND_ING or NOT_FOUND (which may mean "still processing"), after an
// unknown outcome, or after an err_code it does not know. What the platform
// says of each number is kept in the Store ([Result].Closed, Refused), so
// that taps do not ask again, and found again from the platform when lost,
// so a restart can never skip back to an earlier number. After the last of
// HandlerConfig.MaxAttempts (3) numbers is closed, taps are answered 410
// "attempts_exhausted".
//
// After each err_code:
//
//   - SYSTEMERROR, FREQ_LIMIT, timeouts, unreadable replies: the client
//     retries the same number; when it gives up the outcome is unknown and
//     the tap is answered 503 (Retry-After): the next tap sends the same
//     number again, which pays at most once;
//   - PROCESSING: the client asks gethbinfo after a delay; FAILED closes
//     the number (the next attempt is sent at once), anything else is 503
//     "outcome_unknown";
//   - SEND_FAILED: the handler asks gethbinfo at once; FAILED closes the
//     number and the next attempt is sent in the same tap;
//   - NOTENOUGH, SENDAMOUNT_LIMIT, API_METHOD_CLOSED, PRODUCT_AUTHORITY_UNOPEN
//     (503 "merchant_unavailable") and NO_AUTH, SENDNUM_LIMIT,
//     RCVDAMOUNT_LIMIT (403): the refusal is remembered and the next tap
//     sends the same number again, which the platform may pay once the
//     operator has acted (topped up the balance, raised a limit); only when
//     it is refused again does the handler ask gethbinfo (at most every 30
//     seconds), and FAILED moves it to the next number, sent in that tap.
//     While the merchant cannot pay, new numbers are paced by a gate shared
//     through the Store: new numbers go one at a time, and after a merchant
//     refusal (NOTENOUGH, SENDAMOUNT_LIMIT, API_METHOD_CLOSED,
//     PRODUCT_AUTHORITY_UNOPEN) no grant, on any replica, moves to a new
//     number for MerchantProbe (30 seconds; 503 "merchant_unavailable" with
//     Retry-After); then one tap probes, and the first success opens the
//     way. So an outage does not use up users' attempts.
//     After NOTENOUGH the operator tops up; nothing else is needed, and a
//     new grant Key must NOT be used (it would pay again every user already
//     paid under the old one);
//   - FATAL_ERROR: recovery of the paid terms, above;
//   - configuration codes (CA_ERROR, SIGN_ERROR, PARAM_ERROR, ...) and
//     unknown codes: nothing moves; fix the configuration, and the next tap
//     resends the same number.
//
// The claim window follows the platform: PaidAt is gethbinfo's send_time
// when the handler learnt it from there, otherwise the latest moment known
// to precede the send that paid (the recording of the terms, the closing of
// the previous attempt, the last refusal of this number), never a later
// one. A result older than ClaimWindow (24 hours) is answered 410
// "claim_window_expired" or, with Grant.Reclaim, checked with gethbinfo:
// REFUND moves the grant to its next number.
//
// # Coalescing, replicas and Store failures
//
//   - a paid result in the Store answers the tap without calling the
//     platform: the same package, with a fresh nonceStr, timeStamp and
//     paySign;
//   - concurrent taps of one grant in one process share one walk of its
//     lifecycle;
//   - across replicas, the sender holds Store.TryLock on the bill number
//     (for at most LockTTL, which also bounds the send); a replica that
//     does not get it polls the Store for the result, or for the lock to
//     come free, for up to WaitTimeout and then answers 503 "in_progress"
//     with Retry-After;
//   - the walk is detached from the request: a user leaving mid-way does
//     not abort a payout. Handler.Shutdown, called after the server's own
//     Shutdown, waits for walks in flight to end and save their results.
//
// When the Store fails (a shared server down, say), the handler degrades to
// this process: terms, results, rate limits and coalescing are then kept
// in a private MemoryStore, a warning is logged for each failure, and a send
// goes ahead without the cross-replica lock. After a failure the handler
// leaves the Store alone for StoreRetryAfter (5 seconds), so taps during an
// outage do not each wait for failing round trips; results kept locally
// meanwhile are saved to the Store as soon as it answers again. Two replicas
// may then send the same bill number at once; the platform pays it once and
// both get the same package. A Store whose TryLock fails never leaves the
// lock behind (it is released by its token).
//
// Results are kept for ResultTTL (30 days, the platform's record window).
// See [MemoryStore] for the memory this takes.
//
// # Status codes
//
// Every failure is a JSON body {"code", "message"} written by [WriteError]
// (through HandlerConfig.ErrorHandler), whose message is a fixed text: never
// a secret, never the platform's own words. [StatusOf] gives the status and
// code of any error, for adapters and custom error handlers:
//
//	400 malformed_body          the body is not one JSON value, or its scene is not a number
//	403 scene_not_supported     the launch scene cannot open red packets
//	403 <refusal code>          the Policy refused ([Refusal], [ErrRefused])
//	403 risk_control            NO_AUTH
//	403 user_limit_reached      SENDNUM_LIMIT, RCVDAMOUNT_LIMIT
//	404 not_found               a path under the claim path (Mount)
//	405 method_not_allowed      not POST
//	409 grant_conflict          FATAL_ERROR whose paid terms could not be recovered
//	410 claim_window_expired    paid more than ClaimWindow ago, or refunded
//	410 attempts_exhausted      every attempt of the grant was closed by the platform
//	413 body_too_large          body over MaxBodyBytes
//	429 rate_limited            the per-openid limit (Retry-After)
//	500 policy_error            the Policy failed, or granted what breaks a platform rule (logged)
//	500 internal_error          no verified user (not behind the middleware), anything unexpected
//	502 send_failed             SEND_FAILED not (yet) reported closed
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
// A failure before the request reached the platform (connection refused,
// DNS, the platform's certificate refused) is not an unknown outcome: the
// tap is answered like other platform failures, without the "may have
// paid" of outcome_unknown.
//
// Each tap is logged once (openid, billno, status, code, err_code, source:
// "platform", "shared" or "store", elapsed); keys and tokens never are.
// HandlerConfig.Observer ([Observer], nil for none) is told of each tap as
// well, for metrics and traces: the module
// github.com/hongbao-go/hongbao/otel implements it with OpenTelemetry.
package claim
