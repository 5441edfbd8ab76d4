package wxpaytest_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

var (
	transferBillNoForm = regexp.MustCompile(`^[0-9]{40}$`)
	beijingTimeForm    = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00$`)
)

// TestV3CreateConfirm walks a bill through its life in public-key mode:
// created WAIT_USER_CONFIRM with a package_info, queried both ways,
// confirmed by its user, SUCCESS; every answer verified with the public
// key the server exports.
func TestV3CreateConfirm(t *testing.T) {
	h := newV3(t, wxpaytest.Options{Balance: 10000})
	if !strings.HasPrefix(h.srv.PublicKeyID(), "PUB_KEY_ID_01"+h.srv.MchID) {
		t.Errorf("PublicKeyID %q", h.srv.PublicKeyID())
	}

	r := h.create("TB1", 888)
	wantState(t, r, wxpaytest.BillWaitUserConfirm)
	if r.str("out_bill_no") != "TB1" || !transferBillNoForm.MatchString(r.str("transfer_bill_no")) ||
		!beijingTimeForm.MatchString(r.str("create_time")) || r.str("package_info") == "" {
		t.Fatalf("create answer %s", r.body)
	}
	if r.header.Get("Wechatpay-Serial") != h.srv.PublicKeyID() || r.header.Get("Request-ID") == "" ||
		r.header.Get("Wechatpay-Signature-Type") != wxpaytest.AuthScheme {
		t.Errorf("answer headers %v", r.header)
	}
	no := r.str("transfer_bill_no")
	if got := h.srv.Balance(); got != 10000-888 {
		t.Errorf("balance %d after the creation, want %d", got, 10000-888)
	}

	for _, uri := range []string{uriOut("TB1"), uriNo(no)} {
		q := h.c.ok(http.MethodGet, uri, nil)
		wantState(t, q, wxpaytest.BillWaitUserConfirm)
		want := map[string]any{
			"mch_id": h.srv.MchID, "out_bill_no": "TB1", "transfer_bill_no": no, "appid": h.srv.AppID,
			"transfer_amount": 888.0, "transfer_remark": "新年红包", "openid": v3OpenID, "create_time": r.str("create_time"),
		}
		for k, v := range want {
			if q.fields[k] != v {
				t.Errorf("GET %s: %s = %v, want %v", uri, k, q.fields[k], v)
			}
		}
		if _, ok := q.fields["fail_reason"]; ok {
			t.Errorf("fail_reason in a bill that has not failed: %s", q.body)
		}
	}

	// The page's confirmation, refused for the wrong user, app, merchant
	// or package.
	page := h.page(r)
	bad := []struct {
		change func(*wxpaytest.TransferPage)
		want   error
	}{
		{func(p *wxpaytest.TransferPage) { p.OpenID = "oSomeoneElse" }, wxpaytest.ErrTransferUser},
		{func(p *wxpaytest.TransferPage) { p.AppID = "wx0000000000000000" }, wxpaytest.ErrTransferApp},
		{func(p *wxpaytest.TransferPage) { p.MchID = "1900000000" }, wxpaytest.ErrTransferParams},
		{func(p *wxpaytest.TransferPage) { p.Package = "" }, wxpaytest.ErrTransferParams},
		{func(p *wxpaytest.TransferPage) { p.Package += "x" }, wxpaytest.ErrUnknownPackageInfo},
	}
	for _, b := range bad {
		p := page
		b.change(&p)
		_, err := h.srv.ConfirmTransfer(p)
		if !errors.Is(err, b.want) || !strings.HasPrefix(err.Error(), "requestMerchantTransfer:fail ") {
			t.Errorf("ConfirmTransfer(%+v) = %v, want %v", p, err, b.want)
		}
	}
	wantState(t, h.query("TB1"), wxpaytest.BillWaitUserConfirm)

	page.OpenID = "" // optional
	bill, err := h.srv.ConfirmTransfer(page)
	if err != nil || bill.State != wxpaytest.BillSuccess {
		t.Fatalf("ConfirmTransfer: %+v, %v", bill, err)
	}
	q := h.query("TB1")
	wantState(t, q, wxpaytest.BillSuccess)
	if q.str("update_time") == "" || q.str("fail_reason") != "" {
		t.Errorf("query after success: %s", q.body)
	}
	if _, err := h.srv.ConfirmTransfer(page); !errors.Is(err, wxpaytest.ErrNotConfirmable) {
		t.Errorf("second confirmation: %v", err)
	}
	if got := h.srv.Balance(); got != 10000-888 {
		t.Errorf("balance %d after success, want %d", got, 10000-888)
	}
	if n, bills := h.srv.BillsCreated(), h.srv.BillsOf(v3OpenID); n != 1 || len(bills) != 1 || bills[0].TransferBillNo != no {
		t.Errorf("BillsCreated %d, BillsOf %+v", n, bills)
	}
	if h.srv.Creates("TB1") != 1 {
		t.Errorf("Creates = %d", h.srv.Creates("TB1"))
	}
	rec := h.srv.V3Requests()
	if len(rec) != 5 || rec[0].Method != http.MethodPost || rec[0].URI != wxpaytest.PathTransferBills ||
		rec[0].Status != 200 || rec[0].Header.Get("User-Agent") == "" || len(rec[0].Body) == 0 {
		t.Errorf("V3Requests: %d, first %+v", len(rec), rec[0])
	}
	if len(h.srv.Requests()) != 0 {
		t.Error("APIv3 calls recorded among the APIv2 requests")
	}
}

// TestV3ManualSettle: TRANSFERING and CANCELING hold until Settle, and
// FailTransfer gives the amount back.
func TestV3ManualSettle(t *testing.T) {
	h := newV3(t, wxpaytest.Options{Balance: 1000, V3: wxpaytest.V3Options{ManualSettle: true}})
	r := h.create("MS1", 100)
	b, err := h.srv.ConfirmTransfer(h.page(r))
	if err != nil || b.State != wxpaytest.BillTransfering {
		t.Fatalf("%+v %v", b, err)
	}
	wantState(t, h.query("MS1"), wxpaytest.BillTransfering)
	h.c.fail(http.MethodPost, uriCancel("MS1"), nil, 400, "INVALID_REQUEST")
	if b, err = h.srv.Settle("MS1"); err != nil || b.State != wxpaytest.BillSuccess {
		t.Fatalf("Settle: %+v %v", b, err)
	}
	wantState(t, h.query("MS1"), wxpaytest.BillSuccess)
	if _, err := h.srv.Settle("MS1"); err == nil {
		t.Error("Settle of a SUCCESS bill")
	}

	h.create("MS2", 200)
	c := h.c.ok(http.MethodPost, uriCancel("MS2"), nil)
	wantState(t, c, wxpaytest.BillCanceling)
	wantState(t, h.query("MS2"), wxpaytest.BillCanceling)
	if h.srv.Balance() != 1000-100-200 {
		t.Errorf("balance %d while CANCELING", h.srv.Balance())
	}
	if b, err = h.srv.Settle("MS2"); err != nil || b.State != wxpaytest.BillCancelled {
		t.Fatalf("Settle: %+v %v", b, err)
	}
	if h.srv.Balance() != 1000-100 {
		t.Errorf("balance %d after CANCELLED", h.srv.Balance())
	}

	h.create("MS3", 300)
	if b, err = h.srv.FailTransfer("MS3", "BLOCK_USER"); err != nil || b.State != wxpaytest.BillFail || b.FailReason != "BLOCK_USER" {
		t.Fatalf("FailTransfer: %+v %v", b, err)
	}
	q := h.query("MS3")
	if q.str("state") != wxpaytest.BillFail || q.str("fail_reason") != "BLOCK_USER" {
		t.Errorf("query: %s", q.body)
	}
	if h.srv.Balance() != 1000-100 {
		t.Errorf("balance %d after FAIL", h.srv.Balance())
	}
	if _, err := h.srv.FailTransfer("MS3", "X"); err == nil {
		t.Error("FailTransfer of a final bill")
	}
	if _, err := h.srv.FailTransfer("nope", "X"); err == nil {
		t.Error("FailTransfer of an unknown bill")
	}
}

// TestV3TransferPageEndpoint: the test-only HTTP stand-in for the page,
// usable without a certificate or signature.
func TestV3TransferPageEndpoint(t *testing.T) {
	h := newV3(t, wxpaytest.Options{})
	r := h.create("PG1", 100)
	post := func(body string) (int, map[string]string) {
		t.Helper()
		resp, err := h.c.hc.Post(h.srv.URL+wxpaytest.PathRequestMerchantTransfer, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]string
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, out
	}
	page := h.page(r)
	other := page
	other.OpenID = "oIntruder"
	if st, out := post(string(jsonBody(t, other))); st != 400 || !strings.HasPrefix(out["errMsg"], "requestMerchantTransfer:fail") {
		t.Errorf("another user: %d %v", st, out)
	}
	if st, out := post("{"); st != 400 || !strings.HasPrefix(out["errMsg"], "requestMerchantTransfer:fail") {
		t.Errorf("bad JSON: %d %v", st, out)
	}
	if st, out := post(string(jsonBody(t, page))); st != 200 || out["errMsg"] != "requestMerchantTransfer:ok" || out["state"] != wxpaytest.BillSuccess {
		t.Errorf("confirmation: %d %v", st, out)
	}
	wantState(t, h.query("PG1"), wxpaytest.BillSuccess)
	resp, err := h.c.hc.Get(h.srv.URL + wxpaytest.PathRequestMerchantTransfer)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", resp.StatusCode)
	}
	if n := len(h.srv.V3Requests()); n != 2 {
		t.Errorf("%d APIv3 requests recorded, want the create and the query only", n)
	}
}

// TestV3OneHost: one server, one address, both rails: the red-packet
// paths need the client certificate, the APIv3 paths a signature.
func TestV3OneHost(t *testing.T) {
	h := newHarness(t, wxpaytest.Options{})
	c := newV3Client(t, h.srv, func() time.Time { return fixedNow })

	// APIv3 without a client certificate.
	r := c.ok(http.MethodPost, wxpaytest.PathTransferBills, jsonBody(t, billFields(h.srv.AppID, "OH1", 100)))
	wantState(t, r, wxpaytest.BillWaitUserConfirm)
	if h.srv.V3Handshakes() != 1 || h.srv.Handshakes() != 0 {
		t.Errorf("handshakes: v3 %d, with certificate %d", h.srv.V3Handshakes(), h.srv.Handshakes())
	}
	// The same connection (no certificate) cannot send a red packet.
	body := marshal(t, h.sign(h.sendParams("OH1", 100)))
	if resp, data, err := postRaw(context.Background(), c.hc, h.srv.URL+wxpaytest.PathSendMiniProgramHB, body); err == nil {
		t.Fatalf("a red packet without a client certificate: %d %s", resp.StatusCode, data)
	}
	if _, ok := h.srv.Packet("OH1"); ok || len(h.srv.Requests()) != 0 {
		t.Fatal("a send without a client certificate was processed")
	}
	// With the certificate it can, on the same host.
	wantFields(t, h.send(h.sendParams("OH1", 100)), "result_code", "SUCCESS")
	if h.srv.Handshakes() != 1 {
		t.Errorf("handshakes with certificate %d", h.srv.Handshakes())
	}
	// An APIv3 client that presents the merchant certificate anyway is
	// served too; an APIv3 call is judged by its signature alone.
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: h.srv.RootCAs(), Certificates: []tls.Certificate{h.srv.ClientCertificate()}}}
	defer tr.CloseIdleConnections()
	c.hc = &http.Client{Transport: tr}
	wantState(t, c.ok(http.MethodGet, uriOut("OH1"), nil), wxpaytest.BillWaitUserConfirm)
	unsigned, err := c.send(context.Background(), http.MethodGet, uriOut("OH1"), nil, "none")
	if err != nil || unsigned.status != 401 || unsigned.code() != "SIGN_ERROR" {
		t.Fatalf("unsigned call with a certificate: %v %+v", err, unsigned)
	}
	// A certificate from another CA still fails the handshake.
	other := wxpaytest.Start(t, wxpaytest.Options{})
	tr2 := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: h.srv.RootCAs(), Certificates: []tls.Certificate{other.ClientCertificate()}}}
	defer tr2.CloseIdleConnections()
	c.hc = &http.Client{Transport: tr2}
	if _, err := c.send(context.Background(), http.MethodGet, uriOut("OH1"), nil, ""); err == nil || !strings.Contains(err.Error(), "tls") {
		t.Errorf("a foreign client certificate: %v, want a TLS error", err)
	}
}

// TestV3Authorization: every flaw in Authorization is 401 SIGN_ERROR, and
// nothing is processed.
func TestV3Authorization(t *testing.T) {
	h := newV3(t, wxpaytest.Options{})
	other := newV3(t, wxpaytest.Options{}) // another merchant key, same mchid
	body := jsonBody(t, billFields(h.srv.AppID, "AU1", 100))
	uri := wxpaytest.PathTransferBills
	now := h.clock.Now()
	good := h.c.authorization(http.MethodPost, uri, body, now, nonce32())
	sigOf := func(a string) string { return a[strings.Index(a, `signature="`)+len(`signature="`) : len(a)-1] }
	pairs := func(a string) string { return strings.TrimPrefix(a, wxpaytest.AuthScheme+" ") }
	tsStr := func(d time.Duration) string { return fmt.Sprint(now.Add(d).Unix()) }

	cases := []struct{ name, auth, want string }{
		{"missing", "none", "missing"},
		{"other scheme", "WECHATPAY2-SM2-WITH-SM3 " + pairs(good), "does not start"},
		{"two spaces", wxpaytest.AuthScheme + "  " + pairs(good), "lacks mchid"},
		{"lower-case scheme", strings.ToLower(wxpaytest.AuthScheme) + " " + pairs(good), "does not start"},
		{"space after comma", strings.ReplaceAll(good, `",`, `", `), "lacks"},
		{"unquoted", strings.Replace(good, `mchid="`+h.srv.MchID+`"`, `mchid=`+h.srv.MchID, 1), "double quotes"},
		{"no mchid", strings.Replace(good, `mchid="`+h.srv.MchID+`",`, "", 1), "lacks mchid"},
		{"twice", good + `,mchid="` + h.srv.MchID + `"`, "twice"},
		{"other mchid", h.c.authorizationAs("1900000001", h.c.serial, http.MethodPost, uri, body, now), "not this merchant"},
		{"lower-case serial", h.c.authorizationAs(h.c.mchID, strings.ToLower(h.c.serial), http.MethodPost, uri, body, now), "serial_no"},
		{"other serial", h.c.authorizationAs(h.c.mchID, other.srv.MerchantSerial(), http.MethodPost, uri, body, now), "serial_no"},
		{"other key", other.c.authorizationAs(h.c.mchID, h.c.serial, http.MethodPost, uri, body, now), "does not verify"},
		{"301 s late", h.c.authorization(http.MethodPost, uri, body, now.Add(-301*time.Second), nonce32()), "5 minutes"},
		{"301 s early", h.c.authorization(http.MethodPost, uri, body, now.Add(301*time.Second), nonce32()), "5 minutes"},
		{"timestamp in ms", strings.Replace(good, `timestamp="`+tsStr(0)+`"`, `timestamp="`+tsStr(0)+`000"`, 1), "timestamp"},
		{"signed timestamp changed", strings.Replace(good, `timestamp="`+tsStr(0)+`"`, `timestamp="`+tsStr(time.Second)+`"`, 1), "does not verify"},
		{"bad nonce", h.c.authorization(http.MethodPost, uri, body, now, "nonce-with-dash"), "nonce_str"},
		{"long nonce", h.c.authorization(http.MethodPost, uri, body, now, nonce32()+"x"), "nonce_str"},
		{"other body", h.c.authorization(http.MethodPost, uri, append([]byte(" "), body...), now, nonce32()), "does not verify"},
		{"other method", h.c.authorization(http.MethodGet, uri, body, now, nonce32()), "does not verify"},
		{"other path", h.c.authorization(http.MethodPost, uri+"/", body, now, nonce32()), "does not verify"},
		{"host in URL", h.c.authorization(http.MethodPost, h.srv.URL+uri, body, now, nonce32()), "does not verify"},
		{"signature not base64", strings.Replace(good, sigOf(good), "***", 1), "does not verify"},
		{"probe-style signature", strings.Replace(good, sigOf(good), wxpaytest.ProbePrefix+sigOf(good), 1), "does not verify"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			auth := c.auth
			if auth == "none" {
				auth = ""
				r, err := h.c.sendRaw(http.MethodPost, uri, body, nil)
				checkSignError(t, r, err, c.want)
				return
			}
			r, err := h.c.send(context.Background(), http.MethodPost, uri, body, auth)
			checkSignError(t, r, err, c.want)
		})
	}
	if h.srv.BillsCreated() != 0 || h.srv.Creates("AU1") != 0 {
		t.Fatalf("a refused call was processed: %d bills", h.srv.BillsCreated())
	}
	// 300 s either way is still accepted; the query string is signed as
	// sent.
	for _, d := range []time.Duration{-300 * time.Second, 300 * time.Second} {
		a := h.c.authorization(http.MethodPost, uri, body, now.Add(d), nonce32())
		r, err := h.c.send(context.Background(), http.MethodPost, uri, body, a)
		if err != nil || r.status != 200 {
			t.Fatalf("timestamp %v off: %v %+v", d, err, r)
		}
	}
	q := "/v3/certificates?algorithm_type=RSA"
	r, err := h.c.send(context.Background(), http.MethodGet, q, nil, h.c.authorization(http.MethodGet, "/v3/certificates", nil, now, nonce32()))
	checkSignError(t, r, err, "does not verify")
	h.c.ok(http.MethodGet, q, nil)
}

func checkSignError(t *testing.T, r *v3reply, err error, want string) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	if r.status != http.StatusUnauthorized || r.code() != "SIGN_ERROR" || !strings.Contains(r.str("message"), want) {
		t.Fatalf("status %d %s, want 401 SIGN_ERROR with %q", r.status, r.body, want)
	}
	if r.header.Get("Wechatpay-Signature") != "" {
		t.Errorf("an error answer is signed")
	}
}

// authorizationAs signs with c's key under another mchid or serial.
func (c *v3client) authorizationAs(mchID, serial, method, uri string, body []byte, ts time.Time) string {
	savedMch, savedSerial := c.mchID, c.serial
	c.mchID, c.serial = mchID, serial
	defer func() { c.mchID, c.serial = savedMch, savedSerial }()
	return c.authorization(method, uri, body, ts, nonce32())
}

// sendRaw sends without an Authorization header.
func (c *v3client) sendRaw(method, uri string, body []byte, hdr http.Header) (*v3reply, error) {
	req, err := http.NewRequest(method, c.srv.URL+uri, strings.NewReader(string(body)))
	if err != nil {
		return nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	r := &v3reply{status: resp.StatusCode, header: resp.Header}
	if err := json.NewDecoder(resp.Body).Decode(&r.fields); err != nil {
		return nil, err
	}
	return r, nil
}

// TestV3Config: V3Config gathers what an APIv3 client needs, a new copy
// each call; a client built from it alone (newV3Client) signs and
// verifies, as the other tests show.
func TestV3Config(t *testing.T) {
	srv := wxpaytest.Start(t, wxpaytest.Options{MchID: "1900000777", V3: wxpaytest.V3Options{APIv3Key: "0123456789abcdef0123456789ABCDEF"}})
	cfg := srv.V3Config()
	if cfg.MchID != "1900000777" || cfg.BaseURL != srv.URL || cfg.APIv3Key != "0123456789abcdef0123456789ABCDEF" ||
		cfg.APIv3Key != srv.APIv3Key() || cfg.MerchantSerial != srv.MerchantSerial() || cfg.RootCAs == nil ||
		cfg.PublicKeyID != srv.PublicKeyID() || string(cfg.PublicKeyPEM) != string(srv.PublicKeyPEM()) {
		t.Fatalf("V3Config %+v", cfg)
	}
	if !regexp.MustCompile(`^[0-9A-F]{40}$`).MatchString(cfg.MerchantSerial) {
		t.Errorf("MerchantSerial %q is not 40 upper-case hex digits", cfg.MerchantSerial)
	}
	if !regexp.MustCompile(`^PUB_KEY_ID_011900000777\d{16}$`).MatchString(cfg.PublicKeyID) {
		t.Errorf("PublicKeyID %q", cfg.PublicKeyID)
	}
	if string(cfg.CertPEM) != string(srv.ClientCertPEM()) || string(cfg.KeyPEM) != string(srv.ClientKeyPEM()) {
		t.Error("the merchant certificate is not the APIv2 client certificate")
	}
	if leaf := srv.ClientCertificate().Leaf; fmt.Sprintf("%X", leaf.SerialNumber) != cfg.MerchantSerial {
		t.Error("MerchantSerial is not the client certificate's serial")
	}
	cfg.KeyPEM[0] ^= 0xff
	cfg.PublicKeyPEM[0] ^= 0xff
	if again := srv.V3Config(); again.KeyPEM[0] == cfg.KeyPEM[0] || again.PublicKeyPEM[0] == cfg.PublicKeyPEM[0] {
		t.Error("a change to one V3Config reached the server")
	}
	if def := wxpaytest.Start(t, wxpaytest.Options{}); def.APIv3Key() != wxpaytest.DefaultAPIv3Key || def.Trust() != wxpaytest.TrustPublicKey {
		t.Errorf("defaults: %q %v", def.APIv3Key(), def.Trust())
	}
}
