// Package transfer pays through the APIv3 merchant transfer
// (商家转账, transfer-bills) in user-confirmation mode, shown to the user
// as a red packet: create a bill, hand its package_info to the mini
// program's wx.requestMerchantTransfer, learn the outcome by query or
// notification. Calls go through an *apiv3.Transport, which signs them and
// verifies every answer.
//
//	t, err := apiv3.New(apiv3.Config{...}) // merchant key, APIv3 key, trust
//	c, err := transfer.New(transfer.Config{AppID: appID, Transport: t, BillnoKey: key})
//	n, err := c.OutBillNo(campaign, openid, attempt)
//	bill, err := c.Create(ctx, &transfer.CreateRequest{OutBillNo: n, OpenID: openid,
//		Amount: 188, Remark: "新春红包", ActivityName: "猜灯谜", RewardNote: "答对奖励"})
//	page, err := c.PageParams(bill) // {mchId, appId, package, openId} for the page
//
// # Money safety
//
// out_bill_no is the only idempotency key: the same number is one payout
// whatever happens, a new number is a new payout. OutBillNo derives it
// from (BillnoKey, grant key, openid, attempt) with the red packets'
// HMAC scheme in a separate domain (hongbao.DeriveTransferBillno), so
// replicas, restarts and double taps agree on it and the two rails never
// share a number. A grant may move to attempt n+1 only once attempt n is
// State.Closed (FAIL, including OVERDUE_CLOSE 24 h after creation, or
// CANCELLED).
//
// Create validates the request before anything is sent (a
// *ValidationError, errors.Is hongbao.ErrInvalidRequest): out_bill_no 1-32
// letters and digits, openid, amount from 10 fen and below 2,000 yuan
// (user_name is not sent), remark and the two report infos of scene 1000
// 1-32 characters, perception 活动奖励 or 现金奖励, style RED_PACKET
// (default) or CONFIRM_PAGE, an https notify URL. The body is encoded once;
// every attempt sends those bytes (fresh nonce and signature). 429, 5xx,
// timeouts, dropped connections, lost replies and unverifiable 2xx answers
// are retried (RetryPolicy); other error answers are not: NOT_ENOUGH (top
// up, then the same request again), INVALID_REQUEST (e.g. the number reused
// with other terms: query it), PARAM_ERROR, SIGN_ERROR, NO_AUTH. An answer
// ACCEPTED or PROCESSING is followed by the same create until the bill
// waits for the user, within the attempts.
//
// Every failure is an *Error: Status, Code, Message, RequestID, Retryable
// and Unknown. Unknown (errors.Is apiv3.ErrOutcomeUnknown or
// hongbao.ErrOutcomeUnknown) means the bill may exist: create the same
// request again or query it, never a new number; once an attempt was
// unknown the call stays unknown. errors.Is also matches apiv3's code
// sentinels (apiv3.ErrNotEnough, ErrNotFound, ...) and the root package's
// of the same meaning (hongbao.ErrNotEnough, ErrFrequency, ErrSystem,
// ErrNotFound, ErrParam, ErrSign), so one code path can serve both rails.
// What an identical re-submission of an existing bill answers is not
// documented by the platform: this package takes a 200 with the bill, and
// returns any error as it is.
//
// # The claim handler's rail
//
// Client.Rail(RailConfig{NotifyURL, Perception}) is the rail.Rail of
// middleware/claim (HandlerConfig.Rail): a grant's rail.Payout becomes a
// bill (Amount as transfer_amount, Wishing as transfer_remark, ActName as
// 活动名称, Remark as 奖励说明, RED_PACKET, perception 活动奖励 unless set),
// the page's answer is {"rail":"transfer","mchId","appId","package"} for
// wx.requestMerchantTransfer, and Rail.Send and Rail.Query document how
// answers and states map to rail states. The handler's
// NotificationHandler serves NotifyURL; Rail.Cancel withdraws an offer.
//
// # Outcomes
//
// QueryByOutBillNo and QueryByTransferBillNo return the bill's state,
// fail_reason, amount and times (bills of the last 30 days; an unknown bill is
// apiv3.ErrNotFound). Cancel works until the user confirms. The transport's
// NotificationHandler receives MCHTRANSFER.BILL.FINISHED. A success of
// wx.requestMerchantTransfer proves nothing: only the bill's state does.
//
// # Flow control
//
// Calls are paced below the documented 100 requests a second (Config.Flow,
// the red packets' FlowControl): creates and cancels share one budget,
// queries another, each shareable between replicas through Flow.Shared
// (store/redisstore) under "transfer:" and "transfer-query:" and the mch_id.
// A call that would wait longer than MaxWait is not sent: an *Error matching
// hongbao.ErrThrottled with RetryAfter. A 429 halves the rate. Config.Observer
// (otelhongbao's Observer.Transfer) is told of every call and attempt.
package transfer
