// Package wxpaytest provides an in-process fake of the WeChat Pay APIv2 host
// for mini-program red packets, as net/http/httptest does for HTTP.
//
// A Server listens on a loopback port (or on Options.Addr) with TLS and
// mutual authentication.
// It creates its own certificate authority (ECDSA P-256), a server
// certificate for localhost, 127.0.0.1 and ::1, and a merchant client
// certificate with subject CN = MchID. Clients trust the server through
// RootCAs or CACertPEM and authenticate with ClientCertificate,
// ClientCertPEM/ClientKeyPEM or ClientPKCS12. A connection without a client
// certificate, or with one from another CA or expired, fails in the TLS
// handshake; Handshakes counts the handshakes that succeeded.
//
//	srv := wxpaytest.Start(t, wxpaytest.Options{Balance: 100000})
//	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
//		RootCAs:      srv.RootCAs(),
//		Certificates: []tls.Certificate{srv.ClientCertificate()},
//	}}}
//	// POST srv.URL + wxpaytest.PathSendMiniProgramHB ...
//
// TransportConfig gives all of that as a transport.Config (MchID, APIKey,
// the client certificate, RootCAs and BaseURL), which the library's own
// clients take as it is:
//
//	tr, err := transport.New(srv.TransportConfig())
//	if err != nil {
//		t.Fatal(err)
//	}
//	client, err := hongbao.New(hongbao.Config{
//		AppID:     srv.AppID,
//		Transport: srv.TransportConfig(),
//		BillnoKey: []byte("a stable secret of 16+ bytes"),
//	})
//	if err != nil {
//		t.Fatal(err)
//	}
//
// For the claim handler behind its JWT middleware, package
// middleware/jwttest mints the users' tokens.
//
// # Endpoints
//
// POST /mmpaymkttransfers/sendminiprogramhb sends a red packet,
// POST /mmpaymkttransfers/gethbinfo reports one (both MD5-signed, replies
// unsigned), and POST /pay/orderquery is a generic signed endpoint for
// testing reply-signature verification: it accepts MD5 or HMAC-SHA256 as
// sign_type says, and its return_code=SUCCESS replies carry a fresh
// nonce_str and a sign made with the request's algorithm. Other paths
// answer 404, other methods 405.
//
// Every call is checked in this order: the body must be an <xml> document
// of plain fields (XML_ERROR); mch_id must be present and equal MchID
// (PARAM_ERROR); the client certificate's CN must equal mch_id (CA_ERROR);
// the sign must verify (SIGN_ERROR) — on the red-packet paths it must be
// MD5 and a sign_type field, whatever its value, is refused with
// SIGN_ERROR. Then the endpoint's own fields: missing or empty required
// fields and broken limits are PARAM_ERROR, and a wxappid (appid for
// gethbinfo and orderquery) other than AppID is ILLEGAL_APPID.
//
// sendminiprogramhb enforces section 2 of the platform's page: nonce_str
// at most 32 characters; mch_billno at most 28 of [0-9A-Za-z]; send_name
// and act_name under 32 characters, wishing under 128, remark under 256,
// re_openid at most 32 (lengths count characters, not bytes); total_amount
// a positive integer of fen; total_num exactly 1; notify_way
// MINI_PROGRAM_JSAPI; scene_id, when present, one of PRODUCT_1 to
// PRODUCT_8, and required when total_amount is below 100 or above 20000
// fen: its absence there is PARAM_ERROR (not MONEY_LIMIT).
//
// With a limited Options.Balance, a send larger than what is left is
// NOTENOUGH (see Idempotency for what is remembered of it). An accepted
// send takes its amount from the balance, once per billno; a refund
// (MarkRefunded, SetStatus REFUND) gives it back; TopUp adds to it, as a
// merchant topping up the account; Balance reads it (-1 when unlimited).
//
// # Reply shapes
//
// Protocol failures (XML_ERROR, PARAM_ERROR, CA_ERROR, SIGN_ERROR) answer
//
//	return_code=FAIL return_msg=<text> result_code=FAIL err_code=<code> err_code_des=<text>
//
// Business failures (ILLEGAL_APPID, NOTENOUGH, FATAL_ERROR, NOT_FOUND and
// injected codes) answer
//
//	return_code=SUCCESS return_msg=<text> result_code=FAIL err_code=<code> err_code_des=<text>
//
// plus mch_billno, mch_id, wxappid/appid, re_openid and total_amount echoed
// from the request when it had them. A successful send answers
// return_code, return_msg=OK, result_code=SUCCESS, mch_billno, mch_id,
// wxappid, re_openid, total_amount, send_listid and package
// ("sendid=<64 hex>&ver=8&sign=<64 hex>&mchid=<mch_id>&appid=<appid>").
//
// gethbinfo answers NOT_FOUND (business shape) for a billno without a
// record. For a record, red packet or recorded failure, it answers
// return_code=SUCCESS, return_msg=OK, result_code=SUCCESS and
//
//	mch_billno, mch_id, detail_id (Packet.SendListID), status,
//	send_type=API, hb_type=NORMAL, total_num=1, total_amount,
//	send_time (when the send was processed, also for a refusal),
//	wishing, act_name, remark (the first send's texts; no send_name)
//
// plus, by status: FAILED reason (Packet.Reason: the err_code_des of a
// recorded failure, a stock text after SetStatus); RFUND_ING
// refund_amount; REFUND refund_amount and refund_time; RECEIVED the list
// <hblist><hbinfo><openid/><amount/><rcv_time/></hbinfo></hblist>. SENDING
// and SENT add nothing. The reply carries no sign and no re_openid: the
// receiver's openid appears only in hblist, once the packet is received.
//
// Replies are written by xml.Marshal, with HTTP status 200 and
// Content-Type text/plain: clients must judge a reply by its content, not
// by its Content-Type.
//
// # Idempotency
//
// mch_billno is the idempotency key. Sending a billno again with the same
// re_openid and total_amount answers the first result (same send_listid
// and package) and never pays twice; the other fields (texts, nonce) may
// differ and the first packet's are kept. A different re_openid or
// total_amount is FATAL_ERROR.
//
// A send refused definitively can be recorded: the billno then holds a
// recorded failure (a Packet in state FAILED with ErrCode and Reason, no
// package, nothing taken from the balance). Every later send of it with the
// same re_openid and total_amount answers the same err_code and
// err_code_des again, whatever the balance (the platform wants a new billno
// for a new attempt), a different re_openid or total_amount is FATAL_ERROR,
// and gethbinfo reports it with status FAILED. Which refusals are recorded
// is not documented by the platform. A Fault with Record makes the next
// matching send such a recorded failure with the code of one's choice. For
// NOTENOUGH it is Options.NotEnough:
//
//   - NotEnoughFailed (the default) records the refusal as above.
//   - NotEnoughForgotten records nothing: gethbinfo answers NOT_FOUND, and
//     the billno sent again is processed as new (another amount is no
//     FATAL_ERROR), paying once the balance is high enough.
//
// Options.UserLimits sets the per-user daily limits (packets and fen per
// openid per Beijing day, on Options.Now): a new bill number beyond them is
// SENDNUM_LIMIT or RCVDAMOUNT_LIMIT, recorded or forgotten in the same two
// ways (UserLimits.Refusals); Received reads what a user got on a day.
//
// Only sends that passed every check are recorded; a refusal by a check
// (PARAM_ERROR, SIGN_ERROR, ILLEGAL_APPID...) leaves no trace.
//
// # State
//
// A red packet is created SENT (SENDING after an injected PROCESSING, until
// it is sent again or queried once). MarkReceived or Open makes it
// RECEIVED (gethbinfo then lists the receipt in hblist), MarkRefunded
// makes it REFUND (with refund_time and refund_amount, and the amount back
// in a limited balance), and SetStatus reaches the other states (SENDING,
// FAILED, RFUND_ING) of a red packet. A recorded failure is FAILED from the
// start and stays so: MarkReceived, MarkRefunded, SetStatus and Open refuse
// it. Times come from Options.Now and are written as "2006-01-02 15:04:05"
// in Beijing time (UTC+8).
//
// # Opening a packet
//
// Open stands in for the mini program calling wx.sendBizRedPacket and the
// platform handing the money to the user: it takes the parameters the
// page would get (signer.BizRedPacket) and the launch scene. The scene must
// be a scan scene (1011, 1025, 1047, 1124), else the error reads
// "sendBizRedPacket:fail scene <n> not support" as the mini program's
// does; signType must be MD5; paySign must verify with the server's APIv2
// key and AppID under Options.AcceptRule (signer.EncodedLowerRule unless
// set); the URL-decoded package must be one that a send to this server
// answered; and the packet must be SENT. Then it becomes RECEIVED. Every
// refusal wraps a sentinel for errors.Is: ErrSceneNotSupported,
// ErrSignType, ErrInvalidParams, ErrPaySign, ErrUnknownPackage,
// ErrAlreadyReceived, ErrRefunded or ErrNotClaimable.
//
// # Faults
//
// Inject queues a Fault for the next matching calls: an err_code, a
// return_code=FAIL, an HTTP status, an HTML page, garbage, a delay, a wrong
// or missing reply sign, or a dropped connection before or after
// processing. Injected SYSTEMERROR and the other codes are answered without
// processing the call and leave no trace; PROCESSING processes it and
// leaves the packet in SENDING; BAD_REPLY_SIGN and NO_REPLY_SIGN process
// it too; DropAfter closes the connection once the call was handled as the
// rest of the fault says. A code with Record (SEND_FAILED, NO_AUTH...) is a
// recorded definitive failure: the send is processed, refused with that
// code and recorded, so that resends answer the same failure and gethbinfo
// reports FAILED (see Idempotency). See Fault for the details.
//
// # Send rate, latency and connections
//
// Options.SendsPerMinute enforces the merchant's send rate as the platform
// does: a sendminiprogramhb call beyond it is answered FREQ_LIMIT (the
// business shape, mch_billno and the other fields echoed) without being
// processed, so it leaves no trace and the same billno can be sent again.
// The rate holds over every span of Options.RateWindow, sliding (one
// second by default: at 1,800 a minute, at most 30 sends in any second;
// time.Minute enforces the documented 1,800 alone), on the real clock.
// Every call of the path counts except those answered FREQ_LIMIT;
// FreqLimited counts those. gethbinfo is not limited.
//
// Options.Latency delays every call of the endpoints, as the network and
// the platform do: the rate is judged on arrival, the answer comes after
// the wait, and a client that gives up meanwhile (or Close) drops the
// call unprocessed, as with an injected Delay.
//
// OpenConns returns the client connections open now and PeakConns the
// most that were open at the same time (counted by the http.Server's
// ConnState, refused handshakes included): what a burst costs the platform
// in connections and TLS handshakes, next to Handshakes.
//
// # Records
//
// Requests returns every call with its decoded fields and the err_code
// answered; Sends counts the sendminiprogramhb calls per billno that
// reached processing; Packet returns the record of a billno (a red packet
// or a recorded failure) and PacketsOf those of one receiver, in creation
// order, so that a test can assert that each user was paid under exactly
// one billno (ErrCode == "" marks a paid one). Reset clears the request
// log, the Sends counts, pending faults and the FreqLimited count, and
// lowers PeakConns to the connections open; it keeps red packets, recorded
// failures, the balance and the sends counted against the rate.
// A Server is safe for concurrent use.
package wxpaytest
