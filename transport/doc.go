// Package transport sends WeChat Pay APIv2 calls: it signs and XML-encodes
// a call's parameters, presents the merchant client certificate over mutual
// TLS, and reads, decodes and verifies the reply.
//
//	t, err := transport.New(transport.Config{
//		MchID: "1900000109", APIKey: apiKey, // a 32-byte key
//		CertFile: "apiclient_cert.pem", KeyFile: "apiclient_key.pem",
//	})
//	if err != nil {
//		return err // a configuration mistake: key length, certificate, CN...
//	}
//	reply, err := t.Call(ctx, "/mmpaymkttransfers/gethbinfo", params)
//
// # Two ways to call
//
// Call takes the parameters and returns the decoded reply, an
// *xml.Document; hongbao.Client sends this way. The Transport is also an
// http.RoundTripper, for http.Client (t.Client()) and resty (t.Resty()):
// RoundTrip takes the parameters from NewRequest or from a form, JSON or
// XML request body, and ReplyOf(resp) returns the decoded reply of a
// response it handed back. ReplyOf and NewRequest serve that path only.
//
// Both work on their own copy of the parameters: they fill in mch_id (or
// check mchid, for transfers) and refuse another merchant's, add a
// nonce_str when there is none, and sign: MD5, or HMAC-SHA256 when
// sign_type says so; sign_type is never added. Only POST to https is sent.
//
// # The reply
//
// A reply is read up to Config.MaxReplyBytes and decoded (DOCTYPE and
// entities refused). It passes only as a 200 carrying an <xml> document with
// return_code SUCCESS whose sign verifies. Config.UnsignedReply names the
// endpoints that answer without a sign (by default paths under
// /mmpaymkttransfers/); a sign present is verified there too. result_code,
// err_code and the business fields are the caller's to read.
//
// # Errors
//
// Anything else is an *Error: KindRequest (nothing sent), KindStatus (not
// 200), KindNotXML, KindTooLarge, KindReturnFail (ReturnMsg, ErrCode) or
// KindSign. Error.OutcomeUnknown reports whether the platform may have
// acted all the same (5xx, an unreadable or unverified reply, FAIL with
// SYSTEMERROR or PROCESSING); so does any network error. For a payout it
// means: send again with the same mch_billno, never a new one.
//
// RoundTrip returns the same errors, and no response, although net/http
// keeps a RoundTripper's errors for failing to obtain a response. This is
// deliberate: err == nil means on both paths that the platform took the
// call and the reply is authentic, so code that checks err alone never
// mistakes a refusal for a success; a FAIL handed back as a response would
// lose OutcomeUnknown, which tells "send again" from "refused"; a reply
// with a bad sign is no answer of the platform; and as a 3xx is an error,
// http.Client never follows a redirect with a signed payout. So a bare
// http.Client returns, for return_code FAIL, a nil response and a
// *url.Error holding the *Error (errors.As finds it); for return_code
// SUCCESS with result_code FAIL, the 200 response and a nil error.
//
// # Credentials, connections, security
//
// The certificate comes from PEM files or bytes, PKCS#12 (legacy or AES;
// password P12Password or the MchID) or a tls.Certificate. New refuses a
// key that does not match it (ErrKeyMismatch), an expired one
// (ErrCertExpired) and a CN other than the MchID (ErrCertCN), and warns of
// expiry within 30 days. Reload swaps it atomically: every call that starts
// after Reload returns presents the new one (see Reload for proxies).
//
// New builds a private keep-alive *http.Transport (NewPool; never
// http.DefaultTransport): proxy from the environment, 10 s dial and TLS
// handshake timeouts, up to MaxIdleConnsPerHost idle connections closed
// after 90 s, Config.MaxConnsPerHost connections, HTTP/1.1. Sequential calls
// share one TLS handshake. Client and Resty set a 30 s timeout; Call is
// bounded by its context. Base may be wrapped before the first call.
//
// The platform's certificate is always verified (system roots plus
// Config.RootCAPEM, or Config.RootCAs), TLS 1.2 at least. The API key,
// private keys and sign inputs never appear in errors or logs; an Error
// quotes at most 96 bytes of a reply.
package transport
