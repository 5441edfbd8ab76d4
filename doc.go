// Package hongbao pays WeChat mini-program red packets (小程序红包) through
// the APIv2 endpoint POST /mmpaymkttransfers/sendminiprogramhb, queries
// them through gethbinfo, and signs the parameters the mini program passes
// to wx.sendBizRedPacket.
//
// A Client validates every request before any network call, sends it
// through the transport package (nonce, MD5 sign, XML, mutual TLS), and
// turns every reply into a typed result or an *Error whose err_code
// matches a sentinel with errors.Is (ErrNotEnough, ErrSystem, ...).
//
// # Money safety
//
// The platform's idempotency key is mch_billno: a send repeated with the
// same bill number never pays twice; it returns the first result (or
// FATAL_ERROR if the openid or amount differ). A send with a new bill
// number is a new payout. Every rule below follows from that.
//
// Bill numbers are derived, not drawn: Client.Billno (DeriveBillno) is an
// HMAC of the grant key and the openid, so a retry, a restart, a second
// replica or a user tapping twice all arrive at the same number, and the
// platform itself refuses the second payout without any shared state. The
// form the platform's pages suggest (date + 10 random digits, DatedBillno)
// is offered only as an option: it is new on every call and its random
// part collides by the birthday bound (about 39% odds of a collision a day
// at 100,000 sends).
//
// Retries always reuse the bill number. SYSTEMERROR, FREQ_LIMIT, timeouts,
// connection errors, 5xx statuses and unreadable replies are sent again
// with the same mch_billno (fresh nonce_str and sign), with exponential
// backoff and jitter, up to RetryPolicy.Attempts and never past the
// context's deadline. PROCESSING is not sent again: after
// RetryPolicy.ProcessingDelay the client asks gethbinfo and reports its
// status in Error.Status. Every other err_code, and any err_code this
// package does not know, is definitive and returned at once.
//
// When retries run out with the outcome unknown, or a retry is refused
// after an attempt whose outcome was unknown, the error matches
// ErrOutcomeUnknown and Error.Unknown is true: the payout may have
// happened. Resend the SAME bill number later (it is safe, and returns the
// package if the first send went through) or query it; never give up on it
// and never pay the grant again under another number. A new number
// (AttemptBillno) is safe only once gethbinfo reports the old one FAILED,
// or REFUND; the claim handler (package middleware/claim) follows that rule.
//
// # wx.sendBizRedPacket
//
// BizRedPacketParams turns a SendResult into {timeStamp, nonceStr,
// package, signType, paySign}. The page receives the URL-encoded package.
// By default paySign is the MD5 of that encoded string (with appId,
// nonceStr and timeStamp) in lower-case hex, the form reported to open
// packets; Config.PackageRule switches to the upper-case or the
// raw-package rule for merchants whose sends succeed but whose claims fail
// in the mini program (see the signer package). The package stays
// claimable for 24 hours.
//
// # Logging and secrets
//
// Config.Logger (a *slog.Logger; nil means slog.Default(), and
// slog.New(slog.DiscardHandler) silences it) receives one record per
// attempt with op, billno, attempt, err_code, whether it will be retried,
// and the elapsed time; a failed attempt is a warning, but for the
// NOT_FOUND of a gethbinfo. The API key, signatures and sign inputs are never
// logged and never appear in errors.
//
// # Metrics and traces
//
// Config.Observer (an Observer, nil for none) is told of every call to the
// platform, of each attempt and of the client certificate, at start-up and
// after each Reload. The module github.com/hongbao-go/hongbao/otel
// implements it with OpenTelemetry (counters of sends by outcome and
// err_code, latency, attempts, the certificate's expiry, and spans), so
// that this module itself does not depend on OpenTelemetry.
package hongbao
