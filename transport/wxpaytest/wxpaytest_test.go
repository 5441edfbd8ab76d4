package wxpaytest_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	pkcs12 "software.sslmate.com/src/go-pkcs12"

	"github.com/hongbao-go/hongbao/signer"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
	"github.com/hongbao-go/hongbao/xml"
)

var fixedNow = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC) // 11:04:05 in Beijing

const openID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"

// harness is a server with a hand-built client: signer + xml + http.Client.
type harness struct {
	t      *testing.T
	srv    *wxpaytest.Server
	client *http.Client
	sg     *signer.Signer
}

func newHarness(t *testing.T, opts wxpaytest.Options) *harness {
	t.Helper()
	if opts.Now == nil {
		opts.Now = func() time.Time { return fixedNow }
	}
	srv := wxpaytest.Start(t, opts)
	sg, err := signer.New(srv.APIKey)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, srv: srv, sg: sg}
	h.client = h.clientWith(srv.ClientCertificate())
	return h
}

// clientWith returns a client trusting the server and presenting certs.
func (h *harness) clientWith(certs ...tls.Certificate) *http.Client {
	tr := &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs:      h.srv.RootCAs(),
		Certificates: certs,
	}}
	h.t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func (h *harness) sign(p map[string]string) map[string]string {
	p = maps.Clone(p)
	sign, err := h.sg.Sign(p)
	if err != nil {
		h.t.Fatal(err)
	}
	p["sign"] = sign
	return p
}

func marshal(t testing.TB, p map[string]string) []byte {
	t.Helper()
	body, err := xml.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// postRaw posts body with client and returns the response with its body read.
func postRaw(ctx context.Context, client *http.Client, url string, body []byte) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "text/xml")
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp, data, err
}

// call signs params (MD5 unless they carry sign_type), posts them and decodes the reply.
func (h *harness) call(path string, params map[string]string) *xml.Document {
	h.t.Helper()
	return h.callBody(path, marshal(h.t, h.sign(params)))
}

func (h *harness) callBody(path string, body []byte) *xml.Document {
	h.t.Helper()
	resp, data, err := postRaw(context.Background(), h.client, h.srv.URL+path, body)
	if err != nil {
		h.t.Fatalf("POST %s: %v", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		h.t.Fatalf("POST %s: status %d", path, resp.StatusCode)
	}
	doc, err := xml.Unmarshal(data)
	if err != nil {
		h.t.Fatalf("POST %s: decoding %q: %v", path, data, err)
	}
	return doc
}

func (h *harness) send(p map[string]string) *xml.Document {
	h.t.Helper()
	return h.call(wxpaytest.PathSendMiniProgramHB, p)
}

func (h *harness) info(billno string) *xml.Document {
	h.t.Helper()
	return h.call(wxpaytest.PathGetHBInfo, map[string]string{
		"nonce_str":  signer.Nonce(),
		"mch_billno": billno,
		"mch_id":     h.srv.MchID,
		"appid":      h.srv.AppID,
		"bill_type":  "MCHT",
	})
}

func (h *harness) sendParams(billno string, amount int) map[string]string {
	return map[string]string{
		"nonce_str":    signer.Nonce(),
		"mch_billno":   billno,
		"mch_id":       h.srv.MchID,
		"wxappid":      h.srv.AppID,
		"send_name":    "Shop",
		"re_openid":    openID,
		"total_amount": fmt.Sprint(amount),
		"total_num":    "1",
		"wishing":      "Happy new year",
		"act_name":     "New year",
		"remark":       "Thanks",
		"notify_way":   "MINI_PROGRAM_JSAPI",
	}
}

func with(p map[string]string, kv ...string) map[string]string {
	p = maps.Clone(p)
	for i := 0; i < len(kv); i += 2 {
		p[kv[i]] = kv[i+1]
	}
	return p
}

func without(p map[string]string, keys ...string) map[string]string {
	p = maps.Clone(p)
	for _, k := range keys {
		delete(p, k)
	}
	return p
}

func wantFields(t *testing.T, doc *xml.Document, kv ...string) {
	t.Helper()
	for i := 0; i < len(kv); i += 2 {
		if got := doc.Fields[kv[i]]; got != kv[i+1] {
			t.Errorf("%s = %q, want %q (reply %v)", kv[i], got, kv[i+1], doc.Fields)
		}
	}
}

// wantProtocolFail checks the shape of a protocol-level failure.
func wantProtocolFail(t *testing.T, doc *xml.Document, code string) {
	t.Helper()
	wantFields(t, doc, "return_code", "FAIL", "result_code", "FAIL", "err_code", code)
	if doc.Fields["return_msg"] == "" || doc.Fields["err_code_des"] == "" {
		t.Errorf("return_msg or err_code_des empty: %v", doc.Fields)
	}
	if _, ok := doc.Fields["sign"]; ok {
		t.Errorf("failure reply carries a sign: %v", doc.Fields)
	}
}

// wantBusinessFail checks the shape of a business failure.
func wantBusinessFail(t *testing.T, doc *xml.Document, code string) {
	t.Helper()
	wantFields(t, doc, "return_code", "SUCCESS", "result_code", "FAIL", "err_code", code)
	if doc.Fields["err_code_des"] == "" {
		t.Errorf("err_code_des empty: %v", doc.Fields)
	}
}

var packageRE = regexp.MustCompile(`^sendid=[0-9a-f]{64}&ver=8&sign=[0-9a-f]{64}&mchid=1900000109&appid=wx8888888888888888$`)

func TestSendSuccess(t *testing.T) {
	h := newHarness(t, wxpaytest.Options{})
	billno := "1900000109202401020000000001"
	doc := h.send(h.sendParams(billno, 100))
	wantFields(t, doc,
		"return_code", "SUCCESS", "result_code", "SUCCESS",
		"mch_billno", billno, "mch_id", "1900000109", "wxappid", "wx8888888888888888",
		"re_openid", openID, "total_amount", "100")
	if !packageRE.MatchString(doc.Fields["package"]) {
		t.Errorf("package = %q", doc.Fields["package"])
	}
	if doc.Fields["send_listid"] == "" {
		t.Error("no send_listid")
	}
	for _, k := range []string{"sign", "err_code"} {
		if _, ok := doc.Fields[k]; ok {
			t.Errorf("reply carries %s", k)
		}
	}
	p, ok := h.srv.Packet(billno)
	if !ok || p.Status != wxpaytest.StatusSent || p.Amount != 100 || p.OpenID != openID ||
		p.Package != doc.Fields["package"] || p.SendListID != doc.Fields["send_listid"] || !p.SentAt.Equal(fixedNow) {
		t.Errorf("Packet = %+v, %v", p, ok)
	}
	if n := h.srv.Sends(billno); n != 1 {
		t.Errorf("Sends = %d", n)
	}
	reqs := h.srv.Requests()
	if len(reqs) != 1 || reqs[0].Path != wxpaytest.PathSendMiniProgramHB || reqs[0].Params["mch_billno"] != billno ||
		reqs[0].ErrCode != "" || !reqs[0].At.Equal(fixedNow) {
		t.Errorf("Requests = %+v", reqs)
	}
	reqs[0].Params["mch_billno"] = "changed"
	if h.srv.Requests()[0].Params["mch_billno"] != billno {
		t.Error("Requests does not return a copy")
	}
}

func TestIdempotentRepeat(t *testing.T) {
	h := newHarness(t, wxpaytest.Options{})
	billno := "B1"
	first := h.send(h.sendParams(billno, 500))
	// A new nonce and other texts do not make a new send.
	second := h.send(with(h.sendParams(billno, 500), "wishing", "other"))
	wantFields(t, second, "result_code", "SUCCESS",
		"send_listid", first.Fields["send_listid"], "package", first.Fields["package"])
	if n := h.srv.Sends(billno); n != 2 {
		t.Errorf("Sends = %d, want 2", n)
	}
	if p, _ := h.srv.Packet(billno); p.Wishing != "Happy new year" {
		t.Errorf("the first packet was not kept: %+v", p)
	}
}

func TestFatalErrorOnChangedParams(t *testing.T) {
	h := newHarness(t, wxpaytest.Options{})
	h.send(h.sendParams("B1", 500))
	doc := h.send(h.sendParams("B1", 501))
	wantBusinessFail(t, doc, "FATAL_ERROR")
	wantFields(t, doc, "mch_billno", "B1", "total_amount", "501")
	doc = h.send(with(h.sendParams("B1", 500), "re_openid", "otherOpenID"))
	wantBusinessFail(t, doc, "FATAL_ERROR")
	if p, _ := h.srv.Packet("B1"); p.Amount != 500 || p.OpenID != openID {
		t.Errorf("packet changed: %+v", p)
	}
	if reqs := h.srv.Requests(); reqs[2].ErrCode != "FATAL_ERROR" {
		t.Errorf("recorded err_code %q", reqs[2].ErrCode)
	}
}

func TestValidation(t *testing.T) {
	h := newHarness(t, wxpaytest.Options{})
	base := h.sendParams("B0", 100)
	cjk := func(n int) string { return strings.Repeat("红", n) }
	cases := []struct {
		name   string
		params map[string]string
		code   string // "" = success
	}{
		{"nonce_str 33", with(base, "nonce_str", strings.Repeat("a", 33)), "PARAM_ERROR"},
		{"nonce_str 32", with(base, "mch_billno", "B10", "nonce_str", strings.Repeat("a", 32)), ""},
		{"billno 29", with(base, "mch_billno", strings.Repeat("1", 29)), "PARAM_ERROR"},
		{"billno 28", with(base, "mch_billno", strings.Repeat("2", 28)), ""},
		{"billno dash", with(base, "mch_billno", "B-1"), "PARAM_ERROR"},
		{"billno underscore", with(base, "mch_billno", "B_1"), "PARAM_ERROR"},
		{"billno non-ASCII", with(base, "mch_billno", "B红"), "PARAM_ERROR"},
		{"send_name 31 chars", with(base, "mch_billno", "B3", "send_name", cjk(31)), ""},
		{"send_name 32 chars", with(base, "send_name", cjk(32)), "PARAM_ERROR"},
		{"act_name 31 chars", with(base, "mch_billno", "B4", "act_name", cjk(31)), ""},
		{"act_name 32 chars", with(base, "act_name", strings.Repeat("a", 32)), "PARAM_ERROR"},
		{"wishing 127 chars", with(base, "mch_billno", "B5", "wishing", cjk(127)), ""},
		{"wishing 128 chars", with(base, "wishing", cjk(128)), "PARAM_ERROR"},
		{"remark 255 chars", with(base, "mch_billno", "B6", "remark", cjk(255)), ""},
		{"remark 256 chars", with(base, "remark", cjk(256)), "PARAM_ERROR"},
		{"re_openid 33", with(base, "re_openid", strings.Repeat("o", 33)), "PARAM_ERROR"},
		{"total_amount 0", with(base, "total_amount", "0"), "PARAM_ERROR"},
		{"total_amount negative", with(base, "total_amount", "-100"), "PARAM_ERROR"},
		{"total_amount decimal", with(base, "total_amount", "100.5"), "PARAM_ERROR"},
		{"total_amount plus", with(base, "total_amount", "+100"), "PARAM_ERROR"},
		{"total_amount text", with(base, "total_amount", "ten"), "PARAM_ERROR"},
		{"total_num 2", with(base, "total_num", "2"), "PARAM_ERROR"},
		{"total_num 0", with(base, "total_num", "0"), "PARAM_ERROR"},
		{"notify_way", with(base, "notify_way", "API"), "PARAM_ERROR"},
		{"amount 99 without scene", with(base, "total_amount", "99"), "PARAM_ERROR"},
		{"amount 20001 without scene", with(base, "total_amount", "20001"), "PARAM_ERROR"},
		{"amount 20000 without scene", with(base, "mch_billno", "B7", "total_amount", "20000"), ""},
		{"amount 99 with scene", with(base, "mch_billno", "B8", "total_amount", "99", "scene_id", "PRODUCT_1"), ""},
		{"amount 30000 with scene", with(base, "mch_billno", "B9", "total_amount", "30000", "scene_id", "PRODUCT_8"), ""},
		{"unknown scene", with(base, "scene_id", "PRODUCT_9"), "PARAM_ERROR"},
		{"scene lower case", with(base, "scene_id", "product_1"), "PARAM_ERROR"},
		{"other wxappid", with(base, "wxappid", "wx0000000000000000"), "ILLEGAL_APPID"},
		{"other mch_id", with(base, "mch_id", "1900000110"), "PARAM_ERROR"},
	}
	for _, k := range []string{"nonce_str", "mch_billno", "mch_id", "wxappid", "send_name", "re_openid",
		"total_amount", "total_num", "wishing", "act_name", "remark", "notify_way"} {
		cases = append(cases, struct {
			name   string
			params map[string]string
			code   string
		}{"missing " + k, without(base, k), "PARAM_ERROR"})
		cases = append(cases, struct {
			name   string
			params map[string]string
			code   string
		}{"empty " + k, with(base, k, ""), "PARAM_ERROR"})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc := h.send(c.params)
			switch c.code {
			case "":
				wantFields(t, doc, "return_code", "SUCCESS", "result_code", "SUCCESS")
			case "ILLEGAL_APPID":
				wantBusinessFail(t, doc, c.code)
			default:
				wantProtocolFail(t, doc, c.code)
			}
		})
	}
	if _, ok := h.srv.Packet("B0"); ok {
		t.Error("a refused call created a packet")
	}
	if n := h.srv.Sends("B0"); n != 0 {
		t.Errorf("refused calls counted as sends: %d", n)
	}
}

func TestNotEnoughFailed(t *testing.T) {
	h := newHarness(t, wxpaytest.Options{Balance: 1000}) // NotEnoughFailed is the default
	wantFields(t, h.send(h.sendParams("B1", 800)), "result_code", "SUCCESS")
	doc := h.send(with(h.sendParams("B2", 300), "wishing", "w2", "act_name", "a2", "remark", "r2"))
	wantBusinessFail(t, doc, "NOTENOUGH")
	wantFields(t, doc, "mch_billno", "B2", "re_openid", openID, "total_amount", "300")
	if _, ok := doc.Fields["package"]; ok {
		t.Error("NOTENOUGH answered a package")
	}
	p, ok := h.srv.Packet("B2")
	if !ok || p.Status != wxpaytest.StatusFailed || p.ErrCode != "NOTENOUGH" || p.Reason == "" || p.Package != "" ||
		p.Amount != 300 || p.OpenID != openID || !p.SentAt.Equal(fixedNow) || p.SendListID == "" || p.Wishing != "w2" {
		t.Fatalf("Packet(B2) = %+v, %v", p, ok)
	}
	// gethbinfo reports the refusal as a FAILED record.
	doc = h.info("B2")
	wantFields(t, doc, "return_code", "SUCCESS", "result_code", "SUCCESS",
		"mch_billno", "B2", "mch_id", h.srv.MchID, "detail_id", p.SendListID, "status", "FAILED",
		"reason", p.Reason, "send_type", "API", "hb_type", "NORMAL", "total_num", "1", "total_amount", "300",
		"send_time", "2024-01-02 11:04:05", "wishing", "w2", "act_name", "a2", "remark", "r2")
	for _, k := range []string{"refund_time", "refund_amount", "err_code"} {
		if _, ok := doc.Fields[k]; ok {
			t.Errorf("FAILED record carries %s: %v", k, doc.Fields)
		}
	}
	if doc.Lists != nil {
		t.Errorf("hblist for a FAILED record: %v", doc.Lists)
	}
	// The balance comes back with a refund, but B2 stays failed.
	if err := h.srv.MarkRefunded("B1"); err != nil {
		t.Fatal(err)
	}
	wantBusinessFail(t, h.send(h.sendParams("B2", 300)), "NOTENOUGH")
	h.srv.Inject(wxpaytest.Fault{ErrCode: "PROCESSING"})
	wantBusinessFail(t, h.send(h.sendParams("B2", 300)), "NOTENOUGH")
	wantBusinessFail(t, h.send(h.sendParams("B2", 301)), "FATAL_ERROR")
	wantFields(t, h.info("B2"), "status", "FAILED", "total_amount", "300")
	wantFields(t, h.send(h.sendParams("B3", 1000)), "result_code", "SUCCESS")
	wantBusinessFail(t, h.send(h.sendParams("B4", 100)), "NOTENOUGH")
	if n := h.srv.Sends("B2"); n != 4 {
		t.Errorf("Sends(B2) = %d, want 4", n)
	}
	// A recorded failure is no red packet: it cannot be received, refunded or revived.
	if err := h.srv.MarkReceived("B2"); err == nil {
		t.Error("MarkReceived of a recorded failure")
	}
	if err := h.srv.MarkRefunded("B2"); err == nil {
		t.Error("MarkRefunded of a recorded failure")
	}
	if err := h.srv.SetStatus("B2", wxpaytest.StatusSent); err == nil {
		t.Error("SetStatus of a recorded failure")
	}
	wantBusinessFail(t, h.send(h.sendParams("B2", 300)), "NOTENOUGH")
}

func TestNotEnoughForgotten(t *testing.T) {
	h := newHarness(t, wxpaytest.Options{Balance: 1000, NotEnough: wxpaytest.NotEnoughForgotten})
	wantFields(t, h.send(h.sendParams("B1", 800)), "result_code", "SUCCESS")
	wantBusinessFail(t, h.send(h.sendParams("B2", 300)), "NOTENOUGH")
	if p, ok := h.srv.Packet("B2"); ok {
		t.Errorf("NOTENOUGH recorded %+v", p)
	}
	wantBusinessFail(t, h.info("B2"), "NOT_FOUND")
	// Nothing was recorded: another amount is no FATAL_ERROR, just not enough.
	wantBusinessFail(t, h.send(h.sendParams("B2", 301)), "NOTENOUGH")
	if err := h.srv.MarkRefunded("B1"); err != nil {
		t.Fatal(err)
	}
	doc := h.send(h.sendParams("B2", 300))
	wantFields(t, doc, "result_code", "SUCCESS", "mch_billno", "B2", "total_amount", "300")
	p, ok := h.srv.Packet("B2")
	if !ok || p.Status != wxpaytest.StatusSent || p.ErrCode != "" || p.Package != doc.Fields["package"] {
		t.Errorf("Packet(B2) = %+v, %v", p, ok)
	}
	wantFields(t, h.info("B2"), "status", "SENT", "total_amount", "300")
	// 1000 - 300 left: B3 is refused, B2 stays paid once.
	wantBusinessFail(t, h.send(h.sendParams("B3", 701)), "NOTENOUGH")
	wantFields(t, h.send(h.sendParams("B2", 300)), "result_code", "SUCCESS", "package", p.Package)
	if n := h.srv.Sends("B2"); n != 4 {
		t.Errorf("Sends(B2) = %d, want 4", n)
	}
}

func TestTopUpAndBalance(t *testing.T) {
	h := newHarness(t, wxpaytest.Options{Balance: 1000})
	if b := h.srv.Balance(); b != 1000 {
		t.Errorf("Balance = %d", b)
	}
	wantFields(t, h.send(h.sendParams("B1", 800)), "result_code", "SUCCESS")
	h.send(h.sendParams("B1", 800)) // an idempotent repeat takes nothing
	wantBusinessFail(t, h.send(h.sendParams("B2", 300)), "NOTENOUGH")
	if b := h.srv.Balance(); b != 200 {
		t.Errorf("Balance = %d, want 200", b)
	}
	h.srv.TopUp(0)
	h.srv.TopUp(500)
	if b := h.srv.Balance(); b != 700 {
		t.Errorf("Balance after TopUp = %d, want 700", b)
	}
	// B2 stays failed (NotEnoughFailed); a new number pays.
	wantBusinessFail(t, h.send(h.sendParams("B2", 300)), "NOTENOUGH")
	wantFields(t, h.send(h.sendParams("B3", 300)), "result_code", "SUCCESS")
	if err := h.srv.MarkRefunded("B1"); err != nil {
		t.Fatal(err)
	}
	if b := h.srv.Balance(); b != 1200 {
		t.Errorf("Balance after the refund = %d, want 1200", b)
	}

	// Under NotEnoughForgotten the same number pays after a top-up.
	f := newHarness(t, wxpaytest.Options{Balance: 100, NotEnough: wxpaytest.NotEnoughForgotten})
	wantBusinessFail(t, f.send(f.sendParams("B1", 300)), "NOTENOUGH")
	f.srv.TopUp(200)
	wantFields(t, f.send(f.sendParams("B1", 300)), "result_code", "SUCCESS")
	if b := f.srv.Balance(); b != 0 {
		t.Errorf("Balance = %d, want 0", b)
	}
	wantBusinessFail(t, f.send(f.sendParams("B2", 100)), "NOTENOUGH")

	// Concurrent top-ups and sends: every fen is accounted for.
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			f.srv.TopUp(100)
			f.srv.Balance()
			for {
				doc := f.send(f.sendParams(fmt.Sprintf("T%d", i), 100))
				if doc.Fields["result_code"] == "SUCCESS" {
					return
				}
				if doc.Fields["err_code"] != "NOTENOUGH" { // NOTENOUGH: another send took this top-up first
					t.Errorf("T%d: %v", i, doc.Fields)
					return
				}
			}
		})
	}
	wg.Wait()
	if b := f.srv.Balance(); b != 0 {
		t.Errorf("Balance after concurrent top-ups and sends = %d, want 0", b)
	}

	// Unlimited: TopUp changes nothing, Balance says -1.
	u := newHarness(t, wxpaytest.Options{})
	u.srv.TopUp(100)
	if b := u.srv.Balance(); b != -1 {
		t.Errorf("unlimited Balance = %d, want -1", b)
	}
	wantFields(t, u.send(u.sendParams("B1", 20000)), "result_code", "SUCCESS")

	defer func() {
		if recover() == nil {
			t.Error("TopUp(-1) did not panic")
		}
	}()
	h.srv.TopUp(-1)
}

func TestPacketsOf(t *testing.T) {
	h := newHarness(t, wxpaytest.Options{Balance: 1000})
	const other = "oOther"
	if ps := h.srv.PacketsOf(openID); ps != nil {
		t.Errorf("PacketsOf before any send = %v", ps)
	}
	h.send(h.sendParams("A1", 300))
	h.send(with(h.sendParams("O1", 200), "re_openid", other))
	h.send(h.sendParams("A1", 300))                           // a repeat is no new record
	h.send(h.sendParams("A2", 900))                           // NOTENOUGH, recorded
	h.send(h.sendParams("A2", 901))                           // FATAL_ERROR, no record
	h.send(with(h.sendParams("A3", 100), "total_num", "2"))   // PARAM_ERROR, no record
	h.send(with(h.sendParams("A1", 300), "re_openid", other)) // FATAL_ERROR for the other user
	h.srv.Inject(wxpaytest.Fault{ErrCode: "SYSTEMERROR"})     // not processed
	h.send(h.sendParams("A4", 100))
	h.send(h.sendParams("A5", 100))

	ps := h.srv.PacketsOf(openID)
	var got []string
	paid := 0
	for _, p := range ps {
		got = append(got, p.Billno+":"+p.Status+":"+p.ErrCode)
		if p.OpenID != openID {
			t.Errorf("%+v is not %s's", p, openID)
		}
		if p.ErrCode == "" {
			paid++
		}
	}
	if want := "A1:SENT:,A2:FAILED:NOTENOUGH,A5:SENT:"; strings.Join(got, ",") != want {
		t.Errorf("PacketsOf = %s, want %s", strings.Join(got, ","), want)
	}
	if paid != 2 {
		t.Errorf("%d paid", paid)
	}
	if o := h.srv.PacketsOf(other); len(o) != 1 || o[0].Billno != "O1" {
		t.Errorf("PacketsOf(other) = %+v", o)
	}
	// Copies: changing them does not change the server's records, which follow state changes.
	ps[0].Status = "CHANGED"
	if err := h.srv.MarkReceived("A1"); err != nil {
		t.Fatal(err)
	}
	if p := h.srv.PacketsOf(openID)[0]; p.Status != wxpaytest.StatusReceived {
		t.Errorf("after MarkReceived: %+v", p)
	}
	if ps := h.srv.PacketsOf("nobody"); ps != nil {
		t.Errorf("PacketsOf(nobody) = %v", ps)
	}
}

// bizParams sends billno and returns what the mini program gets for it.
func (h *harness) bizParams(billno string, rule signer.PackageRule) signer.BizRedPacket {
	h.t.Helper()
	doc := h.send(h.sendParams(billno, 100))
	if doc.Fields["result_code"] != "SUCCESS" {
		h.t.Fatalf("send %s: %v", billno, doc.Fields)
	}
	bp, err := h.sg.BizRedPacketParams(h.srv.AppID, doc.Fields["package"], &signer.BizOptions{Rule: rule})
	if err != nil {
		h.t.Fatal(err)
	}
	return bp
}

func TestOpen(t *testing.T) {
	var mu sync.Mutex
	clock := fixedNow
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	h := newHarness(t, wxpaytest.Options{Now: now})

	bp := h.bizParams("B1", signer.EncodedLowerRule)
	mu.Lock()
	clock = clock.Add(time.Hour)
	mu.Unlock()
	p, err := h.srv.Open(bp, 1011)
	if err != nil {
		t.Fatal(err)
	}
	if p.Billno != "B1" || p.Status != wxpaytest.StatusReceived || !p.ReceivedAt.Equal(fixedNow.Add(time.Hour)) || p.OpenID != openID {
		t.Errorf("Open = %+v", p)
	}
	if q, _ := h.srv.Packet("B1"); q != p {
		t.Errorf("Packet = %+v, Open returned %+v", q, p)
	}
	doc := h.info("B1")
	wantFields(t, doc, "status", "RECEIVED")
	if l := doc.Lists["hblist"]; len(l) != 1 || l[0]["openid"] != openID || l[0]["rcv_time"] != "2024-01-02 12:04:05" {
		t.Errorf("hblist = %v", doc.Lists)
	}
	// A second opening, or MarkReceived, is refused.
	_, err = h.srv.Open(bp, 1011)
	if !errors.Is(err, wxpaytest.ErrAlreadyReceived) || !strings.Contains(err.Error(), "already received") {
		t.Errorf("second Open: %v", err)
	}
	if err := h.srv.MarkReceived("B1"); err == nil {
		t.Error("MarkReceived after Open")
	}

	// Every scan scene works.
	for i, scene := range []int{1011, 1025, 1047, 1124} {
		if _, err := h.srv.Open(h.bizParams(fmt.Sprintf("S%d", i), signer.EncodedLowerRule), scene); err != nil {
			t.Errorf("scene %d: %v", scene, err)
		}
	}
}

func TestOpenRefusals(t *testing.T) {
	h := newHarness(t, wxpaytest.Options{})
	bp := h.bizParams("B1", signer.EncodedLowerRule)
	pkt, _ := h.srv.Packet("B1")
	other, _ := signer.New(strings.Repeat("k", 32))
	otherParams, _ := other.BizRedPacketParams(h.srv.AppID, pkt.Package, nil)
	otherApp, _ := h.sg.BizRedPacketParams("wx0000000000000000", pkt.Package, nil)
	upper, _ := h.sg.BizRedPacketParams(h.srv.AppID, pkt.Package, &signer.BizOptions{Rule: signer.EncodedUpperRule})
	raw, _ := h.sg.BizRedPacketParams(h.srv.AppID, pkt.Package, &signer.BizOptions{Rule: signer.RawPackageRule})
	resign := func(p signer.BizRedPacket) signer.BizRedPacket {
		p.PaySign = strings.ToLower(h.sg.SignWith(signer.MD5, map[string]string{
			"appId": h.srv.AppID, "timeStamp": p.TimeStamp, "nonceStr": p.NonceStr, "package": p.Package}))
		return p
	}
	// A well-signed package this server never issued.
	forged := bp
	forged.Package = signer.EncodeURIComponent(strings.Replace(pkt.Package, "sendid=", "sendid=0", 1))
	forged = resign(forged)
	// A package issued by another server with the same key and appid.
	o := newHarness(t, wxpaytest.Options{})
	foreign := o.bizParams("B1", signer.EncodedLowerRule)

	mod := func(f func(*signer.BizRedPacket)) signer.BizRedPacket {
		p := bp
		f(&p)
		return p
	}
	cases := []struct {
		name  string
		p     signer.BizRedPacket
		scene int
		want  error
		text  string
	}{
		{"scene 1001", bp, 1001, wxpaytest.ErrSceneNotSupported, "sendBizRedPacket:fail scene 1001 not support"},
		{"scene 1089", bp, 1089, wxpaytest.ErrSceneNotSupported, "sendBizRedPacket:fail scene 1089 not support"},
		{"scene 0", bp, 0, wxpaytest.ErrSceneNotSupported, "scene 0 not support"},
		{"scene before the sign", mod(func(p *signer.BizRedPacket) { p.PaySign = "x" }), 1001, wxpaytest.ErrSceneNotSupported, "scene 1001"},
		{"signType HMAC", mod(func(p *signer.BizRedPacket) { p.SignType = "HMAC-SHA256" }), 1011, wxpaytest.ErrSignType, "signType"},
		{"signType lower", mod(func(p *signer.BizRedPacket) { p.SignType = "md5" }), 1011, wxpaytest.ErrSignType, "signType"},
		{"signType empty", mod(func(p *signer.BizRedPacket) { p.SignType = "" }), 1011, wxpaytest.ErrSignType, "signType"},
		{"no nonceStr", mod(func(p *signer.BizRedPacket) { p.NonceStr = "" }), 1011, wxpaytest.ErrInvalidParams, "sendBizRedPacket:fail"},
		{"nonceStr 33", resign(mod(func(p *signer.BizRedPacket) { p.NonceStr = strings.Repeat("n", 33) })), 1011, wxpaytest.ErrInvalidParams, "nonceStr"},
		{"timeStamp text", resign(mod(func(p *signer.BizRedPacket) { p.TimeStamp = "now" })), 1011, wxpaytest.ErrInvalidParams, "timeStamp"},
		{"no paySign", mod(func(p *signer.BizRedPacket) { p.PaySign = "" }), 1011, wxpaytest.ErrInvalidParams, "sendBizRedPacket:fail"},
		{"raw package", resign(mod(func(p *signer.BizRedPacket) { p.Package = pkt.Package })), 1011, wxpaytest.ErrInvalidParams, "URL-encoded"},
		{"other key", otherParams, 1011, wxpaytest.ErrPaySign, "paySign"},
		{"other appid", otherApp, 1011, wxpaytest.ErrPaySign, "paySign"},
		{"upper-case hex", upper, 1011, wxpaytest.ErrPaySign, "paySign"},
		{"raw rule", raw, 1011, wxpaytest.ErrPaySign, "paySign"},
		{"changed timeStamp", mod(func(p *signer.BizRedPacket) { p.TimeStamp = "1" }), 1011, wxpaytest.ErrPaySign, "paySign"},
		{"forged package", forged, 1011, wxpaytest.ErrUnknownPackage, "package"},
		{"another server's package", foreign, 1011, wxpaytest.ErrUnknownPackage, "package"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := h.srv.Open(c.p, c.scene)
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.text) || !strings.HasPrefix(err.Error(), "sendBizRedPacket:fail ") {
				t.Errorf("Open = %v, want %v containing %q", err, c.want, c.text)
			}
			if c.want == wxpaytest.ErrPaySign && !errors.Is(err, signer.ErrSignMismatch) {
				t.Errorf("%v does not match signer.ErrSignMismatch", err)
			}
		})
	}
	// Nothing was opened.
	if p, _ := h.srv.Packet("B1"); p.Status != wxpaytest.StatusSent {
		t.Errorf("B1 is %s after refused openings", p.Status)
	}
	if _, err := h.srv.Open(bp, 1047); err != nil {
		t.Errorf("Open after refusals: %v", err)
	}
}

func TestOpenStates(t *testing.T) {
	h := newHarness(t, wxpaytest.Options{Balance: 10000})
	cases := []struct {
		billno string
		set    func(billno string) error
		want   error
	}{
		{"R1", func(b string) error { return h.srv.SetStatus(b, wxpaytest.StatusRefunding) }, wxpaytest.ErrRefunded},
		{"R2", h.srv.MarkRefunded, wxpaytest.ErrRefunded},
		{"F1", func(b string) error { return h.srv.SetStatus(b, wxpaytest.StatusFailed) }, wxpaytest.ErrNotClaimable},
		{"P1", func(b string) error { return h.srv.SetStatus(b, wxpaytest.StatusSending) }, wxpaytest.ErrNotClaimable},
		{"M1", h.srv.MarkReceived, wxpaytest.ErrAlreadyReceived},
	}
	for _, c := range cases {
		bp := h.bizParams(c.billno, signer.EncodedLowerRule)
		before, _ := h.srv.Packet(c.billno)
		if err := c.set(c.billno); err != nil {
			t.Fatal(err)
		}
		mid, _ := h.srv.Packet(c.billno)
		_, err := h.srv.Open(bp, 1011)
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.billno) {
			t.Errorf("%s (%s): Open = %v, want %v", c.billno, mid.Status, err, c.want)
		}
		if after, _ := h.srv.Packet(c.billno); after != mid || before.Status != wxpaytest.StatusSent {
			t.Errorf("%s: a refused Open changed %+v into %+v", c.billno, mid, after)
		}
	}
	// A packet still SENDING after PROCESSING is not claimable either.
	h.srv.Inject(wxpaytest.Fault{ErrCode: "PROCESSING"})
	h.send(h.sendParams("P2", 100))
	pkt, _ := h.srv.Packet("P2")
	bp, _ := h.sg.BizRedPacketParams(h.srv.AppID, pkt.Package, nil)
	if _, err := h.srv.Open(bp, 1011); !errors.Is(err, wxpaytest.ErrNotClaimable) {
		t.Errorf("SENDING: %v", err)
	}
}

func TestOpenAcceptRule(t *testing.T) {
	for _, rule := range []signer.PackageRule{signer.EncodedLowerRule, signer.EncodedUpperRule, signer.RawPackageRule} {
		t.Run(rule.String(), func(t *testing.T) {
			h := newHarness(t, wxpaytest.Options{AcceptRule: rule})
			for i, r := range []signer.PackageRule{signer.EncodedLowerRule, signer.EncodedUpperRule, signer.RawPackageRule} {
				_, err := h.srv.Open(h.bizParams(fmt.Sprintf("B%d", i), r), 1011)
				switch {
				case r == rule && err != nil:
					t.Errorf("params of rule %s refused: %v", r, err)
				case r != rule && !errors.Is(err, wxpaytest.ErrPaySign):
					t.Errorf("params of rule %s: %v, want ErrPaySign", r, err)
				}
			}
		})
	}
	if _, err := wxpaytest.NewServer(wxpaytest.Options{AcceptRule: 3}); err == nil {
		t.Error("unknown AcceptRule accepted")
	}
}

func TestOpenConcurrent(t *testing.T) {
	h := newHarness(t, wxpaytest.Options{})
	bp := h.bizParams("B1", signer.EncodedLowerRule)
	var wg sync.WaitGroup
	results := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			_, err := h.srv.Open(bp, 1011)
			results <- err
		})
	}
	wg.Wait()
	close(results)
	ok := 0
	for err := range results {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, wxpaytest.ErrAlreadyReceived):
			t.Error(err)
		}
	}
	if ok != 1 {
		t.Errorf("%d openings succeeded, want 1", ok)
	}
}

func TestXMLError(t *testing.T) {
	h := newHarness(t, wxpaytest.Options{})
	for _, body := range []string{
		"",
		"not xml",
		"<html><body>x</body></html>",
		"<xml><mch_id>1900000109</mch_id>",
		"<xml><a><b>1</b></a></xml>",
		`<!DOCTYPE xml [<!ENTITY e "x">]><xml><a>&e;</a></xml>`,
		"<xml><a>1</a><a>2</a></xml>",
	} {
		doc := h.callBody(wxpaytest.PathSendMiniProgramHB, []byte(body))
		wantProtocolFail(t, doc, "XML_ERROR")
	}
	for _, r := range h.srv.Requests() {
		if r.ErrCode != "XML_ERROR" || r.Params == nil || len(r.Params) != 0 {
			t.Errorf("record %+v", r)
		}
	}
}

func TestSignErrors(t *testing.T) {
	h := newHarness(t, wxpaytest.Options{})
	p := h.sendParams("B1", 100)
	signed := h.sign(p)

	bad := with(signed, "total_amount", "101") // signed for 100
	wantProtocolFail(t, h.callBody(wxpaytest.PathSendMiniProgramHB, marshal(t, bad)), "SIGN_ERROR")

	wantProtocolFail(t, h.callBody(wxpaytest.PathSendMiniProgramHB, marshal(t, without(signed, "sign"))), "SIGN_ERROR")

	other, _ := signer.New(strings.Repeat("k", 32))
	wrongKey := with(p, "sign", other.SignWith(signer.MD5, p))
	wantProtocolFail(t, h.callBody(wxpaytest.PathSendMiniProgramHB, marshal(t, wrongKey)), "SIGN_ERROR")

	// sign_type is refused even when it says MD5 and is signed.
	wantProtocolFail(t, h.send(with(p, "sign_type", "MD5")), "SIGN_ERROR")
	wantProtocolFail(t, h.send(with(p, "sign_type", "HMAC-SHA256")), "SIGN_ERROR")
	// An HMAC-SHA256 sign without sign_type is not MD5.
	hmacSigned := with(p, "sign", h.sg.SignWith(signer.HMACSHA256, p))
	wantProtocolFail(t, h.callBody(wxpaytest.PathSendMiniProgramHB, marshal(t, hmacSigned)), "SIGN_ERROR")

	// Lower-case hex is the same sign.
	lower := with(signed, "sign", strings.ToLower(signed["sign"]))
	wantFields(t, h.callBody(wxpaytest.PathSendMiniProgramHB, marshal(t, lower)), "result_code", "SUCCESS")
	if n := h.srv.Sends("B1"); n != 1 {
		t.Errorf("Sends = %d, want 1", n)
	}
}

// TestNoClientCertRefused: the TLS handshake admits a client without a
// certificate (APIv3 clients have none), but every red-packet path closes
// its connection without an answer and records nothing.
func TestNoClientCertRefused(t *testing.T) {
	h := newHarness(t, wxpaytest.Options{})
	body := marshal(t, h.sign(h.sendParams("B1", 100)))
	for _, path := range []string{wxpaytest.PathSendMiniProgramHB, wxpaytest.PathGetHBInfo, wxpaytest.PathOrderQuery} {
		resp, data, err := postRaw(context.Background(), h.clientWith(), h.srv.URL+path, body)
		if err == nil {
			t.Fatalf("%s without a client certificate: status %d, %q; want no answer", path, resp.StatusCode, data)
		}
	}
	if n := len(h.srv.Requests()); n != 0 || h.srv.Handshakes() != 0 {
		t.Errorf("requests %d, handshakes %d", n, h.srv.Handshakes())
	}
	if _, ok := h.srv.Packet("B1"); ok {
		t.Error("a send without a client certificate created a red packet")
	}
	if h.srv.V3Handshakes() == 0 {
		t.Error("the handshakes without a client certificate were not counted by V3Handshakes")
	}
}

func TestForeignCACertRefused(t *testing.T) {
	h := newHarness(t, wxpaytest.Options{})
	other := wxpaytest.Start(t, wxpaytest.Options{}) // same MchID, another CA
	body := marshal(t, h.sign(h.sendParams("B1", 100)))
	_, _, err := postRaw(context.Background(), h.clientWith(other.ClientCertificate()), h.srv.URL+wxpaytest.PathSendMiniProgramHB, body)
	if err == nil || !strings.Contains(err.Error(), "tls") {
		t.Fatalf("err = %v, want a TLS handshake error", err)
	}
	if n := len(h.srv.Requests()); n != 0 || h.srv.Handshakes() != 0 {
		t.Errorf("requests %d, handshakes %d", n, h.srv.Handshakes())
	}
	// The server's certificate is not trusted without RootCAs either.
	plain := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{h.srv.ClientCertificate()}}}}
	defer plain.CloseIdleConnections()
	if _, _, err := postRaw(context.Background(), plain, h.srv.URL+wxpaytest.PathSendMiniProgramHB, body); err == nil {
		t.Error("an unknown server CA was accepted")
	}
}

func TestIssuedClientCerts(t *testing.T) {
	h := newHarness(t, wxpaytest.Options{})
	load := func(certPEM, keyPEM []byte) tls.Certificate {
		c, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	// Another merchant's certificate: the handshake passes, the platform says CA_ERROR.
	certPEM, keyPEM, err := h.srv.IssueClientCert("1900000999", time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	h.client = h.clientWith(load(certPEM, keyPEM))
	wantProtocolFail(t, h.send(h.sendParams("B1", 100)), "CA_ERROR")

	// Near expiry, right CN: accepted.
	certPEM, keyPEM, err = h.srv.IssueClientCert(h.srv.MchID, time.Now().Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	h.client = h.clientWith(load(certPEM, keyPEM))
	wantFields(t, h.send(h.sendParams("B1", 100)), "result_code", "SUCCESS")

	// Expired: refused in the handshake.
	certPEM, keyPEM, err = h.srv.IssueClientCert(h.srv.MchID, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	body := marshal(t, h.sign(h.sendParams("B2", 100)))
	if _, _, err := postRaw(context.Background(), h.clientWith(load(certPEM, keyPEM)), h.srv.URL+wxpaytest.PathSendMiniProgramHB, body); err == nil {
		t.Error("an expired client certificate was accepted")
	}
	if _, _, err := h.srv.IssueClientCert("", time.Now().Add(time.Hour)); err == nil {
		t.Error("IssueClientCert accepted an empty CN")
	}

	// PEM accessors give the same certificate.
	pemCert := load(h.srv.ClientCertPEM(), h.srv.ClientKeyPEM())
	leaf, err := x509.ParseCertificate(pemCert.Certificate[0])
	if err != nil || leaf.Subject.CommonName != h.srv.MchID {
		t.Fatalf("client certificate CN: %v %v", leaf, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(h.srv.CACertPEM()) {
		t.Fatal("CACertPEM")
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client certificate does not verify: %v", err)
	}
}

func TestClientPKCS12(t *testing.T) {
	h := newHarness(t, wxpaytest.Options{})
	for i, legacy := range []bool{true, false} {
		pfx, err := h.srv.ClientPKCS12(h.srv.MchID, legacy)
		if err != nil {
			t.Fatal(err)
		}
		key, cert, _, err := pkcs12.DecodeChain(pfx, h.srv.MchID)
		if err != nil {
			t.Fatalf("legacy=%v: %v", legacy, err)
		}
		if _, _, _, err := pkcs12.DecodeChain(pfx, "wrong"); err == nil {
			t.Errorf("legacy=%v: wrong password accepted", legacy)
		}
		h.client = h.clientWith(tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert})
		wantFields(t, h.send(h.sendParams(fmt.Sprintf("P%d", i), 100)), "result_code", "SUCCESS")
	}
}

func TestGetHBInfoStates(t *testing.T) {
	h := newHarness(t, wxpaytest.Options{})
	wantBusinessFail(t, h.info("NOPE"), "NOT_FOUND")

	p := with(h.sendParams("B1", 888), "wishing", "恭喜发财 <&>", "remark", "r", "act_name", "a")
	wantFields(t, h.send(p), "result_code", "SUCCESS")
	pkt, _ := h.srv.Packet("B1")
	doc := h.info("B1")
	wantFields(t, doc, "return_code", "SUCCESS", "result_code", "SUCCESS",
		"mch_billno", "B1", "mch_id", h.srv.MchID, "detail_id", pkt.SendListID, "status", "SENT",
		"send_type", "API", "hb_type", "NORMAL", "total_num", "1", "total_amount", "888",
		"send_time", "2024-01-02 11:04:05", "wishing", "恭喜发财 <&>", "remark", "r", "act_name", "a")
	if doc.Lists != nil {
		t.Errorf("hblist before receipt: %v", doc.Lists)
	}
	if _, ok := doc.Fields["sign"]; ok {
		t.Error("gethbinfo reply is signed")
	}

	if err := h.srv.MarkReceived("B1"); err != nil {
		t.Fatal(err)
	}
	doc = h.info("B1")
	wantFields(t, doc, "status", "RECEIVED")
	want := []map[string]string{{"openid": openID, "amount": "888", "rcv_time": "2024-01-02 11:04:05"}}
	if got := doc.Lists["hblist"]; len(got) != 1 || !maps.Equal(got[0], want[0]) {
		t.Errorf("hblist = %v, want %v", got, want)
	}
	if err := h.srv.MarkReceived("B1"); err == nil {
		t.Error("MarkReceived twice")
	}
	if err := h.srv.MarkRefunded("B1"); err == nil {
		t.Error("MarkRefunded after receipt")
	}

	h.send(h.sendParams("B2", 100))
	if err := h.srv.SetStatus("B2", wxpaytest.StatusRefunding); err != nil {
		t.Fatal(err)
	}
	doc = h.info("B2")
	wantFields(t, doc, "status", "RFUND_ING", "refund_amount", "100")
	if err := h.srv.MarkRefunded("B2"); err != nil {
		t.Fatal(err)
	}
	doc = h.info("B2")
	wantFields(t, doc, "status", "REFUND", "refund_time", "2024-01-02 11:04:05", "refund_amount", "100")
	if doc.Lists != nil {
		t.Errorf("hblist for a refund: %v", doc.Lists)
	}

	h.send(h.sendParams("B3", 100))
	if err := h.srv.SetStatus("B3", wxpaytest.StatusFailed); err != nil {
		t.Fatal(err)
	}
	doc = h.info("B3")
	wantFields(t, doc, "status", "FAILED")
	if doc.Fields["reason"] == "" {
		t.Error("FAILED without reason")
	}
	if err := h.srv.SetStatus("B3", "LOST"); err == nil {
		t.Error("SetStatus accepted an unknown status")
	}
	if err := h.srv.MarkReceived("NOPE"); err == nil {
		t.Error("MarkReceived of an unknown billno")
	}

	// Checks on the query itself.
	q := map[string]string{"nonce_str": "n", "mch_billno": "B1", "mch_id": h.srv.MchID, "appid": h.srv.AppID, "bill_type": "MCHT"}
	wantProtocolFail(t, h.call(wxpaytest.PathGetHBInfo, with(q, "bill_type", "MCH")), "PARAM_ERROR")
	wantProtocolFail(t, h.call(wxpaytest.PathGetHBInfo, without(q, "bill_type")), "PARAM_ERROR")
	wantProtocolFail(t, h.call(wxpaytest.PathGetHBInfo, without(q, "mch_billno")), "PARAM_ERROR")
	wantBusinessFail(t, h.call(wxpaytest.PathGetHBInfo, with(q, "appid", "wx0000000000000000")), "ILLEGAL_APPID")
	wantProtocolFail(t, h.call(wxpaytest.PathGetHBInfo, with(q, "sign_type", "MD5")), "SIGN_ERROR")
	wantProtocolFail(t, h.callBody(wxpaytest.PathGetHBInfo, marshal(t, with(q, "sign", strings.Repeat("A", 32)))), "SIGN_ERROR")
}

// TestGetHBInfoFields checks the fields every gethbinfo record carries, in
// every state, with a clock that moves between send, receipt and refund.
func TestGetHBInfoFields(t *testing.T) {
	var mu sync.Mutex
	clock := fixedNow
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	advance := func() { mu.Lock(); clock = clock.Add(time.Minute); mu.Unlock() }
	h := newHarness(t, wxpaytest.Options{Balance: 5000, Now: now})

	type state struct {
		billno, status string
		extra          []string // more fields wanted
		absent         []string // fields that must be missing
		hblist         bool
	}
	var states []state
	sendAt := func(billno string, amount int) string {
		advance()
		at := now().In(time.FixedZone("", 8*3600)).Format("2006-01-02 15:04:05")
		h.send(with(h.sendParams(billno, amount), "wishing", "w "+billno, "act_name", "a "+billno, "remark", "r "+billno))
		return at
	}
	sent := map[string]string{}
	h.srv.Inject(wxpaytest.Fault{ErrCode: "PROCESSING"})
	sent["S1"] = sendAt("S1", 100)
	states = append(states, state{"S1", "SENDING", nil, []string{"reason", "refund_time", "refund_amount"}, false})
	sent["S2"] = sendAt("S2", 200)
	states = append(states, state{"S2", "SENT", nil, []string{"reason", "refund_time", "refund_amount"}, false})
	sent["S3"] = sendAt("S3", 300)
	advance()
	h.srv.MarkReceived("S3")
	states = append(states, state{"S3", "RECEIVED", nil, []string{"reason", "refund_time", "refund_amount"}, true})
	sent["S4"] = sendAt("S4", 400)
	h.srv.SetStatus("S4", wxpaytest.StatusRefunding)
	states = append(states, state{"S4", "RFUND_ING", []string{"refund_amount", "400"}, []string{"reason", "refund_time"}, false})
	sent["S5"] = sendAt("S5", 500)
	advance()
	refundAt := now().In(time.FixedZone("", 8*3600)).Format("2006-01-02 15:04:05")
	h.srv.MarkRefunded("S5")
	states = append(states, state{"S5", "REFUND", []string{"refund_amount", "500", "refund_time", refundAt}, []string{"reason"}, false})
	sent["S6"] = sendAt("S6", 600)
	h.srv.SetStatus("S6", wxpaytest.StatusFailed)
	states = append(states, state{"S6", "FAILED", nil, []string{"refund_time", "refund_amount"}, false})
	h.srv.Inject(wxpaytest.Fault{ErrCode: "SENDAMOUNT_LIMIT", Record: true})
	sent["S7"] = sendAt("S7", 700)
	states = append(states, state{"S7", "FAILED", nil, []string{"refund_time", "refund_amount"}, false})
	sent["S8"] = sendAt("S8", 5000) // NOTENOUGH, recorded by default
	states = append(states, state{"S8", "FAILED", nil, []string{"refund_time", "refund_amount"}, false})

	for _, st := range states {
		advance() // the query's time is not the send's
		p, _ := h.srv.Packet(st.billno)
		doc := h.info(st.billno)
		amount := fmt.Sprint(p.Amount)
		wantFields(t, doc, append([]string{
			"return_code", "SUCCESS", "result_code", "SUCCESS", "status", st.status,
			"mch_billno", st.billno, "mch_id", h.srv.MchID, "detail_id", p.SendListID,
			"send_type", "API", "hb_type", "NORMAL", "total_num", "1", "total_amount", amount,
			"send_time", sent[st.billno],
			"wishing", "w " + st.billno, "act_name", "a " + st.billno, "remark", "r " + st.billno,
		}, st.extra...)...)
		if st.status == "FAILED" && (doc.Fields["reason"] == "" || doc.Fields["reason"] != p.Reason) {
			t.Errorf("%s: reason %q, Packet.Reason %q", st.billno, doc.Fields["reason"], p.Reason)
		}
		for _, k := range append(st.absent, "send_name", "err_code", "sign") {
			if _, ok := doc.Fields[k]; ok {
				t.Errorf("%s (%s) carries %s: %v", st.billno, st.status, k, doc.Fields)
			}
		}
		if got := len(doc.Lists["hblist"]); st.hblist != (got == 1) || got > 1 {
			t.Errorf("%s (%s): hblist %v", st.billno, st.status, doc.Lists)
		}
	}
	if p, _ := h.srv.Packet("S7"); p.ErrCode != "SENDAMOUNT_LIMIT" {
		t.Errorf("S7 = %+v", p)
	}
	if p, _ := h.srv.Packet("S8"); p.ErrCode != "NOTENOUGH" {
		t.Errorf("S8 = %+v", p)
	}
}

func TestOrderQuerySigned(t *testing.T) {
	h := newHarness(t, wxpaytest.Options{})
	q := map[string]string{"appid": h.srv.AppID, "mch_id": h.srv.MchID, "nonce_str": signer.Nonce(), "out_trade_no": "T1"}
	for _, st := range []string{"", "MD5", "HMAC-SHA256"} {
		p := q
		if st != "" {
			p = with(q, "sign_type", st)
		}
		doc := h.call(wxpaytest.PathOrderQuery, p)
		wantFields(t, doc, "return_code", "SUCCESS", "result_code", "SUCCESS", "out_trade_no", "T1", "trade_state", "SUCCESS")
		if doc.Fields["nonce_str"] == "" {
			t.Error("no nonce_str")
		}
		if err := h.sg.Verify(doc.Fields); err != nil {
			t.Errorf("sign_type %q: reply sign: %v", st, err)
		}
		wantLen := 32
		if st == "HMAC-SHA256" {
			wantLen = 64
		}
		if n := len(doc.Fields["sign"]); n != wantLen {
			t.Errorf("sign_type %q: reply sign has %d characters", st, n)
		}
	}
	// A sign that does not fit sign_type, or an unknown sign_type.
	p := with(q, "sign", h.sg.SignWith(signer.HMACSHA256, q))
	wantProtocolFail(t, h.callBody(wxpaytest.PathOrderQuery, marshal(t, p)), "SIGN_ERROR")
	p = with(q, "sign_type", "SHA1")
	p["sign"] = h.sg.SignWith(signer.MD5, p)
	wantProtocolFail(t, h.callBody(wxpaytest.PathOrderQuery, marshal(t, p)), "SIGN_ERROR")
	wantProtocolFail(t, h.call(wxpaytest.PathOrderQuery, without(q, "out_trade_no")), "PARAM_ERROR")

	// Business failures on a signed endpoint are signed too.
	h.srv.Inject(wxpaytest.Fault{ErrCode: "SYSTEMERROR"})
	doc := h.call(wxpaytest.PathOrderQuery, with(q, "sign_type", "HMAC-SHA256"))
	wantBusinessFail(t, doc, "SYSTEMERROR")
	if err := h.sg.Verify(doc.Fields); err != nil {
		t.Errorf("business failure sign: %v", err)
	}

	h.srv.Inject(wxpaytest.Fault{ErrCode: "BAD_REPLY_SIGN"})
	doc = h.call(wxpaytest.PathOrderQuery, q)
	wantFields(t, doc, "result_code", "SUCCESS")
	if err := h.sg.Verify(doc.Fields); !errors.Is(err, signer.ErrSignMismatch) {
		t.Errorf("BAD_REPLY_SIGN: Verify = %v", err)
	}
	h.srv.Inject(wxpaytest.Fault{ErrCode: "BAD_REPLY_SIGN"})
	doc = h.call(wxpaytest.PathOrderQuery, with(q, "sign_type", "HMAC-SHA256"))
	if err := h.sg.Verify(doc.Fields); !errors.Is(err, signer.ErrSignMismatch) || len(doc.Fields["sign"]) != 64 {
		t.Errorf("BAD_REPLY_SIGN HMAC: Verify = %v, sign %q", err, doc.Fields["sign"])
	}
	h.srv.Inject(wxpaytest.Fault{ErrCode: "NO_REPLY_SIGN"})
	doc = h.call(wxpaytest.PathOrderQuery, q)
	if _, ok := doc.Fields["sign"]; ok || doc.Fields["result_code"] != "SUCCESS" {
		t.Errorf("NO_REPLY_SIGN: %v", doc.Fields)
	}
}

func TestFaultErrCodes(t *testing.T) {
	h := newHarness(t, wxpaytest.Options{})
	for _, code := range []string{"SYSTEMERROR", "FREQ_LIMIT", "NOTENOUGH", "SEND_FAILED", "MONEY_LIMIT"} {
		billno := "F" + strings.ReplaceAll(code, "_", "")
		h.srv.Inject(wxpaytest.Fault{ErrCode: code})
		doc := h.send(h.sendParams(billno, 100))
		wantBusinessFail(t, doc, code)
		wantFields(t, doc, "mch_billno", billno)
		if _, ok := h.srv.Packet(billno); ok || h.srv.Sends(billno) != 0 {
			t.Errorf("%s: the send was processed", code)
		}
		// Injected answers leave no trace: the same billno goes through.
		wantFields(t, h.send(h.sendParams(billno, 100)), "result_code", "SUCCESS")
	}
	h.srv.Inject(wxpaytest.Fault{ErrCode: "SIGN_ERROR", ErrCodeDes: "custom"})
	doc := h.send(h.sendParams("G1", 100))
	wantProtocolFail(t, doc, "SIGN_ERROR")
	wantFields(t, doc, "err_code_des", "custom", "return_msg", "custom")

	h.srv.Inject(wxpaytest.Fault{ErrCode: "FREQ_LIMIT", Times: 2})
	wantBusinessFail(t, h.send(h.sendParams("G2", 100)), "FREQ_LIMIT")
	wantBusinessFail(t, h.send(h.sendParams("G2", 100)), "FREQ_LIMIT")
	wantFields(t, h.send(h.sendParams("G2", 100)), "result_code", "SUCCESS")

	var codes []string
	for _, r := range h.srv.Requests() {
		codes = append(codes, r.ErrCode)
	}
	if got := strings.Join(codes, ","); !strings.HasPrefix(got, "SYSTEMERROR,,FREQ_LIMIT,,") || !strings.HasSuffix(got, "SIGN_ERROR,FREQ_LIMIT,FREQ_LIMIT,") {
		t.Errorf("recorded codes %s", got)
	}
}

func TestFaultRecord(t *testing.T) {
	h := newHarness(t, wxpaytest.Options{Balance: 100000, NotEnough: wxpaytest.NotEnoughForgotten})
	url := h.srv.URL + wxpaytest.PathSendMiniProgramHB

	h.srv.Inject(wxpaytest.Fault{ErrCode: "SEND_FAILED", Record: true})
	doc := h.send(h.sendParams("B1", 500))
	wantBusinessFail(t, doc, "SEND_FAILED")
	wantFields(t, doc, "mch_billno", "B1", "re_openid", openID, "total_amount", "500")
	des := doc.Fields["err_code_des"]
	p, ok := h.srv.Packet("B1")
	if !ok || p.Status != wxpaytest.StatusFailed || p.ErrCode != "SEND_FAILED" || p.Reason != des || p.Package != "" || h.srv.Sends("B1") != 1 {
		t.Fatalf("Packet(B1) = %+v, %v; Sends %d", p, ok, h.srv.Sends("B1"))
	}
	if b := h.srv.Balance(); b != 100000 {
		t.Errorf("a recorded failure took money: Balance = %d", b)
	}
	// Remembered: resends answer the same failure, gethbinfo says FAILED.
	for range 2 {
		doc = h.send(h.sendParams("B1", 500))
		wantBusinessFail(t, doc, "SEND_FAILED")
		wantFields(t, doc, "err_code_des", des)
	}
	wantBusinessFail(t, h.send(h.sendParams("B1", 501)), "FATAL_ERROR")
	wantFields(t, h.info("B1"), "result_code", "SUCCESS", "status", "FAILED", "reason", des,
		"detail_id", p.SendListID, "total_amount", "500", "send_time", "2024-01-02 11:04:05",
		"wishing", "Happy new year", "act_name", "New year", "remark", "Thanks")
	if reqs := h.srv.Requests(); reqs[0].ErrCode != "SEND_FAILED" || reqs[1].ErrCode != "SEND_FAILED" {
		t.Errorf("records %+v", reqs[:2])
	}

	// A custom text is the reason and is repeated; the NotEnough mode does not matter.
	h.srv.Inject(wxpaytest.Fault{ErrCode: "NO_AUTH", ErrCodeDes: "risk control", Record: true})
	wantFields(t, h.send(h.sendParams("B2", 500)), "err_code", "NO_AUTH", "err_code_des", "risk control")
	wantFields(t, h.send(h.sendParams("B2", 500)), "err_code", "NO_AUTH", "err_code_des", "risk control")
	wantFields(t, h.info("B2"), "status", "FAILED", "reason", "risk control")
	h.srv.Inject(wxpaytest.Fault{ErrCode: "NOTENOUGH", Record: true})
	wantBusinessFail(t, h.send(h.sendParams("B3", 500)), "NOTENOUGH")
	wantBusinessFail(t, h.send(h.sendParams("B3", 500)), "NOTENOUGH")
	wantFields(t, h.info("B3"), "status", "FAILED")

	// A call refused by a check records nothing and uses the fault up.
	h.srv.Inject(wxpaytest.Fault{ErrCode: "SEND_FAILED", Record: true})
	wantProtocolFail(t, h.send(h.sendParams("B4", 1)), "PARAM_ERROR")
	if _, ok := h.srv.Packet("B4"); ok {
		t.Error("a refused call was recorded")
	}
	wantFields(t, h.send(h.sendParams("B4", 100)), "result_code", "SUCCESS")
	// A billno with a record answers it: a paid one stays paid.
	pkt, _ := h.srv.Packet("B4")
	h.srv.Inject(wxpaytest.Fault{ErrCode: "SEND_FAILED", Record: true})
	wantFields(t, h.send(h.sendParams("B4", 100)), "result_code", "SUCCESS", "package", pkt.Package)
	wantFields(t, h.send(h.sendParams("B5", 100)), "result_code", "SUCCESS") // the fault was used up
	if p, _ := h.srv.Packet("B4"); p.Status != wxpaytest.StatusSent {
		t.Errorf("B4 is %s", p.Status)
	}

	// With DropAfter: recorded, then the connection is dropped.
	h.srv.Inject(wxpaytest.Fault{ErrCode: "SEND_FAILED", Record: true, DropAfter: true})
	if _, _, err := postRaw(context.Background(), h.client, url, marshal(t, h.sign(h.sendParams("B6", 100)))); err == nil {
		t.Fatal("DropAfter: no error")
	}
	if reqs := h.srv.Requests(); reqs[len(reqs)-1].ErrCode != "SEND_FAILED" {
		t.Errorf("record %+v", reqs[len(reqs)-1])
	}
	wantBusinessFail(t, h.send(h.sendParams("B6", 100)), "SEND_FAILED")

	// On gethbinfo the code is a plain answer.
	h.srv.Inject(wxpaytest.Fault{ErrCode: "SEND_FAILED", Record: true, Match: func(path string, _ map[string]string) bool {
		return path == wxpaytest.PathGetHBInfo
	}})
	wantFields(t, h.send(h.sendParams("B7", 100)), "result_code", "SUCCESS")
	wantBusinessFail(t, h.info("B7"), "SEND_FAILED")
	wantFields(t, h.info("B7"), "status", "SENT")

	// Faults that cannot be recorded are refused at once.
	for _, f := range []wxpaytest.Fault{
		{Record: true},
		{Record: true, ErrCode: "PARAM_ERROR"},
		{Record: true, ErrCode: "SIGN_ERROR"},
		{Record: true, ErrCode: "PROCESSING"},
		{Record: true, ErrCode: "BAD_REPLY_SIGN"},
		{Record: true, ErrCode: "NO_REPLY_SIGN"},
		{Record: true, ErrCode: "SEND_FAILED", ReturnFail: "x"},
		{Record: true, ErrCode: "SEND_FAILED", Status: 500},
		{Record: true, ErrCode: "SEND_FAILED", HTML: true},
		{Record: true, ErrCode: "SEND_FAILED", Garbage: true},
		{Record: true, ErrCode: "SEND_FAILED", DropBefore: true},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Inject(%+v) did not panic", f)
				}
			}()
			h.srv.Inject(f)
		}()
	}
	wantFields(t, h.send(h.sendParams("B8", 100)), "result_code", "SUCCESS")
}

func TestFaultProcessing(t *testing.T) {
	h := newHarness(t, wxpaytest.Options{})
	h.srv.Inject(wxpaytest.Fault{ErrCode: "PROCESSING"})
	wantBusinessFail(t, h.send(h.sendParams("B1", 100)), "PROCESSING")
	if p, ok := h.srv.Packet("B1"); !ok || p.Status != wxpaytest.StatusSending || h.srv.Sends("B1") != 1 {
		t.Fatalf("Packet = %+v, %v; Sends %d", p, ok, h.srv.Sends("B1"))
	}
	wantFields(t, h.info("B1"), "status", "SENDING")
	wantFields(t, h.info("B1"), "status", "SENT")

	// A repeat of a SENDING billno completes it with the same package.
	h.srv.Inject(wxpaytest.Fault{ErrCode: "PROCESSING"})
	h.send(h.sendParams("B2", 100))
	pkt, _ := h.srv.Packet("B2")
	doc := h.send(h.sendParams("B2", 100))
	wantFields(t, doc, "result_code", "SUCCESS", "package", pkt.Package, "send_listid", pkt.SendListID)
	if p, _ := h.srv.Packet("B2"); p.Status != wxpaytest.StatusSent {
		t.Errorf("status %s", p.Status)
	}
	// PROCESSING on a refused call answers the refusal.
	h.srv.Inject(wxpaytest.Fault{ErrCode: "PROCESSING"})
	wantProtocolFail(t, h.send(h.sendParams("B3", 1)), "PARAM_ERROR")
	// On gethbinfo it is a plain answer.
	h.srv.Inject(wxpaytest.Fault{ErrCode: "PROCESSING"})
	wantBusinessFail(t, h.info("B2"), "PROCESSING")
}

func TestFaultReturnFail(t *testing.T) {
	h := newHarness(t, wxpaytest.Options{})
	h.srv.Inject(wxpaytest.Fault{ReturnFail: "system busy"})
	doc := h.send(h.sendParams("B1", 100))
	wantFields(t, doc, "return_code", "FAIL", "return_msg", "system busy")
	if len(doc.Fields) != 2 {
		t.Errorf("reply %v", doc.Fields)
	}
	h.srv.Inject(wxpaytest.Fault{ReturnFail: "bad", ErrCode: "CA_ERROR"})
	wantProtocolFail(t, h.send(h.sendParams("B1", 100)), "CA_ERROR")
	if _, ok := h.srv.Packet("B1"); ok {
		t.Error("processed")
	}
}

func TestFaultRawReplies(t *testing.T) {
	h := newHarness(t, wxpaytest.Options{})
	body := marshal(t, h.sign(h.sendParams("B1", 100)))
	url := h.srv.URL + wxpaytest.PathSendMiniProgramHB
	cases := []struct {
		f      wxpaytest.Fault
		status int
		ctype  string
		want   error
	}{
		{wxpaytest.Fault{Status: 503}, 503, "text/plain", xml.ErrNotXML},
		{wxpaytest.Fault{Status: 502, HTML: true}, 502, "text/html", xml.ErrNotXML},
		{wxpaytest.Fault{HTML: true}, 200, "text/html", xml.ErrNotXML},
		{wxpaytest.Fault{Garbage: true}, 200, "application/octet-stream", nil},
	}
	for _, c := range cases {
		h.srv.Inject(c.f)
		resp, data, err := postRaw(context.Background(), h.client, url, body)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != c.status || !strings.HasPrefix(resp.Header.Get("Content-Type"), c.ctype) {
			t.Errorf("%+v: status %d, type %q", c.f, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		_, err = xml.Unmarshal(data)
		if err == nil || c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("%+v: decoding %q: %v", c.f, data, err)
		}
	}
	if _, ok := h.srv.Packet("B1"); ok || h.srv.Sends("B1") != 0 {
		t.Error("a raw-reply fault processed the send")
	}
}

func TestFaultDrops(t *testing.T) {
	h := newHarness(t, wxpaytest.Options{})
	body := marshal(t, h.sign(h.sendParams("B1", 100)))
	url := h.srv.URL + wxpaytest.PathSendMiniProgramHB

	h.srv.Inject(wxpaytest.Fault{DropBefore: true})
	if _, _, err := postRaw(context.Background(), h.client, url, body); err == nil {
		t.Fatal("DropBefore: no error")
	}
	if _, ok := h.srv.Packet("B1"); ok || h.srv.Sends("B1") != 0 {
		t.Error("DropBefore processed the send")
	}

	h.srv.Inject(wxpaytest.Fault{DropAfter: true})
	if _, _, err := postRaw(context.Background(), h.client, url, body); err == nil {
		t.Fatal("DropAfter: no error")
	}
	p, ok := h.srv.Packet("B1")
	if !ok || h.srv.Sends("B1") != 1 {
		t.Fatal("DropAfter did not process the send")
	}
	// The retry with the same billno gets the first result.
	doc := h.send(h.sendParams("B1", 100))
	wantFields(t, doc, "result_code", "SUCCESS", "package", p.Package)
	if h.srv.Sends("B1") != 2 {
		t.Errorf("Sends = %d", h.srv.Sends("B1"))
	}
	// A dropped call after a refusal records the refusal.
	h.srv.Inject(wxpaytest.Fault{DropAfter: true})
	if _, _, err := postRaw(context.Background(), h.client, url, marshal(t, h.sign(h.sendParams("B2", 1)))); err == nil {
		t.Fatal("DropAfter: no error")
	}
	if reqs := h.srv.Requests(); reqs[len(reqs)-1].ErrCode != "PARAM_ERROR" {
		t.Errorf("record %+v", reqs[len(reqs)-1])
	}
}

func TestFaultDelay(t *testing.T) {
	h := newHarness(t, wxpaytest.Options{})
	url := h.srv.URL + wxpaytest.PathSendMiniProgramHB

	h.srv.Inject(wxpaytest.Fault{Delay: 50 * time.Millisecond})
	start := time.Now()
	wantFields(t, h.send(h.sendParams("B1", 100)), "result_code", "SUCCESS")
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("answered after %v", d)
	}

	// The client gives up during the delay: nothing is processed.
	h.srv.Inject(wxpaytest.Fault{Delay: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, _, err := postRaw(ctx, h.client, url, marshal(t, h.sign(h.sendParams("B2", 100))))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	// Delay with DropAfter: processed first, then the client times out.
	h.srv.Inject(wxpaytest.Fault{Delay: time.Minute, DropAfter: true})
	ctx2, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	_, _, err = postRaw(ctx2, h.client, url, marshal(t, h.sign(h.sendParams("B3", 100))))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	if _, ok := h.srv.Packet("B3"); !ok {
		t.Error("Delay+DropAfter did not process the send")
	}
	// B2 was never processed, and is processed normally now.
	if _, ok := h.srv.Packet("B2"); ok || h.srv.Sends("B2") != 0 {
		t.Error("a call abandoned during the delay was processed")
	}
	wantFields(t, h.send(h.sendParams("B2", 100)), "result_code", "SUCCESS")
}

func TestCloseDuringDelay(t *testing.T) {
	srv, err := wxpaytest.NewServer(wxpaytest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, srv: srv}
	h.sg, _ = signer.New(srv.APIKey)
	h.client = h.clientWith(srv.ClientCertificate())
	srv.Inject(wxpaytest.Fault{Delay: time.Minute})
	errc := make(chan error, 1)
	go func() {
		_, _, err := postRaw(context.Background(), h.client, srv.URL+wxpaytest.PathSendMiniProgramHB, marshal(t, h.sign(h.sendParams("B1", 100))))
		errc <- err
	}()
	for len(srv.Requests()) == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	srv.Close()
	srv.Close() // idempotent
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Close took %v", d)
	}
	if err := <-errc; err == nil {
		t.Error("the delayed call got an answer")
	}
	if _, ok := srv.Packet("B1"); ok {
		t.Error("processed")
	}
}

func TestFaultMatchAndOrder(t *testing.T) {
	h := newHarness(t, wxpaytest.Options{})
	h.srv.Inject(wxpaytest.Fault{
		Match: func(path string, p map[string]string) bool {
			p["mch_billno"] = "mutated" // the server's copy is not affected
			return path == wxpaytest.PathGetHBInfo
		},
		ErrCode: "SYSTEMERROR",
	})
	h.srv.Inject(wxpaytest.Fault{ErrCode: "FREQ_LIMIT"})
	h.srv.Inject(wxpaytest.Fault{ErrCode: "NOTENOUGH"})
	wantBusinessFail(t, h.send(h.sendParams("B1", 100)), "FREQ_LIMIT")
	wantBusinessFail(t, h.send(h.sendParams("B1", 100)), "NOTENOUGH")
	wantFields(t, h.send(h.sendParams("B1", 100)), "result_code", "SUCCESS")
	wantBusinessFail(t, h.info("B1"), "SYSTEMERROR")
	wantFields(t, h.info("B1"), "status", "SENT")
	if r := h.srv.Requests()[0]; r.Params["mch_billno"] != "B1" {
		t.Errorf("Match mutated the record: %v", r.Params)
	}

	// BAD_REPLY_SIGN on an unsigned endpoint adds a wrong sign; the send happens.
	h.srv.Inject(wxpaytest.Fault{ErrCode: "BAD_REPLY_SIGN"})
	doc := h.send(h.sendParams("B2", 100))
	wantFields(t, doc, "result_code", "SUCCESS")
	if err := h.sg.Verify(doc.Fields); !errors.Is(err, signer.ErrSignMismatch) {
		t.Errorf("Verify = %v", err)
	}
	if _, ok := h.srv.Packet("B2"); !ok {
		t.Error("BAD_REPLY_SIGN did not process the send")
	}
}

func TestMethodPathAndReset(t *testing.T) {
	h := newHarness(t, wxpaytest.Options{})
	resp, err := h.client.Get(h.srv.URL + wxpaytest.PathSendMiniProgramHB)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", resp.StatusCode)
	}
	resp, _, err = postRaw(context.Background(), h.client, h.srv.URL+"/pay/unifiedorder", []byte("<xml></xml>"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown path: %d", resp.StatusCode)
	}
	h.send(h.sendParams("B1", 100))
	h.srv.Inject(wxpaytest.Fault{ErrCode: "SYSTEMERROR"})
	if n := len(h.srv.Requests()); n != 3 {
		t.Errorf("%d records", n)
	}
	h.srv.Reset()
	if n := len(h.srv.Requests()); n != 0 || h.srv.Sends("B1") != 0 {
		t.Errorf("after Reset: %d records, Sends %d", n, h.srv.Sends("B1"))
	}
	if _, ok := h.srv.Packet("B1"); !ok {
		t.Error("Reset dropped the packet")
	}
	// The fault is gone; the billno is still idempotent.
	wantFields(t, h.send(h.sendParams("B1", 100)), "result_code", "SUCCESS")
	wantBusinessFail(t, h.send(h.sendParams("B1", 200)), "FATAL_ERROR")
}

func TestNewServerErrors(t *testing.T) {
	if _, err := wxpaytest.NewServer(wxpaytest.Options{APIKey: "short"}); !errors.Is(err, signer.ErrKeyLength) {
		t.Errorf("short key: %v", err)
	}
	if _, err := wxpaytest.NewServer(wxpaytest.Options{Balance: -1}); err == nil {
		t.Error("negative balance accepted")
	}
	if _, err := wxpaytest.NewServer(wxpaytest.Options{NotEnough: 2}); err == nil {
		t.Error("unknown NotEnough mode accepted")
	}
	srv := wxpaytest.Start(t, wxpaytest.Options{MchID: "1234567890", AppID: "wx1111111111111111", APIKey: strings.Repeat("x", 32)})
	if srv.MchID != "1234567890" || srv.AppID != "wx1111111111111111" || !strings.HasPrefix(srv.URL, "https://127.0.0.1:") {
		t.Errorf("%+v", srv)
	}
	if leaf := srv.ClientCertificate().Leaf; leaf == nil || leaf.Subject.CommonName != "1234567890" {
		t.Error("client certificate CN")
	}
}

func TestHandshakes(t *testing.T) {
	h := newHarness(t, wxpaytest.Options{})
	for i := range 5 {
		h.send(h.sendParams(fmt.Sprintf("K%d", i), 100))
	}
	if n := h.srv.Handshakes(); n != 1 {
		t.Errorf("keep-alive: %d handshakes, want 1", n)
	}
	tr := &http.Transport{DisableKeepAlives: true, TLSClientConfig: &tls.Config{
		RootCAs: h.srv.RootCAs(), Certificates: []tls.Certificate{h.srv.ClientCertificate()},
	}}
	h.client = &http.Client{Transport: tr}
	for i := range 3 {
		h.send(h.sendParams(fmt.Sprintf("N%d", i), 100))
	}
	if n := h.srv.Handshakes(); n != 4 {
		t.Errorf("%d handshakes, want 4", n)
	}
	// A refused handshake does not count.
	postRaw(context.Background(), h.clientWith(), h.srv.URL+wxpaytest.PathSendMiniProgramHB, []byte("<xml></xml>"))
	if n := h.srv.Handshakes(); n != 4 {
		t.Errorf("%d handshakes after a refused one, want 4", n)
	}
}

func TestConcurrentUse(t *testing.T) {
	h := newHarness(t, wxpaytest.Options{Balance: 50*100 + 100 + 100})
	const n = 50
	h.srv.Inject(wxpaytest.Fault{ErrCode: "SYSTEMERROR", Times: 10, Match: func(path string, p map[string]string) bool {
		return p["mch_billno"] != "SHARED"
	}})
	var wg sync.WaitGroup
	errs := make(chan string, 4*n)
	packages := make(chan string, n)
	for i := range n {
		wg.Go(func() {
			own := fmt.Sprintf("C%d", i)
			for {
				doc := h.send(h.sendParams(own, 100))
				if doc.Fields["err_code"] == "SYSTEMERROR" {
					continue // retry with the same billno
				}
				if doc.Fields["result_code"] != "SUCCESS" {
					errs <- fmt.Sprintf("%s: %v", own, doc.Fields)
				}
				break
			}
			doc := h.send(h.sendParams("SHARED", 100))
			if doc.Fields["result_code"] != "SUCCESS" {
				errs <- fmt.Sprintf("SHARED: %v", doc.Fields)
			}
			packages <- doc.Fields["package"]
			h.info(own)
			h.srv.Requests()
			h.srv.Packet("SHARED")
			h.srv.Balance()
			h.srv.PacketsOf(openID)
			if i%10 == 0 {
				h.srv.Inject(wxpaytest.Fault{ErrCode: "NO_REPLY_SIGN"})
			}
		})
	}
	wg.Wait()
	close(errs)
	close(packages)
	for e := range errs {
		t.Error(e)
	}
	first := ""
	for p := range packages {
		if first == "" {
			first = p
		}
		if p != first {
			t.Errorf("SHARED answered two packages: %q and %q", first, p)
		}
	}
	if got := h.srv.Sends("SHARED"); got != n {
		t.Errorf("Sends(SHARED) = %d, want %d", got, n)
	}
	// Each billno paid once: 100 fen are left.
	wantBusinessFail(t, h.send(h.sendParams("EXTRA", 101)), "NOTENOUGH")
	wantFields(t, h.send(h.sendParams("EXTRA2", 100)), "result_code", "SUCCESS")
	// One record per billno: n own, SHARED, EXTRA (refused) and EXTRA2.
	paid := map[string]bool{}
	for _, p := range h.srv.PacketsOf(openID) {
		if paid[p.Billno] {
			t.Errorf("%s listed twice", p.Billno)
		}
		paid[p.Billno] = p.ErrCode == ""
	}
	if len(paid) != n+3 || paid["EXTRA"] || !paid["SHARED"] || !paid["EXTRA2"] {
		t.Errorf("PacketsOf: %d records, %v", len(paid), paid)
	}
}

func TestAddr(t *testing.T) {
	// A port known before the start, as a standalone fake host has.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	for _, tc := range []struct{ addr, url string }{
		{"127.0.0.1:" + port, "https://127.0.0.1:" + port},
		{":0", "https://127.0.0.1:"},
		{"[::1]:0", "https://[::1]:"},
	} {
		srv, err := wxpaytest.NewServer(wxpaytest.Options{Addr: tc.addr})
		if err != nil {
			if tc.addr == "[::1]:0" {
				t.Logf("no IPv6 loopback: %v", err)
				continue
			}
			t.Fatalf("Addr %q: %v", tc.addr, err)
		}
		t.Cleanup(srv.Close)
		if !strings.HasPrefix(srv.URL, tc.url) || strings.HasSuffix(srv.URL, ":0") {
			t.Errorf("Addr %q: URL %q, want %s...", tc.addr, srv.URL, tc.url)
		}
		// The server certificate verifies under the URL's host.
		h := &harness{t: t, srv: srv}
		if h.sg, err = signer.New(srv.APIKey); err != nil {
			t.Fatal(err)
		}
		h.client = h.clientWith(srv.ClientCertificate())
		wantBusinessFail(t, h.info("NOSUCHBILLNO"), "NOT_FOUND")
	}
	// The first server still holds its port.
	if srv, err := wxpaytest.NewServer(wxpaytest.Options{Addr: "127.0.0.1:" + port}); err == nil {
		srv.Close()
		t.Error("a second server on a port in use started")
	}
}
