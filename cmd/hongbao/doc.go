// Command hongbao operates a campaign paid through WeChat Pay, on either
// rail: APIv2 red packets, or APIv3 merchant transfers shown as red
// packets. Before launch it proves that the merchant's configuration
// works, during and after the campaign it reports the platform's state of
// packets and bills and puts it beside what the services stored, and for
// development it runs a fake platform host. README.md beside this file
// shows every output.
//
// It reads the example server's HONGBAO_* variables: HONGBAO_MCH_ID,
// HONGBAO_APPID, HONGBAO_API_KEY (APIv2), HONGBAO_CERT_FILE and
// HONGBAO_KEY_FILE or HONGBAO_P12_FILE (with HONGBAO_P12_PASSWORD),
// HONGBAO_BASE_URL, HONGBAO_CA_FILE, HONGBAO_BILLNO_KEY, HONGBAO_CAMPAIGN,
// HONGBAO_MAX_ATTEMPTS, HONGBAO_REDIS_URL; for APIv3, HONGBAO_APIV3_KEY,
// HONGBAO_PUBLIC_KEY_ID and HONGBAO_PUBLIC_KEY_FILE (public-key mode)
// and/or HONGBAO_PLATFORM_CERTS=true (platform-certificate mode), and
// HONGBAO_CERT_SERIAL (needed only with HONGBAO_KEY_FILE alone). The APIv3
// rail is configured when one of its variables is set, the APIv2 rail
// when HONGBAO_API_KEY is set or no APIv3 variable is.
//
//	hongbao check [-timeout DURATION]
//	hongbao query [-json] [-timeout DURATION] BILLNO...
//	hongbao query -transfer | -transfer-bill-no [-json] NUMBER...
//	hongbao query -grants [-campaign KEY] [-attempts N] [-json] OPENID...
//	hongbao billno [-campaign KEY] [-attempts N] [-transfer] OPENID...
//	hongbao reconcile [-openids FILE [-transfer]] [-campaign KEY] [-attempts N] [-rate N] [-workers N]
//	                  [-resolve] [-prefix PREFIX] [-ttl DURATION] [-progress DURATION] [-timeout DURATION]
//	hongbao cancel [-campaign NAME] [-openids FILE [-key KEY]] [-dry-run] [-wait DURATION] [-rate N]
//	hongbao budget [-campaign NAME] [-open | -rebuild [-rail RAIL] [-openids FILE] [-key KEY]] [-attempts N] [-rate N]
//	hongbao fake [-addr HOST:PORT] [-login-addr HOST:PORT] [-dir DIR] [-trust MODE] [-mch-id ID]
//	             [-appid APPID] [-api-key KEY] [-app-secret SECRET] [-billno-key KEY] [-balance FEN]
//	             [-apiv3-key KEY] [-notify-url URL]
//
// Exit codes: 0 success; 1 a problem (check found one, a query or a write
// failed, the configuration is wrong, the run was interrupted); 2 a
// misuse of the command line.
//
// check prints one line per item, "ok", "warn", "FAIL" (naming the
// variable to fix) or "skip": the mch id and appid, the APIv2 key, the
// certificate, for APIv3 the APIv3 key, the key's serial and the trust
// material, the base URL and CA file, HONGBAO_BILLNO_KEY and Redis. Then
// it makes real calls: a signed gethbinfo and a transfer-bill query of
// numbers that do not exist (NOT_FOUND proves the credentials) and, for
// APIv3, a verified answer in each trust mode. cmd/hongbao/README.md
// lists every problem it names.
//
// query asks the platform about each number and prints a table or, with
// -json, an array. Red packets: gethbinfo's status (NOT_FOUND when the
// platform holds nothing), amount, send, receipt and refund times, the
// reason of a failure. Transfer bills (-transfer by out_bill_no,
// -transfer-bill-no by the platform's number): out_bill_no,
// transfer_bill_no, state (or NOT_FOUND), amount, openid, create and
// update times, fail_reason. -grants derives the out_bill_no of each
// openid's grant in the campaign from HONGBAO_BILLNO_KEY, as the services
// do, and queries attempt 0 and each next one while the one before is
// closed (FAIL or CANCELLED). Every answer is verified before it is
// printed; the exit code is 1 when a number could not be queried.
//
// billno prints the bill numbers the services derive for each openid's
// grant (-campaign, else HONGBAO_CAMPAIGN, else demo-campaign), attempts
// 0 to N-1 (-transfer: transfer bills' out_bill_no). reconcile writes a
// CSV row per bill number: the Store's record (HONGBAO_REDIS_URL, or the
// grants of -openids FILE) beside the platform's state (gethbinfo's, the
// transfer bill's) with a verdict; -resolve writes the final states the
// Store does not know (README.md lists the verdicts).
//
// cancel closes, at a campaign's end, the transfer bills still waiting for
// the users (grants of the Store or of -openids FILE), and records each
// cancelled, its amount released, once the platform reports CANCELLED.
//
// budget shows a campaign's budget account in the Store; -open opens a new
// campaign's account (refused when the Store holds grants of it); -rebuild
// rebuilds a lost one from the platform, each grant on its rail (told by
// its number; -openids: -rail, else HONGBAO_RAIL), then opens it.
//
// fake runs transport/wxpaytest as a standalone host on -addr: red packets
// over mutual TLS and APIv3 transfer bills, answers signed as -trust says;
// and code2Session (wx.login's server side) on -login-addr. It writes its
// CA, a merchant certificate and key, the public key (pub_key.pem) and
// hongbao.env into -dir, prints the variables and runs until interrupted.
package main
