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
//	hongbao fake [-addr HOST:PORT] [-dir DIR] [-mch-id ID] [-appid APPID] [-api-key KEY]
//	             [-billno-key KEY] [-balance FEN] [-apiv3-key KEY] [-notify-url URL]
//
// Exit codes: 0 success; 1 a problem (check found one, a query or a write
// failed, the configuration is wrong, the run was interrupted); 2 a
// misuse of the command line.
//
// Each subcommand is described in full, with examples, in
// cmd/hongbao/README.md; in short:
//
// check checks the merchant configuration item by item ("ok", "warn",
// "FAIL" with what to fix, or "skip"): the mch id and appid, the API key,
// the certificate (it parses, matches its key, names the mch id, is valid
// for more than 30 days), the base URL and CA file, HONGBAO_BILLNO_KEY and
// Redis; then it makes one real mutual-TLS call, a signed gethbinfo of a
// bill number that does not exist, whose NOT_FOUND proves certificate, key,
// mch id and appid. Exit code 1 when an item failed.
//
// query asks gethbinfo about each bill number and prints a table (status,
// amount, times in Beijing time, the reason of a failure), or with -json
// an array of objects. Exit code 1 when a number could not be queried.
//
// billno prints the bill numbers the services derive for each openid's
// grant in a campaign, attempt 0 and the later attempts; it needs only
// HONGBAO_MCH_ID and HONGBAO_BILLNO_KEY and makes no call.
//
// reconcile writes a CSV, one row per bill number (billno, grant, attempt,
// openid, stored, platform, verdict, stored_amount, platform_amount,
// send_time, detail), putting what the Store at HONGBAO_REDIS_URL holds
// (or, with -openids FILE, the grants of those openids) beside what
// gethbinfo reports, and following a grant's later attempts as the claim
// handler does. verdict is ok, paid, paid_unrecorded, sending, not_sent,
// closed, resolved, busy, mismatch, error or skipped. -resolve writes back
// the closed states the platform reported (FAILED, REFUND) for numbers the
// Store does not know, and gives their amounts back to the campaign's
// budget; a paid packet is never written. Queries are paced by -rate.
// Exit code 1 when a row has the verdict error or the run was interrupted.
//
// fake runs transport/wxpaytest as a standalone host on -addr: red
// packets over mutual TLS and the APIv3 transfer bills (signed requests,
// answers signed with a WeChat Pay public key). It writes its CA, a
// merchant certificate and key, the public key and hongbao.env into -dir,
// prints the variables that use them (HONGBAO_APIV3_KEY,
// HONGBAO_PUBLIC_KEY_FILE and HONGBAO_PUBLIC_KEY_ID among them) and runs
// until interrupted. POST /wxpaytest/request-merchant-transfer stands for
// a user confirming a bill.
package main
