// Package transport sends WeChat Pay APIv2 calls: an http.RoundTripper that
// signs and XML-encodes a call's parameters, presents the merchant client
// certificate over mutual TLS, and decodes and checks the reply.
//
//	t, err := transport.New(transport.Config{
//		MchID:    "1900000109",
//		APIKey:   apiKey,                // 32 bytes
//		CertFile: "apiclient_cert.pem",
//		KeyFile:  "apiclient_key.pem",
//	})
//	if err != nil {
//		return err // a configuration mistake: key length, certificate, CN...
//	}
//	client := t.Client() // or &http.Client{Transport: t}, or t.Resty()
//
// # Passing the parameters
//
// A call's parameters are a flat set of string fields. They reach the
// Transport in one of three ways:
//
//   - NewRequest(ctx, url, params): the map rides in the request's context,
//     unencoded (the cheapest way). The url is absolute.
//   - The body of any POST request: application/x-www-form-urlencoded (each
//     field once), application/json (one object whose values are strings,
//     numbers, kept as written, or booleans, each field once; null leaves
//     the field out), or
//     text/xml / application/xml (an <xml> document of fields). Without a
//     Content-Type (or with text/plain) the first byte decides: '<' XML,
//     '{' JSON, else a form.
//   - Resty: t.Resty().R().SetBody(map[string]string{...}) arrives as JSON,
//     SetFormData(...) as a form, an XML string with
//     SetHeader("Content-Type", "text/xml") as XML; paths are relative to
//     the BaseURL.
//
// Whichever way, the Transport works on its own copy. It fills in mch_id when
// the call has none and refuses a different one (KindRequest); a call
// carrying mchid (transfers) keeps it, checked the same way. It adds a
// nonce_str when there is none, and signs: MD5, or HMAC-SHA256 when the
// call carries sign_type=HMAC-SHA256. It never adds sign_type, which
// red-packet endpoints refuse. A sign in the call is replaced. The
// request sent is a copy of the caller's (req.WithContext, with its own
// header), POST, with the XML body, Content-Type "text/xml;
// charset=utf-8", its ContentLength and a GetBody; the caller's request,
// header, params and body are left alone, and the caller's body is closed
// exactly once, on every path. Only POST to an https URL is sent.
//
// # The reply
//
// RoundTrip reads the reply, at most Config.MaxReplyBytes, and decodes it
// with the xml package. It returns the response only for a 200 carrying
// an <xml> document with return_code SUCCESS whose sign verifies. Which
// endpoints sign their replies is Config.UnsignedReply's call: by default
// paths under /mmpaymkttransfers/ (red packets, transfers) do not, so a
// reply without sign passes there and one with a sign is still verified;
// elsewhere (e.g. /pay/orderquery) a missing sign is an error. A
// return_code=FAIL reply is not required to be signed.
//
// The response handed back has the XML bytes as its body, in memory
// (reading it does not touch the network; unwrapped it is an io.Seeker, so
// it can be read again), with Content-Type "text/xml; charset=utf-8" and
// ContentLength set, so that resty's SetResult decodes it into a struct
// with xml tags. The decoded document is at ReplyOf(resp), for a response
// from http.Client.Do or a resty Response's RawResponse alike: the
// Transport keeps it in the body and in the context of the request it
// sent, which becomes resp.Request.
//
// result_code, err_code and the business fields are left to the caller:
// the Transport checks the channel, not the outcome of the payout.
//
// # Errors
//
// A call refused or a reply rejected is an *Error (http.Client wraps it in
// a *url.Error; errors.As finds it) with a Kind: KindRequest (nothing
// sent), KindStatus (not 200; a short, sanitised Snippet of the body),
// KindNotXML (an HTML page, garbage, no return_code, an unreadable body),
// KindTooLarge, KindReturnFail (with ReturnMsg, ErrCode, ErrCodeDes), and
// KindSign (Err is signer.ErrNoSign or signer.ErrSignMismatch, ...).
// Because a non-200 status is an error here, RoundTrip departs from the
// usual RoundTripper rule that any response is returned as such.
//
// Error.OutcomeUnknown reports whether the platform may have acted on the
// call although no usable reply came back: 5xx, an unreadable, non-XML or
// too large reply, a bad reply sign, return_code=FAIL with err_code
// SYSTEMERROR or PROCESSING. Network errors (timeouts, refused or dropped
// connections, which net/http reports as they are) mean the same. For a
// red packet, outcome unknown means: send again with the same mch_billno,
// never a new one. KindRequest, 3xx/4xx and other return_code=FAIL replies
// are definite: the platform did not act.
//
// # Credentials and rotation
//
// The merchant certificate comes from exactly one of PEM files
// (CertFile+KeyFile), PEM bytes, a PKCS#12 file or bytes (legacy RC2/3DES
// or modern AES/PBKDF2, password P12Password or by default the MchID), or a
// tls.Certificate. New refuses a key that does not match the certificate
// (ErrKeyMismatch), a certificate outside its validity (ErrCertExpired)
// and a subject CN other than the MchID (ErrCertCN, naming both), and
// logs a warning to Config.Logger when the certificate expires within 30
// days.
//
// Reload re-reads the files, checks them the same way and swaps the
// certificate atomically: calls in flight finish on their connection,
// idle connections are closed, and a connection that was busy is closed
// before it would carry another call, so every call that starts after
// Reload returns presents the new certificate. Through a proxy (HTTPS_PROXY)
// net/http makes the TLS connection itself and only idle connections are
// closed: one busy during Reload may carry further calls on the old
// certificate until it goes idle and is closed. GetClientCertificate
// returns the current one.
//
// # Connections
//
// New builds a private *http.Transport (it never uses or changes
// http.DefaultTransport): proxy from the environment, 10 s dial and TLS
// handshake timeouts, keep-alive with up to 32 idle connections to the
// host, idle connections closed after 90 s, HTTP/1.1 only. Connections are
// reused: a run of sequential calls costs one TLS handshake, and calls run
// in parallel use one connection each. Client and Resty set a 30 s
// timeout for the whole call. Base may be replaced before the first call,
// e.g. to wrap the private transport for tracing.
//
// # Security
//
// The platform's server certificate is always verified, against the
// system roots plus Config.RootCAPEM, or against Config.RootCAs when
// set (tests pass a fake host's pool this way; x509 cannot merge two
// pools, so a non-nil RootCAs replaces the system roots rather than
// adding to them); there is no switch to turn the check off. TLS 1.2 is the minimum. The API key, private keys and the
// sign input never appear in errors or logs; an Error's Snippet quotes at
// most 96 bytes of a reply body. Replies are size-capped before decoding,
// and the decoder refuses DOCTYPE and entity declarations.
package transport
