// Command hongbao operates a red-packet campaign paid through WeChat Pay
// APIv2: before launch it proves that the merchant's configuration works,
// during and after the campaign it reports the platform's state of red
// packets and puts it beside what the services stored, and for
// development it runs a fake platform host.
//
// It reads the same HONGBAO_* environment variables as the example server
// (example/README.md): HONGBAO_MCH_ID, HONGBAO_APPID, HONGBAO_API_KEY,
// HONGBAO_CERT_FILE and HONGBAO_KEY_FILE or HONGBAO_P12_FILE (with
// HONGBAO_P12_PASSWORD), HONGBAO_BASE_URL, HONGBAO_CA_FILE,
// HONGBAO_BILLNO_KEY, HONGBAO_CAMPAIGN, HONGBAO_MAX_ATTEMPTS and
// HONGBAO_REDIS_URL. Flags come after the subcommand, before or after its
// arguments.
//
// Usage:
//
//	hongbao check [-timeout DURATION]
//	hongbao query [-json] [-timeout DURATION] BILLNO...
//	hongbao billno [-campaign KEY] [-attempts N] OPENID...
//	hongbao reconcile [-openids FILE] [-campaign KEY] [-attempts N] [-rate N] [-workers N]
//	                  [-resolve] [-prefix PREFIX] [-ttl DURATION] [-progress DURATION]
//	hongbao fake [-addr HOST:PORT] [-login-addr HOST:PORT] [-dir DIR] [-mch-id ID] [-appid APPID]
//	             [-api-key KEY] [-app-secret SECRET] [-billno-key KEY] [-balance FEN]
//
// Exit codes: 0 success; 1 a problem (check found one, a query or a write
// failed, the configuration is wrong, the run was interrupted); 2 a
// misuse of the command line.
//
// # check
//
// check checks the merchant configuration item by item and prints one
// line per item, "ok", "warn", "FAIL" (with what to fix) or "skip": the
// mch id and appid, the API key (exactly 32 bytes), the certificate (it
// parses, its private key belongs to it, its CN is the mch id, it is valid
// now; a warning when it expires within 30 days), the base URL and CA
// file, HONGBAO_BILLNO_KEY (a warning when unset: the services need it,
// the platform does not), and Redis (PING, when HONGBAO_REDIS_URL is set).
// When all of those pass it makes a real mutual-TLS call: a signed
// gethbinfo of a bill number that does not exist. NOT_FOUND proves that
// the platform accepted the certificate, the signature (the API key), the
// mch id and the appid; CA_ERROR, SIGN_ERROR, ILLEGAL_APPID, a refused
// TLS handshake, an untrusted server certificate, an unknown host or a
// refused connection are each named with the variable to fix. A summary
// line ends the report; the exit code is 0 when nothing failed (warnings
// included) and 1 otherwise.
//
// # query
//
// query asks gethbinfo about each bill number and prints a table: status
// (SENDING, SENT, FAILED, RECEIVED, RFUND_ING, REFUND, or NOT_FOUND when
// the platform holds nothing under the number), amount in yuan, send,
// receipt and refund times in Beijing time, and the reason of a failure.
// -json prints an array of objects instead (amounts in fen, times in
// RFC 3339): billno, status, amount, detail_id, send_time, refund_amount,
// refund_time, received (openid, amount, received_at), reason, and error
// when the number could not be queried. The exit code is 1 when a number
// could not be queried.
//
// # billno
//
// billno prints the bill numbers the services derive for each openid's
// grant in a campaign (-campaign, else HONGBAO_CAMPAIGN, else the example's
// demo-campaign): attempt 0, the number of the first send, and the later
// attempts a grant moves to when the platform closes one (-attempts, else
// HONGBAO_MAX_ATTEMPTS, else 3). It needs HONGBAO_MCH_ID and the services'
// HONGBAO_BILLNO_KEY, nothing else, and makes no call.
//
// # reconcile
//
// reconcile writes a CSV on stdout, one row per bill number, with the
// columns billno, grant (the grant's attempt-0 number), attempt, openid,
// stored, platform, verdict, stored_amount and platform_amount (fen),
// send_time and detail. Without -openids it reads every grant of the Store
// at HONGBAO_REDIS_URL (the keys PREFIX+"terms:"+grant of store/redisstore),
// and then every stored result no grant reached (PREFIX+"result:"+billno).
// With -openids FILE it reconciles the grants of the campaign for the
// openids of the file (one a line, or the first field of CSV lines; blank
// lines, # comments and an "openid" header are skipped), with or without
// a Store. For each grant it checks attempt 0 and, as long as the attempt
// checked is closed, the next one, as the claim handler moves on; a later
// attempt that neither side knows gets no row. Terms the handler recorded
// name their grant (its key and openid), so later attempts of any campaign
// are followed; for older terms, those of -campaign. After the CSV, stderr
// lists each campaign's budget account in the Store (PREFIX+"budget:"):
// what is reserved and what is committed, in fen and packets.
//
// stored is what the Store holds: none, paid, closed:STATUS,
// refused:ERR_CODE, pending, unreadable or no_store (no Store). platform
// is gethbinfo's status, NOT_FOUND or error. verdict is one of:
//
//	ok               the Store and the platform agree
//	paid             (no Store) the platform holds a paid packet
//	paid_unrecorded  the platform holds a paid packet (SENT, RECEIVED, RFUND_ING) the Store does not record as
//	                 paid: the user's next tap sends the same number and gets it; nothing can be written,
//	                 since gethbinfo does not give the package
//	sending          the platform reports SENDING
//	not_sent         the platform holds nothing under the number and the Store records no payment
//	closed           the platform closed the number (FAILED, REFUND) and the Store does not know it
//	resolved         -resolve wrote the closed state
//	busy             -resolve wrote nothing: a send of the number holds its lock
//	mismatch         the Store and the platform contradict each other (look at it)
//	error            the number could not be queried (or read from the Store)
//	skipped          not a bill number of this merchant
//
// Queries are paced to -rate a second (10 by default), from -workers
// grants at once; a progress line goes to stderr (rewritten in place on a
// terminal, every 10 seconds otherwise), and the counts of each verdict
// end the run. -resolve writes, for the closed verdicts only, what the
// platform reported: a result with Closed set to FAILED or REFUND, under
// the number's lock and only when the Store still does not know the number
// paid or closed, for as long as the grant's keys still live (else -ttl),
// and gives the number's amount back to its campaign's budget, when one
// holds it (as the handler does on learning a number closed). The claim
// handler then moves the grant on (FAILED; REFUND when the
// campaign allows re-claims) or answers that the packet expired, as it
// would had it learnt the state itself. Nothing is written for a paid
// packet. The exit code is 1 when a row has the verdict error or the run
// was interrupted.
//
// # fake
//
// fake runs transport/wxpaytest as a standalone host, as stripe-mock does
// for Stripe: red packets and gethbinfo over mutual TLS on -addr
// (127.0.0.1:8443 by default), and code2Session (wx.login's server side)
// on -login-addr (127.0.0.1:8444). It writes its CA (ca.pem), a merchant client
// certificate and key (apiclient_cert.pem, apiclient_key.pem) and the
// variables that use them (hongbao.env) into -dir (a temporary directory,
// removed on exit, by default), prints the variables on stdout
// (HONGBAO_MCH_ID, HONGBAO_APPID, HONGBAO_API_KEY, HONGBAO_CERT_FILE,
// HONGBAO_KEY_FILE, HONGBAO_CA_FILE, HONGBAO_BASE_URL, HONGBAO_BILLNO_KEY,
// HONGBAO_APP_SECRET, HONGBAO_LOGIN_BASE_URL)
// and runs until interrupted. The host keeps its packets in memory.
package main
