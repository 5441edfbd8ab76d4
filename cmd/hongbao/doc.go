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
//	hongbao reconcile [-openids FILE] [-campaign KEY] [-attempts N] [-rate N] [-workers N]
//	                  [-resolve] [-prefix PREFIX] [-ttl DURATION] [-progress DURATION]
//	hongbao fake [-addr HOST:PORT] [-dir DIR] [-trust MODE] [-mch-id ID] [-appid APPID]
//	             [-api-key KEY] [-billno-key KEY] [-balance FEN] [-apiv3-key KEY] [-notify-url URL]
//
// Exit codes: 0 success; 1 a problem (check found one, a query or a write
// failed, the configuration is wrong, the run was interrupted); 2 a
// misuse of the command line.
//
// check prints one line per item, "ok", "warn", "FAIL" (naming the
// variable to fix) or "skip": the mch id and appid, the APIv2 key (32
// bytes), the certificate (it parses, its key belongs to it, its CN is the
// mch id, valid now, a warning within 30 days of its expiry), for APIv3
// the APIv3 key (32 bytes), the RSA key and the serial requests name
// (HONGBAO_CERT_SERIAL must equal the certificate's) and the trust
// material (the public key's id and file), the base URL and CA file,
// HONGBAO_BILLNO_KEY and Redis. When those pass it makes real calls: for
// APIv2 a signed gethbinfo of a bill number that does not exist over
// mutual TLS (NOT_FOUND proves the certificate, the API key, the mch id
// and the appid); for APIv3 the platform certificates downloaded,
// decrypted with the APIv3 key and verified (platform-certificate mode), a
// signed answer verified with the public key (public-key mode), and a
// query of a transfer bill that does not exist (404 NOT_FOUND proves that
// the platform accepted the signature, the serial and the mch id).
// SIGN_ERROR (naming the certificate files, the serial, or this machine's
// clock when the platform's Date is more than 4 minutes away), NO_AUTH, a
// public key or id the platform does not sign with, a wrong trust mode, a
// wrong APIv3 key, a refused TLS handshake, an untrusted server
// certificate and an unreachable host are each named with what to fix.
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
// 0 to N-1 (-transfer: the out_bill_no of transfer bills). reconcile writes a CSV with one row per bill number: the
// Store's record (HONGBAO_REDIS_URL, or the grants of -openids FILE)
// beside gethbinfo's status, with a verdict; -resolve writes the closed
// states the Store does not know (README.md lists the verdicts).
//
// fake runs transport/wxpaytest as a standalone host: red packets over
// mutual TLS and APIv3 transfer bills, answers signed as -trust says. It
// writes its CA, a merchant certificate and key, the public key
// (pub_key.pem) and hongbao.env into -dir, prints the variables that use
// them and runs until interrupted.
package main
