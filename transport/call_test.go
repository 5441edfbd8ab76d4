package transport_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
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

// noNetworkWrap fails t when err, a network error from Call, is a
// *transport.Error or wrapped in a *url.Error.
func noNetworkWrap(t *testing.T, err error) {
	t.Helper()
	var te *transport.Error
	if errors.As(err, &te) {
		t.Errorf("network failure reported as %v", te)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		t.Errorf("Call wrapped a network error in a *url.Error: %v", err)
	}
}

func TestCall(t *testing.T) {
	srv := wxpaytest.Start(t, wxpaytest.Options{})
	tr := newFakeTransport(t, srv, nil)
	ctx := context.Background()

	for _, form := range []string{"path", "absolute URL"} {
		t.Run(form, func(t *testing.T) {
			srv.Reset()
			billno := newBillno()
			params := sendParams(srv.AppID, billno)
			before := fmt.Sprint(params)
			url := wxpaytest.PathSendMiniProgramHB
			if form == "absolute URL" {
				url = srv.URL + url
			}
			doc, err := tr.Call(ctx, url, params)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(params) != before {
				t.Error("the caller's params were modified")
			}
			f := doc.Fields
			if f["return_code"] != "SUCCESS" || f["result_code"] != "SUCCESS" || f["mch_billno"] != billno ||
				f["send_listid"] == "" || !strings.Contains(f["package"], "sendid=") {
				t.Errorf("reply %v", f)
			}
			reqs := srv.Requests()
			if len(reqs) != 1 || reqs[0].Path != wxpaytest.PathSendMiniProgramHB {
				t.Fatalf("requests %v", reqs)
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
		})
	}

	t.Run("same params again: same bill number, fresh nonce and sign, one payout", func(t *testing.T) {
		srv.Reset()
		billno := newBillno()
		params := sendParams(srv.AppID, billno)
		for range 2 {
			if _, err := tr.Call(ctx, wxpaytest.PathSendMiniProgramHB, params); err != nil {
				t.Fatal(err)
			}
		}
		reqs := srv.Requests()
		if len(reqs) != 2 || reqs[0].Params["nonce_str"] == reqs[1].Params["nonce_str"] || reqs[0].Params["sign"] == reqs[1].Params["sign"] {
			t.Errorf("requests %v", reqs)
		}
		if ps := srv.PacketsOf(params["re_openid"]); countBillno(ps, billno) != 1 {
			t.Errorf("%d packets under %s", countBillno(ps, billno), billno)
		}
	})

	t.Run("gethbinfo lists", func(t *testing.T) {
		billno := newBillno()
		if _, err := tr.Call(ctx, wxpaytest.PathSendMiniProgramHB, sendParams(srv.AppID, billno)); err != nil {
			t.Fatal(err)
		}
		if err := srv.MarkReceived(billno); err != nil {
			t.Fatal(err)
		}
		doc, err := tr.Call(ctx, wxpaytest.PathGetHBInfo, map[string]string{"mch_billno": billno, "appid": srv.AppID, "bill_type": "MCHT"})
		if err != nil {
			t.Fatal(err)
		}
		if doc.Fields["status"] != wxpaytest.StatusReceived || len(doc.Lists["hblist"]) != 1 || doc.Lists["hblist"][0]["openid"] == "" {
			t.Errorf("reply %v %v", doc.Fields, doc.Lists)
		}
	})

	t.Run("HMAC-SHA256 call, signed reply verified", func(t *testing.T) {
		srv.Reset()
		s, _ := signer.New(srv.APIKey)
		p := orderQueryParams(srv.AppID)
		p["sign_type"] = "HMAC-SHA256"
		doc, err := tr.Call(ctx, wxpaytest.PathOrderQuery, p)
		if err != nil {
			t.Fatal(err)
		}
		if sent := srv.Requests()[0].Params; sent["sign"] != s.SignWith(signer.HMACSHA256, sent) {
			t.Errorf("sent sign %q", sent["sign"])
		}
		if len(doc.Fields["sign"]) != 64 || s.Verify(doc.Fields) != nil || doc.Fields["trade_state"] != "SUCCESS" {
			t.Errorf("reply %v", doc.Fields)
		}
	})

	t.Run("result_code FAIL is a reply, not an error", func(t *testing.T) {
		for _, code := range []string{"SYSTEMERROR", "FREQ_LIMIT", "NOTENOUGH"} {
			srv.Inject(wxpaytest.Fault{ErrCode: code})
			doc, err := tr.Call(ctx, wxpaytest.PathSendMiniProgramHB, sendParams(srv.AppID, newBillno()))
			if err != nil {
				t.Fatalf("%s: %v", code, err)
			}
			if doc.Fields["return_code"] != "SUCCESS" || doc.Fields["result_code"] != "FAIL" || doc.Fields["err_code"] != code {
				t.Errorf("reply %v", doc.Fields)
			}
		}
	})

	t.Run("sequential calls share one connection", func(t *testing.T) {
		before := srv.Handshakes()
		for range 200 {
			if _, err := tr.Call(ctx, wxpaytest.PathGetHBInfo, map[string]string{"mch_billno": "none", "appid": srv.AppID, "bill_type": "MCHT"}); err != nil {
				t.Fatal(err)
			}
		}
		if h := srv.Handshakes() - before; h > 1 {
			t.Errorf("%d TLS handshakes for 200 sequential calls on a warm transport", h)
		}
	})
}

func countBillno(ps []wxpaytest.Packet, billno string) int {
	n := 0
	for _, p := range ps {
		if p.Billno == billno {
			n++
		}
	}
	return n
}

// TestCallClientCertificate: Call presents the merchant certificate to a
// server that demands one from its CA, and nothing reaches a server that
// refuses it or that the transport does not trust.
func TestCallClientCertificate(t *testing.T) {
	ca := newCA(t, "test CA")
	var hits atomic.Int32
	var peer atomic.Value
	rp := newReplier(t, map[string]string{"k": "v"}, false)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		peer.Store(r.TLS.PeerCertificates[0].SerialNumber.String())
		rp.ServeHTTP(w, r)
	})
	srv := newTLSServer(t, ca, ca, h)
	ctx := context.Background()

	t.Run("certificate of the demanded CA", func(t *testing.T) {
		cl := ca.client(t, testMchID)
		tr := newTestTransport(t, ca, srv, func(c *transport.Config) { c.CertPEM, c.KeyPEM = cl.certPEM, cl.keyPEM })
		doc, err := tr.Call(ctx, hbPath, map[string]string{"a": "1"})
		if err != nil {
			t.Fatal(err)
		}
		if doc.Fields["k"] != "v" {
			t.Errorf("reply %v", doc.Fields)
		}
		if got := peer.Load(); got != cl.cert.SerialNumber.String() {
			t.Errorf("the server saw certificate %v, want %v", got, cl.cert.SerialNumber)
		}
		if sent := rp.last(); sent["a"] != "1" || sent["mch_id"] != testMchID || signerOf(t).Verify(sent) != nil {
			t.Errorf("sent %v", sent)
		}
	})
	t.Run("certificate of another CA", func(t *testing.T) {
		hits.Store(0)
		other := newCA(t, "another CA")
		tr := newTestTransport(t, other, srv, func(c *transport.Config) { c.RootCAPEM = ca.pem })
		doc, err := tr.Call(ctx, hbPath, map[string]string{"a": "1"})
		if err == nil || doc != nil {
			t.Fatalf("a certificate of another CA was accepted: %v", doc)
		}
		noNetworkWrap(t, err)
		if hits.Load() != 0 {
			t.Error("the handler was reached")
		}
	})
	t.Run("server not trusted", func(t *testing.T) {
		hits.Store(0)
		tr := newTestTransport(t, ca, srv, func(c *transport.Config) { c.RootCAPEM = nil; c.RootCAs = newCA(t, "other roots").pool })
		_, err := tr.Call(ctx, hbPath, map[string]string{"a": "1"})
		var ve *tls.CertificateVerificationError
		if !errors.As(err, &ve) {
			t.Fatalf("error %v, want a certificate verification error", err)
		}
		noNetworkWrap(t, err)
		if hits.Load() != 0 {
			t.Error("the handler was reached")
		}
	})
}

func signerOf(t testing.TB) *signer.Signer {
	s, err := signer.New(testAPIKey)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestCallRefused: a call Call will not send is a KindRequest error, and
// nothing reaches the server.
func TestCallRefused(t *testing.T) {
	ca := newCA(t, "test CA")
	var hits atomic.Int32
	rp := newReplier(t, nil, false)
	srv := newTLSServer(t, ca, ca, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		rp.ServeHTTP(w, r)
	}))
	tr := newTestTransport(t, ca, srv, nil)
	plainURL := "http" + strings.TrimPrefix(srv.URL, "https")
	tests := []struct {
		name   string
		tr     *transport.Transport
		url    string
		params map[string]string
		is     error
		nilCtx bool
	}{
		{name: "plain http", url: plainURL + hbPath},
		{name: "relative without a slash", url: strings.TrimPrefix(hbPath, "/")},
		{name: "no host", url: "https:///mmpaymkttransfers/sendminiprogramhb"},
		{name: "unparsable URL", url: "https://[::1" + hbPath},
		{name: "nil context", url: hbPath, nilCtx: true},
		{name: "mch_id of another merchant", url: hbPath, params: map[string]string{"mch_id": "1230000109"}},
		{name: "mchid of another merchant", url: hbPath, params: map[string]string{"mchid": "1230000109"}},
		{name: "unknown sign_type", url: hbPath, params: map[string]string{"sign_type": "SHA1"}, is: signer.ErrUnknownSignType},
		{name: "Transport not from New", url: srv.URL + hbPath, tr: &transport.Transport{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hits.Store(0)
			use, ctx, params := tr, context.Background(), map[string]string{"a": "1"}
			if tt.tr != nil {
				use = tt.tr
			}
			if tt.nilCtx {
				ctx = nil
			}
			if tt.params != nil {
				params = tt.params
			}
			doc, err := use.Call(ctx, tt.url, params)
			if doc != nil {
				t.Errorf("a document with an error: %v", doc.Fields)
			}
			te := asError(t, err)
			if te.Kind != transport.KindRequest || te.OutcomeUnknown() {
				t.Errorf("kind %v unknown %v: %v", te.Kind, te.OutcomeUnknown(), te)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v is not %v", err, tt.is)
			}
			if hits.Load() != 0 {
				t.Error("a refused call reached the server")
			}
		})
	}
}

// TestCallFaults: Call meets the platform's failures with the errors
// RoundTrip gives (TestFaults), without the *url.Error around them, and
// with no document.
func TestCallFaults(t *testing.T) {
	srv := wxpaytest.Start(t, wxpaytest.Options{})
	tr := newFakeTransport(t, srv, nil)
	ctx := context.Background()
	for _, tt := range faults {
		t.Run(tt.name, func(t *testing.T) {
			// A warm connection first: a drop on a reused connection must
			// not be retried silently either.
			if _, err := tr.Call(ctx, wxpaytest.PathGetHBInfo, map[string]string{"mch_billno": "warm", "appid": srv.AppID, "bill_type": "MCHT"}); err != nil {
				t.Fatal(err)
			}
			srv.Reset()
			srv.Inject(tt.fault)
			billno := newBillno()
			doc, err := tr.Call(ctx, wxpaytest.PathSendMiniProgramHB, sendParams(srv.AppID, billno))
			if err == nil || doc != nil {
				t.Fatalf("error %v, document %v", err, doc)
			}
			if tt.want.kind == 0 {
				noNetworkWrap(t, err)
				wantSends := 0
				if tt.fault.DropAfter {
					wantSends = 1
				}
				if n := srv.Sends(billno); n != wantSends {
					t.Errorf("Sends %d, want %d (no silent retry)", n, wantSends)
				}
				return
			}
			var ue *url.Error
			if errors.As(err, &ue) {
				t.Errorf("error wrapped in a *url.Error: %v", err)
			}
			te := asError(t, err)
			if te.Kind != tt.want.kind || te.OutcomeUnknown() != tt.want.unknown || te.ErrCode != tt.want.errCode || te.StatusCode != tt.want.status {
				t.Errorf("got kind %v unknown %v err_code %q status %d: %v", te.Kind, te.OutcomeUnknown(), te.ErrCode, te.StatusCode, te)
			}
			if te.Path != wxpaytest.PathSendMiniProgramHB {
				t.Errorf("Path %q", te.Path)
			}
			if strings.Contains(te.Error(), srv.APIKey) {
				t.Error("error reveals the API key")
			}
		})
	}
}

// TestCallOddReplies: the size limits, the decoder's refusals and the sign
// rules apply to Call as to RoundTrip (TestOddReplies).
func TestCallOddReplies(t *testing.T) {
	ca := newCA(t, "test CA")
	for _, tt := range oddReplies(t) {
		t.Run(tt.name, func(t *testing.T) {
			srv := newTLSServer(t, ca, ca, http.HandlerFunc(tt.handler))
			tr := newTestTransport(t, ca, srv, func(c *transport.Config) {
				c.MaxReplyBytes = 1024
				c.UnsignedReply = tt.unsigned
			})
			doc, err := tr.Call(context.Background(), tt.path, map[string]string{"a": "1"})
			if tt.kind == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if doc.Fields["result_code"] != "SUCCESS" {
					t.Errorf("reply %v", doc.Fields)
				}
				return
			}
			if doc != nil {
				t.Errorf("a document with an error: %v", doc.Fields)
			}
			tt.wantError(t, err)
		})
	}
}

// forgingServer answers every call with fields signed by key, which is not
// the merchant's, or with a sign made by the merchant's key over other
// values (tamper), on the test CA's TLS server.
func forgingServer(t *testing.T, ca *testCA, key string, tamper bool) *tlsServer {
	s, err := signer.New(key)
	if err != nil {
		t.Fatal(err)
	}
	return newTLSServer(t, ca, ca, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f := map[string]string{"return_code": "SUCCESS", "result_code": "SUCCESS", "nonce_str": "n1",
			"mch_billno": "1900000109202401010000000001", "total_amount": "100"}
		f["sign"], _ = s.Sign(f)
		if tamper {
			f["total_amount"] = "10000"
		}
		b, _ := xml.Marshal(f)
		w.Write(b)
	}))
}

// forgedReplies runs check as a subtest for each forged reply, signed with
// another key or altered after it was signed, on an endpoint that signs
// its replies and on a red-packet endpoint, whose replies are verified
// when they carry a sign: check calls path on srv through tr.
func forgedReplies(t *testing.T, check func(t *testing.T, srv *tlsServer, tr *transport.Transport, path string)) {
	ca := newCA(t, "test CA")
	for _, forge := range []struct {
		name   string
		key    string
		tamper bool
	}{
		{"another key", "ffffffffffffffffffffffffffffffff", false},
		{"altered after signing", testAPIKey, true},
	} {
		srv := forgingServer(t, ca, forge.key, forge.tamper)
		tr := newTestTransport(t, ca, srv, nil)
		for _, path := range []string{"/pay/orderquery", hbPath} {
			t.Run(forge.name+" "+path, func(t *testing.T) { check(t, srv, tr, path) })
		}
	}
}

// TestCallForgedSign: a forged reply is KindSign and no document.
func TestCallForgedSign(t *testing.T) {
	forgedReplies(t, func(t *testing.T, _ *tlsServer, tr *transport.Transport, path string) {
		doc, err := tr.Call(context.Background(), path, map[string]string{"a": "1"})
		if doc != nil {
			t.Fatalf("a forged reply was handed back: %v", doc.Fields)
		}
		te := asError(t, err)
		if te.Kind != transport.KindSign || !errors.Is(err, signer.ErrSignMismatch) || !te.OutcomeUnknown() {
			t.Errorf("kind %v unknown %v: %v", te.Kind, te.OutcomeUnknown(), err)
		}
	})
}

func TestCallTimeout(t *testing.T) {
	srv := wxpaytest.Start(t, wxpaytest.Options{})
	tr := newFakeTransport(t, srv, nil)
	srv.Inject(wxpaytest.Fault{Delay: 2 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	doc, err := tr.Call(ctx, wxpaytest.PathSendMiniProgramHB, sendParams(srv.AppID, newBillno()))
	if doc != nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, document %v", err, doc)
	}
	noNetworkWrap(t, err)
}

// TestCallThroughBase: Call sends through Base, with the caller's context,
// so a wrapper (tracing, the Client's attempt hooks) sees every call.
func TestCallThroughBase(t *testing.T) {
	srv := wxpaytest.Start(t, wxpaytest.Options{})
	tr := newFakeTransport(t, srv, nil)
	s, err := signer.New(srv.APIKey)
	if err != nil {
		t.Fatal(err)
	}
	inner := tr.Base
	type key struct{}
	var seen atomic.Int32
	tr.Base = roundTripFunc(func(r *http.Request) (*http.Response, error) {
		seen.Add(1)
		if r.Context().Value(key{}) != "mark" {
			t.Error("the caller's context did not reach Base")
		}
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "text/xml; charset=utf-8" || r.GetBody == nil || r.ContentLength <= 0 {
			t.Errorf("request handed to Base: %s %v %d", r.Method, r.Header, r.ContentLength)
		}
		body, _ := r.GetBody()
		data, _ := io.ReadAll(body)
		if doc, err := xml.Unmarshal(data); err != nil || s.Verify(doc.Fields) != nil {
			t.Errorf("body %q: %v", data, err)
		}
		return inner.RoundTrip(r)
	})
	ctx := context.WithValue(context.Background(), key{}, "mark")
	if _, err := tr.Call(ctx, wxpaytest.PathSendMiniProgramHB, sendParams(srv.AppID, newBillno())); err != nil {
		t.Fatal(err)
	}
	if seen.Load() != 1 {
		t.Errorf("Base called %d times", seen.Load())
	}
}

// TestCallConcurrentAndReload: calls from many goroutines, with a
// certificate Reload among them, all succeed, each with its own reply,
// and every call after Reload presents the new certificate.
func TestCallConcurrentAndReload(t *testing.T) {
	ca := newCA(t, "test CA")
	first, second := ca.client(t, testMchID), ca.client(t, testMchID)
	rp := newReplier(t, nil, false)
	var mu sync.Mutex
	serialOf := map[string]string{} // phase+n -> certificate serial
	srv := newTLSServer(t, ca, ca, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, _ := io.ReadAll(r.Body)
		doc, _ := xml.Unmarshal(data)
		mu.Lock()
		serialOf[doc.Fields["n"]] = r.TLS.PeerCertificates[0].SerialNumber.String()
		mu.Unlock()
		r.Body = io.NopCloser(strings.NewReader(string(data)))
		rp.ServeHTTP(w, r)
	}))
	dir := t.TempDir()
	tr := newTestTransport(t, ca, srv, func(c *transport.Config) {
		c.CertPEM, c.KeyPEM = nil, nil
		c.CertFile = writeFile(t, dir, "cert.pem", first.certPEM)
		c.KeyFile = writeFile(t, dir, "key.pem", first.keyPEM)
	})
	run := func(phase string) {
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 10 {
					n := fmt.Sprintf("%s-%d-%d", phase, g, i)
					if _, err := tr.Call(context.Background(), hbPath, map[string]string{"n": n}); err != nil {
						t.Errorf("call %s: %v", n, err)
					}
				}
			}()
		}
		wg.Wait()
	}
	run("before")
	writeFile(t, dir, "cert.pem", second.certPEM)
	writeFile(t, dir, "key.pem", second.keyPEM)
	if err := tr.Reload(); err != nil {
		t.Fatal(err)
	}
	run("after")
	mu.Lock()
	defer mu.Unlock()
	if len(serialOf) != 160 {
		t.Errorf("%d distinct calls reached the server, want 160", len(serialOf))
	}
	for n, serial := range serialOf {
		want := first.cert.SerialNumber.String()
		if strings.HasPrefix(n, "after") {
			want = second.cert.SerialNumber.String()
		}
		if serial != want {
			t.Errorf("call %s presented certificate %s, want %s", n, serial, want)
		}
	}
}
