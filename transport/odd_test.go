package transport_test

import (
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hongbao-go/hongbao/signer"
	"github.com/hongbao-go/hongbao/transport"
	"github.com/hongbao-go/hongbao/xml"
)

const hbPath = "/mmpaymkttransfers/sendminiprogramhb"

func TestCallerRequestUntouched(t *testing.T) {
	ca := newCA(t, "test CA")
	rp := newReplier(t, nil, false)
	var gotLen, gotHeaderLen string
	srv := newTLSServer(t, ca, ca, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotLen, gotHeaderLen = strconv.FormatInt(r.ContentLength, 10), r.Header.Get("X-Caller")
		rp.ServeHTTP(w, r)
	}))
	tr := newTestTransport(t, ca, srv, nil)

	form := url.Values{"re_openid": {"o1"}, "total_amount": {"100"}}.Encode()
	body := newCountingBody(form)
	req, _ := http.NewRequest(http.MethodPost, srv.URL+hbPath, body)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept-Encoding", "identity")
	req.Header.Set("X-Caller", "kept")
	req.ContentLength = int64(len(form))
	snapshot := *req
	header := req.Header.Clone()
	u := *req.URL

	resp, err := tr.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !reflect.DeepEqual(req.Header, header) {
		t.Errorf("header changed: %v", req.Header)
	}
	if *req.URL != u || req.Body != snapshot.Body || req.ContentLength != snapshot.ContentLength ||
		req.GetBody != nil || req.Method != http.MethodPost || req.Context() != snapshot.Context() {
		t.Error("request changed")
	}
	if n := body.closes.Load(); n != 1 {
		t.Errorf("body closed %d times", n)
	}
	if rp.ct[0] != "text/xml; charset=utf-8" || gotHeaderLen != "kept" {
		t.Errorf("sent Content-Type %q, X-Caller %q", rp.ct[0], gotHeaderLen)
	}
	if sent := rp.last(); sent["re_openid"] != "o1" || gotLen == "-1" || gotLen == "0" {
		t.Errorf("sent %v with length %s", sent, gotLen)
	}
	// The reply is bound to the request sent, not to the caller's.
	if resp.Request == req {
		t.Error("resp.Request is the caller's request")
	}
}

func TestBodyClosedOnceOnEveryPath(t *testing.T) {
	ca := newCA(t, "test CA")
	var hits atomic.Int32
	rp := newReplier(t, nil, false)
	srv := newTLSServer(t, ca, ca, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path == "/status" {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	tr := newTestTransport(t, ca, srv, nil)
	// The same handler without TLS: a signed call must never go there.
	plain := httptest.NewServer(srv.Config.Handler)
	defer plain.Close()
	closed := newTLSServer(t, ca, ca, http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()

	tests := []struct {
		name, method, url, ct, body string
		ctxParams                   bool
		rt                          http.RoundTripper
		kind                        transport.ErrorKind // 0 with ok: success; 0 without: network error
		ok                          bool
		reached                     bool
	}{
		{name: "success", url: srv.URL + hbPath, ct: "application/json", body: `{"a":"1"}`, ok: true, reached: true},
		{name: "params both ways", url: srv.URL + hbPath, body: `{"a":"1"}`, ctxParams: true, kind: transport.KindRequest},
		{name: "JSON array", url: srv.URL + hbPath, ct: "application/json", body: `[1,2]`, kind: transport.KindRequest},
		{name: "JSON field twice", url: srv.URL + hbPath, ct: "application/json", body: `{"a":"1","a":"2"}`, kind: transport.KindRequest},
		{name: "JSON field twice, once null", url: srv.URL + hbPath, ct: "application/json", body: `{"a":"1","a":null}`, kind: transport.KindRequest},
		{name: "JSON null", url: srv.URL + hbPath, ct: "application/json", body: `null`, kind: transport.KindRequest},
		{name: "JSON after the object", url: srv.URL + hbPath, ct: "application/json", body: `{"a":"1"} {"a":"2"}`, kind: transport.KindRequest},
		{name: "JSON unclosed", url: srv.URL + hbPath, ct: "application/json", body: `{"a":"1"`, kind: transport.KindRequest},
		{name: "JSON nested object", url: srv.URL + hbPath, ct: "application/json", body: `{"a":{"b":1}}`, kind: transport.KindRequest},
		{name: "JSON bad name", url: srv.URL + hbPath, ct: "application/json", body: `{"bad name":"1"}`, kind: transport.KindRequest},
		{name: "form field twice", url: srv.URL + hbPath, ct: "application/x-www-form-urlencoded", body: "a=1&a=2", kind: transport.KindRequest},
		{name: "XML with a list", url: srv.URL + hbPath, ct: "text/xml", body: "<xml><l><i><a>1</a></i></l></xml>", kind: transport.KindRequest},
		{name: "unsupported Content-Type", url: srv.URL + hbPath, ct: "image/png", body: "\x89PNG", kind: transport.KindRequest},
		{name: "mch_id of another merchant", url: srv.URL + hbPath, ct: "application/x-www-form-urlencoded", body: "mch_id=1", kind: transport.KindRequest},
		{name: "GET", method: http.MethodGet, url: srv.URL + hbPath, body: "a=1", kind: transport.KindRequest},
		{name: "plain http", url: plain.URL + hbPath, body: "a=1", kind: transport.KindRequest},
		{name: "Transport not from New", url: srv.URL + hbPath, body: "a=1", rt: &transport.Transport{}, kind: transport.KindRequest},
		{name: "HTTP 503", url: srv.URL + "/status", body: "a=1", kind: transport.KindStatus, reached: true},
		{name: "connection refused", url: closedURL + hbPath, body: "a=1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hits.Store(0)
			body := newCountingBody(tt.body)
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			ctx := context.Background()
			if tt.ctxParams {
				r, _ := transport.NewRequest(ctx, tt.url, map[string]string{"a": "1"})
				ctx = r.Context()
			}
			req, _ := http.NewRequestWithContext(ctx, method, tt.url, body)
			if tt.ct != "" {
				req.Header.Set("Content-Type", tt.ct)
			}
			var rt http.RoundTripper = tr
			if tt.rt != nil {
				rt = tt.rt
			}
			resp, err := (&http.Client{Transport: rt}).Do(req)
			if n := body.closes.Load(); n != 1 {
				t.Errorf("body closed %d times", n)
			}
			if got := hits.Load() > 0; got != tt.reached {
				t.Errorf("reached the server: %v", got)
			}
			switch {
			case tt.ok:
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
			case tt.kind == 0:
				var te *transport.Error
				if err == nil || errors.As(err, &te) {
					t.Fatalf("error %v, want a network error", err)
				}
			default:
				te := asError(t, err)
				if te.Kind != tt.kind {
					t.Errorf("kind %v: %v", te.Kind, te)
				}
				if tt.kind == transport.KindRequest && te.OutcomeUnknown() {
					t.Error("a call not sent is outcome unknown")
				}
			}
		})
	}
}

// oddReply is a reply that is not a plain success, and what a call
// meets it with. The servers of TestOddReplies and TestCallOddReplies
// serve handler with MaxReplyBytes 1024.
type oddReply struct {
	name     string
	path     string
	handler  func(w http.ResponseWriter, r *http.Request)
	kind     transport.ErrorKind // 0: success
	unknown  bool
	is       error
	snippet  string
	check    func(t *testing.T, resp *http.Response) // RoundTrip's response, on success
	unsigned func(string) bool
}

// oddReplies lists the odd replies both ways of calling must meet alike.
func oddReplies(t testing.TB) []oddReply {
	s, err := signer.New(testAPIKey)
	if err != nil {
		t.Fatal(err)
	}
	signed := func(f map[string]string) []byte {
		f["sign"], _ = s.Sign(f)
		b, _ := xml.Marshal(f)
		return b
	}
	big := "<xml><return_code>SUCCESS</return_code><pad>" + strings.Repeat("x", 2000) + "</pad></xml>"
	return []oddReply{
		{name: "too large, Content-Length", path: hbPath, kind: transport.KindTooLarge, unknown: true,
			handler: func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, big) }},
		{name: "too large, chunked", path: hbPath, kind: transport.KindTooLarge, unknown: true,
			handler: func(w http.ResponseWriter, r *http.Request) {
				for range 4 {
					io.WriteString(w, big[:600])
					w.(http.Flusher).Flush()
				}
			}},
		{name: "no return_code", path: hbPath, kind: transport.KindNotXML, unknown: true, snippet: "<xml><a>1</a></xml>",
			handler: func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "<xml><a>1</a></xml>") }},
		{name: "empty body", path: hbPath, kind: transport.KindNotXML, unknown: true, is: xml.ErrNotXML,
			handler: func(w http.ResponseWriter, r *http.Request) {}},
		{name: "JSON body", path: hbPath, kind: transport.KindNotXML, unknown: true, is: xml.ErrNotXML, snippet: `{"errcode":1}`,
			handler: func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"errcode":1}`) }},
		{name: "DOCTYPE refused", path: hbPath, kind: transport.KindNotXML, unknown: true, is: xml.ErrDoctype,
			handler: func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, `<!DOCTYPE xml [<!ENTITY a "b">]><xml><return_code>SUCCESS</return_code></xml>`)
			}},
		{name: "connection cut inside the body", path: hbPath, kind: transport.KindNotXML, unknown: true,
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "500")
				io.WriteString(w, "<xml><return_code>SUCC")
				w.(http.Flusher).Flush()
				conn, _, _ := w.(http.Hijacker).Hijack()
				conn.Close()
			}},
		{name: "status with a long, dirty body", path: hbPath, kind: transport.KindStatus, unknown: true,
			snippet: "<html> <b>bad\x00gateway</b>", // sanitised below
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusBadGateway)
				io.WriteString(w, "  <html>\r\n\t<b>bad\x00gateway</b>"+strings.Repeat("é", 200))
			}},
		{name: "FAIL unsigned on a signed endpoint", path: "/pay/orderquery", kind: transport.KindReturnFail,
			handler: func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "<xml><return_code><![CDATA[FAIL]]></return_code><return_msg><![CDATA[签名错误]]></return_msg></xml>")
			}},
		{name: "signed endpoint, sign good", path: "/pay/orderquery",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Write(signed(map[string]string{"return_code": "SUCCESS", "result_code": "SUCCESS", "nonce_str": "n"}))
			}},
		{name: "signed endpoint, sign missing", path: "/pay/orderquery", kind: transport.KindSign, unknown: true, is: signer.ErrNoSign,
			handler: func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "<xml><return_code>SUCCESS</return_code><result_code>SUCCESS</result_code></xml>")
			}},
		{name: "signed endpoint, sign malformed", path: "/pay/orderquery", kind: transport.KindSign, unknown: true, is: signer.ErrMalformedSign,
			handler: func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "<xml><return_code>SUCCESS</return_code><sign>XYZ</sign></xml>")
			}},
		{name: "UnsignedReply false everywhere", path: hbPath, kind: transport.KindSign, is: signer.ErrNoSign, unknown: true,
			unsigned: func(string) bool { return false },
			handler: func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "<xml><return_code>SUCCESS</return_code></xml>")
			}},
		{name: "gzip reply", path: hbPath,
			handler: func(w http.ResponseWriter, r *http.Request) {
				if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
					http.Error(w, "want gzip", 400)
					return
				}
				w.Header().Set("Content-Encoding", "gzip")
				zw := gzip.NewWriter(w)
				io.WriteString(zw, "<xml><return_code>SUCCESS</return_code><result_code>SUCCESS</result_code></xml>")
				zw.Close()
			},
			check: func(t *testing.T, resp *http.Response) {
				if resp.Header.Get("Content-Encoding") != "" || resp.Uncompressed {
					t.Errorf("Content-Encoding %q", resp.Header.Get("Content-Encoding"))
				}
			}},
	}
}

func TestOddReplies(t *testing.T) {
	ca := newCA(t, "test CA")
	tests := oddReplies(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newTLSServer(t, ca, ca, http.HandlerFunc(tt.handler))
			tr := newTestTransport(t, ca, srv, func(c *transport.Config) {
				c.MaxReplyBytes = 1024
				c.UnsignedReply = tt.unsigned
			})
			req, _ := transport.NewRequest(context.Background(), srv.URL+tt.path, map[string]string{"a": "1"})
			resp, err := tr.Client().Do(req)
			if tt.kind == 0 {
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				if doc, ok := transport.ReplyOf(resp); !ok || doc.Fields["result_code"] != "SUCCESS" {
					t.Errorf("reply %v", doc)
				}
				if tt.check != nil {
					tt.check(t, resp)
				}
				return
			}
			tt.wantError(t, err)
		})
	}
}

// wantError checks that err is the *transport.Error the reply calls for.
func (tt *oddReply) wantError(t *testing.T, err error) {
	t.Helper()
	te := asError(t, err)
	if te.Kind != tt.kind || te.OutcomeUnknown() != tt.unknown {
		t.Errorf("kind %v unknown %v: %v", te.Kind, te.OutcomeUnknown(), te)
	}
	if tt.is != nil && !errors.Is(err, tt.is) {
		t.Errorf("error %v is not %v", err, tt.is)
	}
	if tt.snippet != "" {
		want := strings.ReplaceAll(tt.snippet, "\x00", ".")
		if !strings.HasPrefix(te.Snippet, want) {
			t.Errorf("snippet %q, want prefix %q", te.Snippet, want)
		}
	}
	if len(te.Snippet) > 96*2+3 || strings.ContainsAny(te.Snippet, "\x00\r\n\t") {
		t.Errorf("unsafe snippet %q", te.Snippet)
	}
}

func TestReplyOf(t *testing.T) {
	ca := newCA(t, "test CA")
	srv := newTLSServer(t, ca, ca, newReplier(t, map[string]string{"k": "v"}, false))
	tr := newTestTransport(t, ca, srv, nil)
	if _, ok := transport.ReplyOf(nil); ok {
		t.Error("ReplyOf(nil)")
	}
	if _, ok := transport.ReplyOf(&http.Response{Body: http.NoBody}); ok {
		t.Error("ReplyOf of a foreign response")
	}
	for _, client := range []*http.Client{{Transport: tr}, tr.Client() /* wraps the body for its Timeout */} {
		req, _ := transport.NewRequest(context.Background(), srv.URL+hbPath, map[string]string{"a": "1"})
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		first, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		doc, ok := transport.ReplyOf(resp)
		if !ok || doc.Fields["k"] != "v" {
			t.Fatalf("ReplyOf %v %v", doc, ok)
		}
		if sk, ok := resp.Body.(io.Seeker); ok {
			sk.Seek(0, io.SeekStart)
			again, _ := io.ReadAll(resp.Body)
			if string(again) != string(first) {
				t.Error("body not re-readable")
			}
		}
	}
}

// TestReloadUnderLoad rotates the certificate while calls run, some of them
// holding their connection through the Reload, and checks on the server
// that every call started after Reload returned presented the new
// certificate, with no call failing.
func TestReloadUnderLoad(t *testing.T) {
	ca := newCA(t, "test CA")
	first, second := ca.client(t, testMchID), ca.client(t, testMchID)
	rp := newReplier(t, nil, false)
	var mu sync.Mutex
	bySerial := map[string]map[string]int{} // phase -> serial -> calls
	srv := newTLSServer(t, ca, ca, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, _ := io.ReadAll(r.Body)
		doc, _ := xml.Unmarshal(data)
		phase := doc.Fields["phase"]
		if phase == "slow" {
			time.Sleep(300 * time.Millisecond)
		}
		serial := r.TLS.PeerCertificates[0].SerialNumber.String()
		mu.Lock()
		if bySerial[phase] == nil {
			bySerial[phase] = map[string]int{}
		}
		bySerial[phase][serial]++
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
	client := tr.Client()
	do := func(phase string) error {
		req, _ := transport.NewRequest(context.Background(), srv.URL+hbPath, map[string]string{"phase": phase})
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		return resp.Body.Close()
	}

	// Warm connections with the first certificate.
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for range 4 {
		wg.Add(1)
		go func() { defer wg.Done(); errs <- do("warm") }()
	}
	wg.Wait()
	// Four slow calls hold their connections through the Reload, while
	// others keep calling before, during and after it, so that the slow
	// calls' connections go back to the pool after the Reload.
	var reloaded atomic.Bool
	phase := func() string {
		if reloaded.Load() {
			return "after"
		}
		return "during"
	}
	for range 4 {
		wg.Add(1)
		go func() { defer wg.Done(); errs <- do("slow") }()
	}
	stop := make(chan struct{})
	var busy sync.WaitGroup
	for range 2 {
		busy.Add(1)
		go func() {
			defer busy.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := do(phase()); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	time.Sleep(100 * time.Millisecond)
	writeFile(t, dir, "cert.pem", second.certPEM)
	writeFile(t, dir, "key.pem", second.keyPEM)
	if err := tr.Reload(); err != nil {
		t.Fatal(err)
	}
	reloaded.Store(true)
	wg.Wait() // the slow calls are over: their connections are idle now
	time.Sleep(50 * time.Millisecond)
	close(stop)
	busy.Wait()
	// Every call from now on must present the new certificate too, on
	// fresh or on retired-and-redialed connections, and none may fail.
	for range 20 {
		wg.Add(1)
		go func() { defer wg.Done(); errs <- do("after") }()
	}
	wg.Wait()
	for range 20 {
		if err := do("after"); err != nil {
			t.Fatal(err)
		}
	}
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	newSerial := second.cert.SerialNumber.String()
	if len(bySerial["after"]) != 1 || bySerial["after"][newSerial] < 40 {
		t.Errorf("calls after Reload by certificate serial: %v, want all on %s", bySerial["after"], newSerial)
	}
	if bySerial["slow"][first.cert.SerialNumber.String()] != 4 {
		t.Errorf("slow calls %v", bySerial["slow"])
	}
	t.Logf("calls by phase and serial: %v (old %s, new %s)", bySerial, first.cert.SerialNumber, newSerial)
}

func TestTransfersMchid(t *testing.T) {
	ca := newCA(t, "test CA")
	rp := newReplier(t, nil, false)
	srv := newTLSServer(t, ca, ca, rp)
	tr := newTestTransport(t, ca, srv, nil)
	const path = "/mmpaymkttransfers/promotion/transfers"
	req, _ := transport.NewRequest(context.Background(), srv.URL+path, map[string]string{"mchid": testMchID, "mch_appid": "wx1"})
	resp, err := tr.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if sent := rp.last(); sent["mchid"] != testMchID || sent["mch_id"] != "" {
		t.Errorf("sent %v: mch_id added beside mchid", sent)
	}
	req, _ = transport.NewRequest(context.Background(), srv.URL+path, map[string]string{"mchid": "1230000109"})
	_, err = tr.Client().Do(req)
	if te := asError(t, err); te.Kind != transport.KindRequest {
		t.Errorf("error %v", te)
	}
}

// TestErrorMessageOneLine: what a reply carries cannot break the log line
// of an Error.
func TestErrorMessageOneLine(t *testing.T) {
	e := &transport.Error{Kind: transport.KindReturnFail, Path: hbPath, StatusCode: 200,
		ReturnCode: "FAIL", ReturnMsg: "a\nb", ErrCode: "SYSTEMERROR\nlevel=INFO msg=paid", ErrCodeDes: "c\nd"}
	if msg := e.Error(); strings.ContainsAny(msg, "\r\n") {
		t.Errorf("message spans lines: %q", msg)
	}
	e.ErrCode, e.ReturnMsg, e.ErrCodeDes = "SYSTEMERROR", "", ""
	if msg, want := e.Error(), "transport: "+hbPath+": return_code=FAIL err_code=SYSTEMERROR"; msg != want {
		t.Errorf("message %q, want %q", msg, want)
	}
}
