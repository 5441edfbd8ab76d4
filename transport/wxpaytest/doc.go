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
// Every call is checked as the platform checks it (XML_ERROR, PARAM_ERROR,
// CA_ERROR, SIGN_ERROR, ILLEGAL_APPID, then section 2 of the platform's
// page for sendminiprogramhb); mch_billno is the idempotency key (a resend
// answers the first result, other terms are FATAL_ERROR); a limited
// Options.Balance answers NOTENOUGH; packets move through SENT, RECEIVED
// (MarkReceived, Open), REFUND (MarkRefunded) and the other states
// (SetStatus); Inject queues faults (err_codes, HTTP statuses, garbage,
// delays, bad reply signs, dropped connections); Options.SendsPerMinute
// answers FREQ_LIMIT beyond the merchant's send rate and Options.Latency
// delays every call; Requests, Sends, Packet and PacketsOf are the
// records a test asserts on. A Server is safe for concurrent use.
// NewLoginHost starts the server side of wx.login beside it: code2Session
// for the codes it issues (IssueCode), each errcode injectable.
//
// The full reference of those behaviours (the order of the checks, every
// reply's fields, what is recorded of a refusal, the states, Open's
// checks, the faults, the rate window, the connection counts) is
// docs/wxpaytest.md of the repository.
package wxpaytest
