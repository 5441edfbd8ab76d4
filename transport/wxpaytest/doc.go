// Package wxpaytest provides an in-process fake of the WeChat Pay host, as
// net/http/httptest does for HTTP: APIv2 mini-program red packets and
// APIv3 merchant transfers, on one address. docs/fake.md is the full
// reference; this is the summary.
//
// A Server listens on a loopback port (or Options.Addr) with TLS. It makes
// its own CA (RootCAs, CACertPEM), a server certificate for localhost,
// 127.0.0.1 and ::1, and a merchant certificate with subject CN = MchID
// and an RSA key: the APIv2 client certificate (ClientCertificate,
// ClientCertPEM/ClientKeyPEM, ClientPKCS12), whose key also signs APIv3
// requests and whose serial is MerchantSerial. A client certificate from
// another CA or expired fails the handshake. A connection without one is
// admitted, for APIv3, but the red-packet paths close it unanswered.
// Handshakes and V3Handshakes count the two kinds of connections.
//
// # APIv2: red packets
//
// POST /mmpaymkttransfers/sendminiprogramhb and /mmpaymkttransfers/gethbinfo
// (MD5-signed XML, unsigned replies) and /pay/orderquery (signed replies)
// are checked like the platform: XML, mch_id, certificate CN, sign, then
// each field. mch_billno is the idempotency key. TransportConfig gives a
// transport.Config ready for transport.New or hongbao.Config. Open stands
// for the page calling wx.sendBizRedPacket; MarkReceived, MarkRefunded
// and SetStatus move packets; Options.Balance, TopUp and
// Options.NotEnough model the balance; Options.UserLimits the per-user
// daily limits (SENDNUM_LIMIT, RCVDAMOUNT_LIMIT); Inject queues a Fault (error codes,
// HTTP errors, delays, lost replies, recorded failures);
// Options.SendsPerMinute and Options.Latency model the rate and the
// network; Requests, Sends, Packet and PacketsOf are the records.
// NewLoginHost starts the server side of wx.login beside it: code2Session
// for the codes it issues (IssueCode), each errcode injectable.
//
// # APIv3: merchant transfers
//
// V3Config gathers what an APIv3 client needs (mirroring TransportConfig):
// MchID, MerchantSerial, the merchant key, the APIv3 key, the WeChat Pay
// public key and its id, RootCAs and BaseURL. Every call's Authorization
// (WECHATPAY2-SHA256-RSA2048) is verified against the merchant
// certificate and the server clock (Options.Now, 5 minutes either way):
// 401 SIGN_ERROR otherwise. Answers are signed (Wechatpay-Timestamp,
// -Nonce, -Signature, -Serial, Request-ID) as V3Options.Trust says: with
// the public key (PUB_KEY_ID_..., PublicKeyPEM), with platform
// certificates served encrypted at GET /v3/certificates
// (PlatformCertificates, AddPlatformCertificate, UsePlatformCertificate,
// RotatePlatformCertificate), or both, chosen by the request's
// Wechatpay-Serial. Errors are unsigned {"code","message","detail"}.
//
// The transfer bill: POST PathTransferBills creates (checked as the
// platform does: PARAM_ERROR, INVALID_REQUEST, NO_AUTH, NOT_ENOUGH),
// GET PathTransferBillByOutBillNo+n and PathTransferBillByNo+n query (404
// NOT_FOUND for unknown bills), POST PathTransferBillByOutBillNo+n+"/cancel"
// cancels. out_bill_no is the idempotency key: an identical resubmission
// answers the existing bill, other parameters are INVALID_REQUEST. A bill
// waits in WAIT_USER_CONFIRM with its package_info until ConfirmTransfer
// (or POST PathRequestMerchantTransfer, the test-only HTTP stand-in)
// confirms it: TRANSFERING, then SUCCESS (at once, or at Settle with
// V3Options.ManualSettle). Unconfirmed for V3Options.CloseAfter (24 h) on
// the server clock it ends FAIL OVERDUE_CLOSE; cancel gives CANCELING then
// CANCELLED; FailTransfer fails it. The balance is shared with APIv2.
// Bill, BillsOf, BillsCreated, Creates and V3Requests are the records.
//
// InjectV3 queues a V3Fault: an error code (429 FREQUENCY_LIMITED, 500
// SYSTEM_ERROR...), a gateway page, a delay, a connection dropped before
// or after processing (a lost reply), an ACCEPTED answer, or a 2xx signed
// wrongly (Signature: SignProbe, SignForged, SignUnsigned, SignTampered,
// SignStale, SignUnknownSerial). V3Options.RequestsPerSecond enforces a
// rate.
//
// A bill reaching SUCCESS, FAIL or CANCELLED is notified
// (MCHTRANSFER.BILL.FINISHED, resource AES-256-GCM under the APIv3 key) to
// its notify_url or V3Options.NotifyURL, signed like an answer, retried on
// V3Options.NotifySchedule until a 2xx, the first attempt probe-signed with
// V3Options.ProbeNotifications; Deliveries, WaitDelivered and Renotify
// follow it. For tests of a receiver, CraftNotification and Sign make
// genuine, forged, probe, stale, tampered or unsigned notifications and
// answers, and Signed.WithBody replays a signature over another body.
//
// Reset clears the records and pending faults of both halves; bills,
// packets and the balance stay. A Server is safe for concurrent use.
package wxpaytest
