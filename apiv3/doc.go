// Package apiv3 speaks WeChat Pay APIv3: it signs requests, verifies
// answers and notifications, and keeps the platform's keys.
//
//	t, err := apiv3.New(apiv3.Config{
//		MchID:        "1900000109",
//		CertFile:     "apiclient_cert.pem", // the serial is read from it
//		KeyFile:      "apiclient_key.pem",
//		APIv3Key:     apiv3Key, // 32 bytes
//		PublicKeyID:  "PUB_KEY_ID_0119000001092026120300000001",
//		PublicKeyPEM: pubKeyPEM,
//	})
//	client := t.Client() // or &http.Client{Transport: t}, or resty's SetTransport(t)
//
// # Requests
//
// Transport.RoundTrip works on a clone of the request (the caller's request,
// header and URL are not modified; its body is read, at most 1 MiB, and
// closed on every path) and signs it: the message METHOD\nURL\nTIMESTAMP\n
// NONCE\nBODY\n (URL is the path and query as sent), SHA256withRSA with the
// merchant key, and Authorization: WECHATPAY2-SHA256-RSA2048
// mchid,serial_no,timestamp,nonce_str,signature. It sets Wechatpay-Serial
// (PublicKeyID, else the newest platform certificate; one the caller set is
// kept), Accept, Content-Type (application/json when there is a body and
// none is set) and User-Agent, gives the clone a GetBody, and sends only to
// BaseURL's host over https. Signer, RequestMessage and FormatAuthorization
// are the pure functions underneath, with the time and nonce passed in.
//
// # Answers
//
// Every 2xx answer is verified before the caller sees it: the signature
// headers are well formed, Wechatpay-Timestamp is within 300 s of the clock,
// a signature starting WECHATPAY/SIGNTEST/ (the platform's probe) fails,
// Wechatpay-Serial names a trusted key, and the signature over
// TIMESTAMP\nNONCE\nBODY\n verifies. The body handed on is the verified
// bytes, in memory. A 2xx that fails is an *Error whose OutcomeUnknown is
// true (errors.Is ErrOutcomeUnknown and ErrUnverified, and ErrStale,
// ErrProbe, ErrSignature, ErrUnknownSerial or ErrHeaders): the platform may
// have acted, so repeat the same request or query, never act on the body.
// A non-2xx is an *Error with Status, Code, Message, Detail and RequestID;
// errors.Is matches ErrNotEnough, ErrNotFound, ErrFrequencyLimited (any
// 429), ErrSystemError, ErrInvalidRequest, ErrParamError, ErrSignError,
// ErrNoAuth; 5xx is outcome unknown, 1xx/3xx/4xx are definite. A request
// refused before sending has Status 0 (ErrRequest). Network errors from
// Base come back as they are: outcome unknown once the request was written.
//
// # Trust
//
// Public-key mode: PublicKeyID (PUB_KEY_ID_ and digits) and the key PEM,
// both from the merchant console. Platform-certificate mode
// (PlatformCertificates, needs APIv3Key): the certificates of
// /v3/certificates, decrypted with the APIv3 key (whose AES-GCM tag vouches
// for them) and the list's own signature verified, downloaded at once and
// every RefreshInterval (4 h) in the background until Close; each is kept
// until it expires, and an unknown Wechatpay-Serial triggers a download (at
// most one a minute). Both modes may be on: the key is picked by
// Wechatpay-Serial. RefreshCertificates downloads now; PlatformCertificates
// lists what is held. New refuses every misconfiguration it can see, naming
// the field: an APIv3Key not 32 bytes, a key that does not match its
// certificate (transport.ErrKeyMismatch), a CertSerial other than the
// certificate's, a malformed PublicKeyID, no trust mode.
//
// # Notifications
//
// NotificationHandler (an http.Handler) and ParseNotification (header and
// raw body, for frameworks) verify a notification like an answer, decrypt
// its resource (AES-256-GCM with the APIv3 key) and decode
// MCHTRANSFER.BILL.FINISHED into a TransferBill. The handler answers 204
// only after the function returned nil; otherwise {"code":"FAIL",...} with
// 401 (not verified), 400, 413, 405 or 500, and the platform resends.
// Forged, stale, altered and probe-signed notifications never reach the
// function; genuine ones may repeat and arrive out of order.
//
// # Connections and security
//
// New builds a private *http.Transport (never http.DefaultTransport):
// HTTP/1.1 keep-alive, at most MaxConnsPerHost (32) connections, server
// certificates always verified (system roots plus RootCAPEM, or RootCAs),
// no compression (the signature covers the body as sent). Keys, the APIv3
// key and signatures never appear in errors or logs.
package apiv3
