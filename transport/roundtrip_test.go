package transport_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hongbao-go/hongbao/signer"
	"github.com/hongbao-go/hongbao/transport"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
	"github.com/hongbao-go/hongbao/xml"
)

func fakeConfig(srv *wxpaytest.Server) transport.Config {
	return transport.Config{
		MchID:   srv.MchID,
		APIKey:  srv.APIKey,
		CertPEM: srv.ClientCertPEM(),
		KeyPEM:  srv.ClientKeyPEM(),
		RootCAs: srv.RootCAs(),
		BaseURL: srv.URL,
	}
}

func newFakeTransport(t testing.TB, srv *wxpaytest.Server, mod func(*transport.Config)) *transport.Transport {
	t.Helper()
	cfg := fakeConfig(srv)
	if mod != nil {
		mod(&cfg)
	}
	tr, err := transport.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

var billnoSeq atomic.Int64

// newBillno returns a fresh mch_billno: mch_id + yyyymmdd + 10 digits.
func newBillno() string {
	return fmt.Sprintf("%s%s%010d", wxpaytest.DefaultMchID, time.Now().Format("20060102"), billnoSeq.Add(1))
}

// sendParams are the fields of a sendminiprogramhb call, without mch_id,
// nonce_str and sign.
func sendParams(appID, billno string) map[string]string {
	return map[string]string{
		"wxappid":      appID,
		"mch_billno":   billno,
		"send_name":    "测试商户",
		"re_openid":    "oxTWIuGaIt6gTKsQRLau2M0yL16E",
		"total_amount": "100",
		"total_num":    "1",
		"wishing":      "恭喜发财",
		"act_name":     "新春活动",
		"remark":       "备注 & <remark>",
		"notify_way":   "MINI_PROGRAM_JSAPI",
	}
}

func orderQueryParams(appID string) map[string]string {
	return map[string]string{"appid": appID, "out_trade_no": "T" + newBillno()}
}

// call sends params to path through tr with http.Client.
func call(t testing.TB, tr *transport.Transport, path string, params map[string]string) (*http.Response, error) {
	t.Helper()
	req, err := transport.NewRequest(context.Background(), tr.BaseURL()+path, params)
	if err != nil {
		t.Fatal(err)
	}
	return tr.Client().Do(req)
}

// asError returns the *transport.Error in err, failing t when there is none.
func asError(t testing.TB, err error) *transport.Error {
	t.Helper()
	var te *transport.Error
	if !errors.As(err, &te) {
		t.Fatalf("error %v (%T) holds no *transport.Error", err, err)
	}
	return te
}

func TestSendMiniProgramHB(t *testing.T) {
	srv := wxpaytest.Start(t, wxpaytest.Options{})
	tr := newFakeTransport(t, srv, nil)
	billno := newBillno()
	params := sendParams(srv.AppID, billno)
	before := fmt.Sprint(params)

	resp, err := call(t, tr, wxpaytest.PathSendMiniProgramHB, params)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if fmt.Sprint(params) != before {
		t.Error("the caller's params were modified")
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/xml; charset=utf-8" {
		t.Errorf("status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	doc, ok := transport.ReplyOf(resp)
	if !ok {
		t.Fatal("ReplyOf: no document")
	}
	f := doc.Fields
	if f["result_code"] != "SUCCESS" || f["mch_billno"] != billno || f["send_listid"] == "" || !strings.Contains(f["package"], "sendid=") {
		t.Errorf("reply %v", f)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(body)) != resp.ContentLength {
		t.Errorf("ContentLength %d, body %d bytes", resp.ContentLength, len(body))
	}
	again, err := xml.Unmarshal(body)
	if err != nil || again.Fields["send_listid"] != f["send_listid"] {
		t.Errorf("body does not hold the reply: %v", err)
	}

	reqs := srv.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	sent := reqs[0].Params
	if sent["mch_id"] != srv.MchID || len(sent["nonce_str"]) != 32 || len(sent["sign"]) != 32 {
		t.Errorf("sent %v", sent)
	}
	if _, ok := sent["sign_type"]; ok {
		t.Error("sign_type added to a red-packet call")
	}
	if sent["remark"] != params["remark"] || sent["send_name"] != params["send_name"] {
		t.Errorf("values changed on the way: %q %q", sent["remark"], sent["send_name"])
	}
	if p, ok := srv.Packet(billno); !ok || p.Amount != 100 {
		t.Errorf("packet %+v %v", p, ok)
	}
}

func TestGetHBInfoLists(t *testing.T) {
	srv := wxpaytest.Start(t, wxpaytest.Options{})
	tr := newFakeTransport(t, srv, nil)
	billno := newBillno()
	resp, err := call(t, tr, wxpaytest.PathSendMiniProgramHB, sendParams(srv.AppID, billno))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if err := srv.MarkReceived(billno); err != nil {
		t.Fatal(err)
	}
	resp, err = call(t, tr, wxpaytest.PathGetHBInfo, map[string]string{"mch_billno": billno, "appid": srv.AppID, "bill_type": "MCHT"})
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := transport.ReplyOf(resp)
	if doc.Fields["status"] != wxpaytest.StatusReceived || len(doc.Lists["hblist"]) != 1 || doc.Lists["hblist"][0]["openid"] == "" {
		t.Errorf("reply %v %v", doc.Fields, doc.Lists)
	}
}

func TestBodyInputs(t *testing.T) {
	srv := wxpaytest.Start(t, wxpaytest.Options{})
	tr := newFakeTransport(t, srv, nil)
	client := tr.Client()
	tests := []struct {
		name, contentType string
		body              func(p map[string]string) string
	}{
		{"form", "application/x-www-form-urlencoded", func(p map[string]string) string {
			v := url.Values{}
			for k, s := range p {
				v.Set(k, s)
			}
			return v.Encode()
		}},
		{"JSON", "application/json; charset=utf-8", func(p map[string]string) string {
			m := map[string]any{}
			for k, s := range p {
				m[k] = s
			}
			m["total_amount"] = 100 // a number
			m["total_num"] = json.Number("1")
			m["scene_id"] = nil // left out
			b, _ := json.Marshal(m)
			return string(b)
		}},
		{"XML", "text/xml", func(p map[string]string) string {
			b, _ := xml.Marshal(p)
			return string(b)
		}},
		{"XML sniffed", "", func(p map[string]string) string {
			b, _ := xml.Marshal(p)
			return "\n " + string(b)
		}},
		{"JSON sniffed", "", func(p map[string]string) string {
			b, _ := json.Marshal(p)
			return string(b)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv.Reset()
			billno := newBillno()
			p := sendParams(srv.AppID, billno)
			body := newCountingBody(tt.body(p))
			req, _ := http.NewRequest(http.MethodPost, srv.URL+wxpaytest.PathSendMiniProgramHB, body)
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if n := body.closes.Load(); n != 1 {
				t.Errorf("body closed %d times", n)
			}
			doc, _ := transport.ReplyOf(resp)
			if doc.Fields["result_code"] != "SUCCESS" {
				t.Fatalf("reply %v", doc.Fields)
			}
			sent := srv.Requests()[0].Params
			if sent["total_amount"] != "100" || sent["total_num"] != "1" || sent["remark"] != p["remark"] || sent["mch_id"] != srv.MchID {
				t.Errorf("sent %v", sent)
			}
			if _, ok := sent["scene_id"]; ok {
				t.Error("null JSON field sent")
			}
			if got := req.Header.Get("Content-Type"); got != tt.contentType {
				t.Errorf("caller's Content-Type changed to %q", got)
			}
		})
	}
}

func TestMchIDNonceSign(t *testing.T) {
	srv := wxpaytest.Start(t, wxpaytest.Options{})
	tr := newFakeTransport(t, srv, nil)
	s, _ := signer.New(srv.APIKey)

	t.Run("mch_id given and equal", func(t *testing.T) {
		p := sendParams(srv.AppID, newBillno())
		p["mch_id"] = srv.MchID
		p["nonce_str"] = "fixedNonce123"
		p["sign"] = "caller's stale sign"
		resp, err := call(t, tr, wxpaytest.PathSendMiniProgramHB, p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		reqs := srv.Requests()
		sent := reqs[len(reqs)-1].Params
		if sent["nonce_str"] != "fixedNonce123" {
			t.Errorf("caller's nonce_str replaced by %q", sent["nonce_str"])
		}
		if err := s.Verify(sent); err != nil {
			t.Errorf("sent sign: %v", err)
		}
	})
	t.Run("mch_id mismatch", func(t *testing.T) {
		srv.Reset()
		p := sendParams(srv.AppID, newBillno())
		p["mch_id"] = "1230000109"
		_, err := call(t, tr, wxpaytest.PathSendMiniProgramHB, p)
		te := asError(t, err)
		if te.Kind != transport.KindRequest || te.OutcomeUnknown() || !strings.Contains(te.Error(), "1230000109") {
			t.Errorf("error %v", te)
		}
		if len(srv.Requests()) != 0 {
			t.Error("a refused call reached the server")
		}
	})
	t.Run("fresh nonce each call", func(t *testing.T) {
		srv.Reset()
		for range 3 {
			resp, err := call(t, tr, wxpaytest.PathGetHBInfo, map[string]string{"mch_billno": "x1", "appid": srv.AppID, "bill_type": "MCHT"})
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}
		seen := map[string]bool{}
		for _, r := range srv.Requests() {
			seen[r.Params["nonce_str"]] = true
		}
		if len(seen) != 3 {
			t.Errorf("nonces %v", seen)
		}
	})
	t.Run("HMAC-SHA256 when sign_type says so", func(t *testing.T) {
		srv.Reset()
		p := orderQueryParams(srv.AppID)
		p["sign_type"] = "HMAC-SHA256"
		resp, err := call(t, tr, wxpaytest.PathOrderQuery, p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		sent := srv.Requests()[0].Params
		if len(sent["sign"]) != 64 || sent["sign"] != s.SignWith(signer.HMACSHA256, sent) {
			t.Errorf("sent sign %q", sent["sign"])
		}
		doc, _ := transport.ReplyOf(resp)
		if len(doc.Fields["sign"]) != 64 || doc.Fields["trade_state"] != "SUCCESS" {
			t.Errorf("reply %v", doc.Fields)
		}
	})
	t.Run("unknown sign_type", func(t *testing.T) {
		p := orderQueryParams(srv.AppID)
		p["sign_type"] = "SHA1"
		_, err := call(t, tr, wxpaytest.PathOrderQuery, p)
		if te := asError(t, err); te.Kind != transport.KindRequest || !errors.Is(err, signer.ErrUnknownSignType) {
			t.Errorf("error %v", err)
		}
	})
}

func TestReplySign(t *testing.T) {
	srv := wxpaytest.Start(t, wxpaytest.Options{})
	tr := newFakeTransport(t, srv, nil)
	t.Run("orderquery MD5 verified", func(t *testing.T) {
		resp, err := call(t, tr, wxpaytest.PathOrderQuery, orderQueryParams(srv.AppID))
		if err != nil {
			t.Fatal(err)
		}
		doc, _ := transport.ReplyOf(resp)
		if len(doc.Fields["sign"]) != 32 {
			t.Errorf("reply %v", doc.Fields)
		}
	})
	tests := []struct {
		name, path, code string
		is               error // nil: no error expected
	}{
		{"orderquery BAD_REPLY_SIGN", wxpaytest.PathOrderQuery, "BAD_REPLY_SIGN", signer.ErrSignMismatch},
		{"orderquery NO_REPLY_SIGN", wxpaytest.PathOrderQuery, "NO_REPLY_SIGN", signer.ErrNoSign},
		{"sendminiprogramhb BAD_REPLY_SIGN (a sign present is verified)", wxpaytest.PathSendMiniProgramHB, "BAD_REPLY_SIGN", signer.ErrSignMismatch},
		{"sendminiprogramhb NO_REPLY_SIGN (not demanded)", wxpaytest.PathSendMiniProgramHB, "NO_REPLY_SIGN", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv.Inject(wxpaytest.Fault{ErrCode: tt.code})
			p := orderQueryParams(srv.AppID)
			if tt.path == wxpaytest.PathSendMiniProgramHB {
				p = sendParams(srv.AppID, newBillno())
			}
			resp, err := call(t, tr, tt.path, p)
			if tt.is == nil {
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return
			}
			te := asError(t, err)
			if te.Kind != transport.KindSign || !errors.Is(err, tt.is) || !te.OutcomeUnknown() || te.ReturnCode != "SUCCESS" {
				t.Errorf("error %v kind %v", err, te.Kind)
			}
		})
	}
}

// faultWant is what a call meets an injected fault with.
type faultWant struct {
	kind    transport.ErrorKind // 0: not a *transport.Error
	unknown bool
	errCode string
	status  int
}

// faults lists the platform's failures that TestFaults and TestCallFaults
// inject, for the two ways of calling.
var faults = []struct {
	name  string
	fault wxpaytest.Fault
	want  faultWant
}{
	{"protocol failure SIGN_ERROR", wxpaytest.Fault{ErrCode: "SIGN_ERROR"}, faultWant{transport.KindReturnFail, false, "SIGN_ERROR", 200}},
	{"protocol failure PARAM_ERROR", wxpaytest.Fault{ErrCode: "PARAM_ERROR", ErrCodeDes: "参数错误"}, faultWant{transport.KindReturnFail, false, "PARAM_ERROR", 200}},
	{"return_code=FAIL", wxpaytest.Fault{ReturnFail: "系统繁忙"}, faultWant{transport.KindReturnFail, false, "", 200}},
	{"return_code=FAIL SYSTEMERROR", wxpaytest.Fault{ReturnFail: "系统繁忙", ErrCode: "SYSTEMERROR"}, faultWant{transport.KindReturnFail, true, "SYSTEMERROR", 200}},
	{"HTTP 500", wxpaytest.Fault{Status: 500}, faultWant{transport.KindStatus, true, "", 500}},
	{"HTTP 502 HTML", wxpaytest.Fault{Status: 502, HTML: true}, faultWant{transport.KindStatus, true, "", 502}},
	{"HTTP 404", wxpaytest.Fault{Status: 404}, faultWant{transport.KindStatus, false, "", 404}},
	{"HTML page", wxpaytest.Fault{HTML: true}, faultWant{transport.KindNotXML, true, "", 200}},
	{"garbage", wxpaytest.Fault{Garbage: true}, faultWant{transport.KindNotXML, true, "", 200}},
	{"dropped before processing", wxpaytest.Fault{DropBefore: true}, faultWant{}},
	{"dropped after processing", wxpaytest.Fault{DropAfter: true}, faultWant{}},
}

func TestFaults(t *testing.T) {
	srv := wxpaytest.Start(t, wxpaytest.Options{})
	tr := newFakeTransport(t, srv, nil)
	tests := faults
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A warm connection first: a drop on a reused connection must
			// not be retried silently either.
			warm, err := call(t, tr, wxpaytest.PathGetHBInfo, map[string]string{"mch_billno": "warm", "appid": srv.AppID, "bill_type": "MCHT"})
			if err != nil {
				t.Fatal(err)
			}
			warm.Body.Close()
			srv.Reset()
			srv.Inject(tt.fault)
			billno := newBillno()
			body := newCountingBody("")
			b, _ := xml.Marshal(sendParams(srv.AppID, billno))
			body.r = bytes.NewReader(b)
			req, _ := http.NewRequest(http.MethodPost, srv.URL+wxpaytest.PathSendMiniProgramHB, body)
			resp, err := tr.Client().Do(req)
			if err == nil {
				resp.Body.Close()
				t.Fatalf("no error; reply %v", resp.Header)
			}
			if n := body.closes.Load(); n != 1 {
				t.Errorf("body closed %d times", n)
			}
			if tt.want.kind == 0 {
				var te *transport.Error
				if errors.As(err, &te) {
					t.Errorf("network failure reported as %v", te)
				}
				var ue *url.Error
				if !errors.As(err, &ue) {
					t.Errorf("error %T, want *url.Error", err)
				}
				wantSends := 0
				if tt.fault.DropAfter {
					wantSends = 1
				}
				if n := srv.Sends(billno); n != wantSends {
					t.Errorf("Sends %d, want %d (no silent retry)", n, wantSends)
				}
				return
			}
			te := asError(t, err)
			if te.Kind != tt.want.kind || te.OutcomeUnknown() != tt.want.unknown || te.ErrCode != tt.want.errCode || te.StatusCode != tt.want.status {
				t.Errorf("got kind %v unknown %v err_code %q status %d: %v", te.Kind, te.OutcomeUnknown(), te.ErrCode, te.StatusCode, te)
			}
			if te.Path != wxpaytest.PathSendMiniProgramHB {
				t.Errorf("Path %q", te.Path)
			}
			if (te.Kind == transport.KindNotXML || te.Kind == transport.KindStatus) && te.Snippet == "" && tt.fault.Status != 500 {
				t.Errorf("no snippet: %v", te)
			}
			if len(te.Snippet) > 100 {
				t.Errorf("snippet of %d bytes", len(te.Snippet))
			}
			if strings.Contains(te.Error(), srv.APIKey) {
				t.Error("error reveals the API key")
			}
		})
	}
}

func TestBusinessFailurePassesThrough(t *testing.T) {
	srv := wxpaytest.Start(t, wxpaytest.Options{Balance: 150}) // PROCESSING spends 100
	tr := newFakeTransport(t, srv, nil)
	for _, code := range []string{"SYSTEMERROR", "FREQ_LIMIT", "PROCESSING"} {
		srv.Inject(wxpaytest.Fault{ErrCode: code})
		resp, err := call(t, tr, wxpaytest.PathSendMiniProgramHB, sendParams(srv.AppID, newBillno()))
		if err != nil {
			t.Fatalf("%s: %v", code, err)
		}
		doc, _ := transport.ReplyOf(resp)
		if doc.Fields["result_code"] != "FAIL" || doc.Fields["err_code"] != code {
			t.Errorf("reply %v", doc.Fields)
		}
	}
	resp, err := call(t, tr, wxpaytest.PathSendMiniProgramHB, sendParams(srv.AppID, newBillno()))
	if err != nil {
		t.Fatal(err)
	}
	if doc, _ := transport.ReplyOf(resp); doc.Fields["err_code"] != "NOTENOUGH" {
		t.Errorf("reply %v", doc.Fields)
	}
}

func TestTimeout(t *testing.T) {
	srv := wxpaytest.Start(t, wxpaytest.Options{})
	tr := newFakeTransport(t, srv, nil)
	srv.Inject(wxpaytest.Fault{Delay: 2 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	billno := newBillno()
	req, _ := transport.NewRequest(ctx, srv.URL+wxpaytest.PathSendMiniProgramHB, sendParams(srv.AppID, billno))
	_, err := tr.Client().Do(req)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v", err)
	}
	var te *transport.Error
	if errors.As(err, &te) {
		t.Errorf("timeout reported as %v", te)
	}
}

func TestTLSRefusals(t *testing.T) {
	srv := wxpaytest.Start(t, wxpaytest.Options{})
	params := sendParams(srv.AppID, newBillno())
	body, _ := xml.Marshal(params)

	t.Run("no client certificate", func(t *testing.T) {
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: srv.RootCAs()}}}
		defer c.CloseIdleConnections()
		resp, err := c.Post(srv.URL+wxpaytest.PathSendMiniProgramHB, "text/xml", bytes.NewReader(body))
		if err == nil {
			resp.Body.Close()
			t.Fatal("a client without a certificate was served")
		}
	})
	t.Run("client certificate from another CA", func(t *testing.T) {
		other := newCA(t, "another CA").client(t, srv.MchID)
		tr := newFakeTransport(t, srv, func(c *transport.Config) { c.CertPEM, c.KeyPEM = other.certPEM, other.keyPEM })
		_, err := call(t, tr, wxpaytest.PathSendMiniProgramHB, params)
		if err == nil {
			t.Fatal("a certificate from another CA was accepted")
		}
		var te *transport.Error
		if errors.As(err, &te) {
			t.Errorf("handshake failure reported as %v", te)
		}
	})
	t.Run("server certificate from an unknown CA", func(t *testing.T) {
		tr := newFakeTransport(t, srv, func(c *transport.Config) { c.RootCAs = nil })
		_, err := call(t, tr, wxpaytest.PathSendMiniProgramHB, params)
		var ve *tls.CertificateVerificationError
		if !errors.As(err, &ve) {
			t.Fatalf("error %v, want a certificate verification error", err)
		}
	})
	t.Run("RootCAPEM added to the system roots", func(t *testing.T) {
		tr := newFakeTransport(t, srv, func(c *transport.Config) { c.RootCAs, c.RootCAPEM = nil, srv.CACertPEM() })
		resp, err := call(t, tr, wxpaytest.PathSendMiniProgramHB, params)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	})
	if n := srv.Sends(params["mch_billno"]); n != 1 {
		t.Errorf("Sends %d, want 1 (only the trusted client)", n)
	}
}

func TestFakeCredentials(t *testing.T) {
	srv := wxpaytest.Start(t, wxpaytest.Options{})
	for _, legacy := range []bool{true, false} {
		t.Run(fmt.Sprintf("PKCS#12 legacy=%v", legacy), func(t *testing.T) {
			p12, err := srv.ClientPKCS12(srv.MchID, legacy)
			if err != nil {
				t.Fatal(err)
			}
			tr := newFakeTransport(t, srv, func(c *transport.Config) { c.CertPEM, c.KeyPEM, c.P12 = nil, nil, p12 })
			resp, err := call(t, tr, wxpaytest.PathSendMiniProgramHB, sendParams(srv.AppID, newBillno()))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		})
	}
	t.Run("tls.Certificate", func(t *testing.T) {
		c := srv.ClientCertificate()
		tr := newFakeTransport(t, srv, func(cfg *transport.Config) { cfg.CertPEM, cfg.KeyPEM, cfg.Certificate = nil, nil, &c })
		resp, err := call(t, tr, wxpaytest.PathSendMiniProgramHB, sendParams(srv.AppID, newBillno()))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	})
	t.Run("CN of another merchant", func(t *testing.T) {
		certPEM, keyPEM, err := srv.IssueClientCert("1230000109", time.Now().Add(365*24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		cfg := fakeConfig(srv)
		cfg.CertPEM, cfg.KeyPEM = certPEM, keyPEM
		_, err = transport.New(cfg)
		if !errors.Is(err, transport.ErrCertCN) || !strings.Contains(err.Error(), `"1230000109"`) || !strings.Contains(err.Error(), `"`+srv.MchID+`"`) {
			t.Fatalf("New: %v", err)
		}
	})
	t.Run("expired", func(t *testing.T) {
		certPEM, keyPEM, err := srv.IssueClientCert(srv.MchID, time.Now().Add(-time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		cfg := fakeConfig(srv)
		cfg.CertPEM, cfg.KeyPEM = certPEM, keyPEM
		if _, err = transport.New(cfg); !errors.Is(err, transport.ErrCertExpired) {
			t.Fatalf("New: %v", err)
		}
	})
	t.Run("expiring soon: warning, then works", func(t *testing.T) {
		certPEM, keyPEM, err := srv.IssueClientCert(srv.MchID, time.Now().Add(5*24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		rec := &logRecorder{}
		tr := newFakeTransport(t, srv, func(c *transport.Config) { c.CertPEM, c.KeyPEM, c.Logger = certPEM, keyPEM, slog.New(rec) })
		if len(rec.records) != 1 || rec.records[0].Level != slog.LevelWarn {
			t.Errorf("records %v", rec.records)
		}
		resp, err := call(t, tr, wxpaytest.PathSendMiniProgramHB, sendParams(srv.AppID, newBillno()))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	})
}

func TestConcurrentCalls(t *testing.T) {
	srv := wxpaytest.Start(t, wxpaytest.Options{})
	tr := newFakeTransport(t, srv, nil)
	client := tr.Client()
	const workers, each = 100, 5
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				billno := newBillno()
				req, _ := transport.NewRequest(context.Background(), srv.URL+wxpaytest.PathSendMiniProgramHB, sendParams(srv.AppID, billno))
				resp, err := client.Do(req)
				if err != nil {
					errs <- err
					continue
				}
				doc, ok := transport.ReplyOf(resp)
				resp.Body.Close()
				if !ok || doc.Fields["mch_billno"] != billno || doc.Fields["result_code"] != "SUCCESS" {
					errs <- fmt.Errorf("reply for %s: %v", billno, doc)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := len(srv.Requests()); n != workers*each {
		t.Errorf("%d requests", n)
	}
	// Up to MaxIdleConnsPerHost connections stay open between bursts;
	// the others are made again: far fewer handshakes than calls.
	h := srv.Handshakes()
	t.Logf("%d calls from %d goroutines, %d TLS handshakes", workers*each, workers, h)
	if h >= workers*each/2 {
		t.Errorf("%d handshakes for %d calls", h, workers*each)
	}
}

func TestKeepAlive(t *testing.T) {
	srv := wxpaytest.Start(t, wxpaytest.Options{})
	tr := newFakeTransport(t, srv, nil)
	client := tr.Client()
	n := 10000
	if testing.Short() {
		n = 500
	}
	url := srv.URL + wxpaytest.PathGetHBInfo
	params := map[string]string{"mch_billno": "none", "appid": srv.AppID, "bill_type": "MCHT"}
	for i := range n {
		req, _ := transport.NewRequest(context.Background(), url, params)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		resp.Body.Close()
	}
	h := srv.Handshakes()
	t.Logf("%d sequential calls, %d TLS handshakes", n, h)
	if h > 2 {
		t.Errorf("%d handshakes for %d sequential calls, want at most 2", h, n)
	}
}

func TestResty(t *testing.T) {
	srv := wxpaytest.Start(t, wxpaytest.Options{})
	tr := newFakeTransport(t, srv, nil)
	client := tr.Resty()
	type result struct {
		ReturnCode string `xml:"return_code"`
		ResultCode string `xml:"result_code"`
		MchBillno  string `xml:"mch_billno"`
		SendListID string `xml:"send_listid"`
	}
	xmlBody := func(billno string) string {
		b, _ := xml.Marshal(sendParams(srv.AppID, billno))
		return string(b)
	}
	for _, body := range []string{"map", "form", "xml"} {
		t.Run(body, func(t *testing.T) {
			billno := newBillno()
			var out result
			r := client.R().SetResult(&out)
			switch body {
			case "map":
				r.SetBody(sendParams(srv.AppID, billno))
			case "form":
				r.SetFormData(sendParams(srv.AppID, billno))
			case "xml":
				r.SetHeader("Content-Type", "text/xml").SetBody(xmlBody(billno))
			}
			resp, err := r.Post(wxpaytest.PathSendMiniProgramHB)
			if err != nil {
				t.Fatal(err)
			}
			doc, ok := transport.ReplyOf(resp.RawResponse)
			if !ok || out.ResultCode != "SUCCESS" || out.MchBillno != billno || out.SendListID != doc.Fields["send_listid"] {
				t.Errorf("result %+v, reply %v", out, doc)
			}
			if string(resp.Body()) == "" || resp.Header().Get("Content-Type") != "text/xml; charset=utf-8" {
				t.Errorf("body %q", resp.Body())
			}
		})
	}
	t.Run("error", func(t *testing.T) {
		srv.Inject(wxpaytest.Fault{ReturnFail: "系统繁忙", ErrCode: "SYSTEMERROR"})
		_, err := client.R().SetBody(sendParams(srv.AppID, newBillno())).Post(wxpaytest.PathSendMiniProgramHB)
		if te := asError(t, err); te.Kind != transport.KindReturnFail || !te.OutcomeUnknown() || te.ReturnMsg != "系统繁忙" {
			t.Errorf("error %v", te)
		}
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestWrappedBase(t *testing.T) {
	srv := wxpaytest.Start(t, wxpaytest.Options{})
	tr := newFakeTransport(t, srv, nil)
	inner := tr.Base
	if _, ok := inner.(*http.Transport); !ok || inner == http.DefaultTransport {
		t.Fatalf("Base is %T", inner)
	}
	var seen atomic.Int32
	tr.Base = roundTripFunc(func(r *http.Request) (*http.Response, error) {
		seen.Add(1)
		if r.Header.Get("Content-Type") != "text/xml; charset=utf-8" || r.GetBody == nil {
			t.Errorf("request handed to Base: %v", r.Header)
		}
		return inner.RoundTrip(r)
	})
	resp, err := call(t, tr, wxpaytest.PathSendMiniProgramHB, sendParams(srv.AppID, newBillno()))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if seen.Load() != 1 {
		t.Errorf("Base called %d times", seen.Load())
	}
}
