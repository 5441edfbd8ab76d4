// Package claim is the claim handler: the http.Handler behind "user taps a
// button, gets a red packet", mounted behind a jwtauth.Authenticator. The
// rail is configuration: HandlerConfig.Client (the APIv2 red packet) or
// HandlerConfig.Rail (any rail.Rail, such as the APIv3 merchant transfer's,
// transfer.Client.Rail, whose notifications NotificationHandler receives):
//
//	h, err := claim.NewHandler(claim.HandlerConfig{Client: client, Policy: policy, Store: st})
//	claim.Mount(mux, "/hongbao/send", auth, h) // adapters/{chi,gin,echo} for the others
//	// the transfer: Rail: tr (tr, err := transferClient.Rail(transfer.RailConfig{NotifyURL: u}))
//	nh, err := h.NotificationHandler() // mux.Handle("/hongbao/notify", nh), no JWT
//
// [Mount] routes POST through the Authenticator to the handler, any other
// method to [MethodNotAllowed], the paths under it to [NotFound]. A tap is
// answered 200 with the rail's name and what the page passes to the
// platform ({"rail":"redpacket", timeStamp, nonceStr, package, signType,
// paySign} for wx.sendBizRedPacket; {"rail":"transfer", mchId, appId,
// package} for wx.requestMerchantTransfer), Cache-Control: no-store, after:
//
//  1. the verified jwtauth.User from the context (500 without one);
//  2. the per-openid rate limit of the store.Store (429, Retry-After);
//  3. the body, capped by MaxBodyBytes (413) and one JSON value (400);
//  4. the scene gate (scene.go): a launch scene that cannot open a packet,
//     or none, is refused before anything is paid ([DefaultScenes]);
//  5. the [Policy] decides the [Grant] on the server: the openid is
//     always the verified user's, the amount the policy's;
//  6. the grant's lifecycle (lifecycle.go): terms recorded before the
//     first send; the budget (budget.go: an account opened once with
//     [Handler.OpenBudget], refused while lost until rebuilt with
//     store.RebuildBudget); refusals held back for the merchant's outage
//     and the user's day (merchant.go, userlimit.go); attempts moved on
//     only on the platform's proof; PaidAt from the send that paid
//     (claimwindow.go); an offer the user must still confirm reserved
//     until paid (waiting.go); sends locked across replicas (send.go);
//     the Store's failures survived (fallback.go).
//
// A repeat tap of a paid grant, or of an offer waiting for the user, is
// answered from the Store alone; the platform's news (notifications,
// Settle, Cancel) is recorded forward only under the number's lock
// (notify.go). The reasons are in docs/design.md.
//
// # Status codes
//
// Every failure is the JSON body {"code", "message"} of package
// middleware/httperr, its message a fixed text in the client's language,
// never a secret nor the platform's words. [StatusOf] gives the status and
// code of any error, for adapters and custom error handlers:
//
//	400 malformed_body          the body is not one JSON value, or its scene is not a number
//	400 scene_required          the body names no scene (unless SceneOptional)
//	403 scene_not_supported     the launch scene cannot open red packets
//	403 <refusal code>          the Policy refused ([Refusal], [ErrRefused])
//	403 budget_exhausted        the campaign's budget is used up
//	403 risk_control            NO_AUTH, until midnight in Beijing (Retry-After)
//	403 user_limit_reached      SENDNUM_LIMIT, RCVDAMOUNT_LIMIT, until midnight (Retry-After)
//	404 not_found               a path under the claim path (Mount)
//	405 method_not_allowed      not POST
//	409 grant_conflict          FATAL_ERROR whose paid terms could not be recovered
//	410 claim_window_expired    paid more than ClaimWindow ago, refunded, or an offer closed
//	410 attempts_exhausted      every attempt of the grant was closed by the platform
//	410 already_received        the user has the payout (SUCCESS, RECEIVED), nothing to open
//	413 body_too_large          body over MaxBodyBytes
//	429 rate_limited            the per-openid limit (Retry-After)
//	500 policy_error            the Policy failed, or granted what breaks a platform rule
//	500 internal_error          no verified user, anything unexpected
//	500 recovered_terms_invalid the platform's terms cannot be sent again (logged, naming the field)
//	502 send_failed             SEND_FAILED not (yet) reported closed
//	502 platform_rejected       configuration: CA_ERROR, SIGN_ERROR, PARAM_ERROR, ...
//	502 platform_error          an err_code this package does not know
//	503 outcome_unknown         may have paid; the next tap resumes (Retry-After)
//	503 rate_limited_upstream   FREQ_LIMIT after retries (Retry-After)
//	503 merchant_unavailable    NOTENOUGH, NOT_ENOUGH and the like: nothing sent until a probe (Retry-After)
//	503 budget_unavailable      the budget's Store fails, or its account is lost (Retry-After)
//	503 in_progress             another replica is still sending (Retry-After)
//
// Each tap is logged once (openid, billno, status, code, err_code, source,
// elapsed); keys and tokens never are. HandlerConfig.Observer is told of
// each tap, with its rail, and (a NotificationObserver) of each
// notification: module github.com/hongbao-go/hongbao/otel implements it.
package claim
