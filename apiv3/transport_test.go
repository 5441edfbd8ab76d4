package apiv3_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"io"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-resty/resty/v2"

	"github.com/hongbao-go/hongbao/apiv3"
	"github.com/hongbao-go/hongbao/transport"
)

const pathCreate = "/v3/fund-app/mch-transfer/transfer-bills"

func TestTransportSignsAndVerifies(t *testing.T) {
	p := newPlatform(t)
	p.set(func(p *platform) {
		p.route = func(r *http.Request, body []byte) (int, []byte) {
			return 200, append([]byte(`{"echo":`), append(body, '}')...)
		}
	})
	tr := newTransport(t, p.config())
	body := &trackedBody{Reader: strings.NewReader(`{"out_bill_no":"abc"}`)}
	req, err := http.NewRequest(http.MethodPost, p.srv.URL+pathCreate+"?x=1", body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Caller", "kept")
	before := req.Header.Clone()
	resp, err := tr.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(got) != `{"echo":{"out_bill_no":"abc"}}` {
		t.Fatalf("answer %q, %v", got, err)
	}
	if resp.Header.Get(apiv3.HeaderRequestID) != "08B3A1C2D5" {
		t.Errorf("Request-ID %q", resp.Header.Get(apiv3.HeaderRequestID))
	}
	if n := body.closed.Load(); n != 1 {
		t.Errorf("the caller's body was closed %d times", n)
	}
	if len(req.Header) != len(before) || req.Header.Get("Authorization") != "" || req.Header.Get("X-Caller") != "kept" {
		t.Errorf("the caller's header changed: %v", req.Header)
	}
	recs := p.recorded()
	if len(recs) != 1 {
		t.Fatalf("%d requests", len(recs))
	}
	h := recs[0].Header
	for name, want := range map[string]string{
		"Accept":           "application/json",
		"Content-Type":     "application/json",
		"User-Agent":       apiv3.DefaultUserAgent,
		"Wechatpay-Serial": testPubKeyID,
		"X-Caller":         "kept",
	} {
		if got := h.Get(name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	if recs[0].URI != pathCreate+"?x=1" {
		t.Errorf("URI %q", recs[0].URI)
	}
	a, err := apiv3.ParseAuthorization(h.Get("Authorization"))
	if err != nil {
		t.Fatal(err)
	}
	if a.Serial != "5157F09EFDC096DE15EBE81A47057A7232F1B8E1" || a.MchID != testMchID || len(a.Nonce) != apiv3.NonceLength {
		t.Errorf("Authorization %+v", a)
	}
	if tr.CertSerial() != a.Serial || tr.MchID() != testMchID || tr.PublicKeyID() != testPubKeyID || tr.BaseURL() != p.srv.URL {
		t.Errorf("accessors: %s %s %s %s", tr.CertSerial(), tr.MchID(), tr.PublicKeyID(), tr.BaseURL())
	}
}

// TestTransportGet checks a request without a body: signed over an empty
// body, no Content-Type.
func TestTransportGet(t *testing.T) {
	p := newPlatform(t)
	tr := newTransport(t, p.config())
	resp, err := tr.Client().Get(p.srv.URL + "/v3/fund-app/mch-transfer/transfer-bills/out-bill-no/abc")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	h := p.recorded()[0].Header
	if h.Get("Content-Type") != "" || len(p.recorded()[0].Body) != 0 {
		t.Errorf("GET sent Content-Type %q and %d body bytes", h.Get("Content-Type"), len(p.recorded()[0].Body))
	}
}

// TestTransportResty sends through resty: JSON body in, result decoded.
func TestTransportResty(t *testing.T) {
	p := newPlatform(t)
	p.set(func(p *platform) {
		p.route = func(r *http.Request, body []byte) (int, []byte) {
			return 200, []byte(`{"state":"ACCEPTED","out_bill_no":"r1"}`)
		}
	})
	tr := newTransport(t, p.config())
	var out struct {
		State     string `json:"state"`
		OutBillNo string `json:"out_bill_no"`
	}
	resp, err := resty.New().SetTransport(tr).SetBaseURL(tr.BaseURL()).R().
		SetBody(map[string]any{"out_bill_no": "r1", "transfer_amount": 100}).
		SetResult(&out).Post(pathCreate)
	if err != nil || resp.StatusCode() != 200 {
		t.Fatalf("%v, %v", resp, err)
	}
	if out.State != "ACCEPTED" || out.OutBillNo != "r1" {
		t.Errorf("decoded %+v", out)
	}
	if got := string(p.recorded()[0].Body); got != `{"out_bill_no":"r1","transfer_amount":100}` {
		t.Errorf("body sent %q", got)
	}
	// An error answer comes back as the Transport's error.
	p.set(func(p *platform) {
		p.route = func(*http.Request, []byte) (int, []byte) {
			return 403, []byte(`{"code":"NOT_ENOUGH","message":"余额不足"}`)
		}
	})
	_, err = resty.New().SetTransport(tr).SetBaseURL(tr.BaseURL()).R().SetBody(map[string]any{}).Post(pathCreate)
	if !errors.Is(err, apiv3.ErrNotEnough) {
		t.Errorf("resty error %v", err)
	}
}

// TestTransportRefusesUnverified covers every way a 2xx answer fails
// verification: never handed on, always outcome unknown.
func TestTransportRefusesUnverified(t *testing.T) {
	cases := []struct {
		name   string
		setup  func(p *platform)
		target error
	}{
		{"signed by another key", func(p *platform) { p.signKey = rsaKey(t, "other") }, apiv3.ErrSignature},
		{"body altered after signing", func(p *platform) {
			p.tamper = func(h http.Header, body []byte) []byte { return bytes.Replace(body, []byte("true"), []byte("fals"), 1) }
		}, apiv3.ErrSignature},
		{"probe signature", func(p *platform) {
			p.tamper = func(h http.Header, body []byte) []byte {
				h.Set(apiv3.HeaderSignature, apiv3.ProbePrefix+h.Get(apiv3.HeaderSignature))
				return body
			}
		}, apiv3.ErrProbe},
		{"unknown serial", func(p *platform) { p.signSerial = "PUB_KEY_ID_0119000001092026120300000002" }, apiv3.ErrUnknownSerial},
		{"stale timestamp", func(p *platform) {
			p.tamper = func(h http.Header, body []byte) []byte {
				// Re-signed properly, 301 s in the past.
				ts := p.clock.Now().Unix() - 301
				sh, _ := apiv3.SignAnswer(p.signKey, p.signSerial, ts, "n1", body)
				sh.Write(h)
				return body
			}
		}, apiv3.ErrStale},
		{"future timestamp", func(p *platform) {
			p.tamper = func(h http.Header, body []byte) []byte {
				sh, _ := apiv3.SignAnswer(p.signKey, p.signSerial, p.clock.Now().Unix()+301, "n1", body)
				sh.Write(h)
				return body
			}
		}, apiv3.ErrStale},
		{"timestamp changed after signing", func(p *platform) {
			p.tamper = func(h http.Header, body []byte) []byte {
				ts, _ := strconv.ParseInt(h.Get(apiv3.HeaderTimestamp), 10, 64)
				h.Set(apiv3.HeaderTimestamp, strconv.FormatInt(ts+1, 10))
				return body
			}
		}, apiv3.ErrSignature},
		{"no signature", func(p *platform) {
			p.tamper = func(h http.Header, body []byte) []byte { h.Del(apiv3.HeaderSignature); return body }
		}, apiv3.ErrHeaders},
		{"no serial", func(p *platform) {
			p.tamper = func(h http.Header, body []byte) []byte { h.Del(apiv3.HeaderSerial); return body }
		}, apiv3.ErrHeaders},
		{"another signature type", func(p *platform) {
			p.tamper = func(h http.Header, body []byte) []byte {
				h.Set(apiv3.HeaderSignatureType, "WECHATPAY2-SM2-WITH-SM3")
				return body
			}
		}, apiv3.ErrHeaders},
		{"no headers at all", func(p *platform) {
			p.tamper = func(h http.Header, body []byte) []byte {
				for _, k := range []string{apiv3.HeaderSignature, apiv3.HeaderSerial, apiv3.HeaderNonce, apiv3.HeaderTimestamp} {
					h.Del(k)
				}
				return body
			}
		}, apiv3.ErrHeaders},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := newPlatform(t)
			p.set(c.setup)
			tr := newTransport(t, p.config())
			resp, err := tr.Client().Post(p.srv.URL+pathCreate, "application/json", strings.NewReader(`{"a":1}`))
			if err == nil {
				resp.Body.Close()
				t.Fatal("an unverified answer was handed on")
			}
			var e *apiv3.Error
			if !errors.As(err, &e) {
				t.Fatalf("%T %v", err, err)
			}
			if e.Status != 200 || !e.OutcomeUnknown() || !errors.Is(err, apiv3.ErrOutcomeUnknown) || !errors.Is(err, apiv3.ErrUnverified) || !errors.Is(err, c.target) {
				t.Errorf("%v: status %d, unknown %v, is target %v", err, e.Status, e.OutcomeUnknown(), errors.Is(err, c.target))
			}
			if e.RequestID == "" {
				t.Errorf("no Request-ID in %v", err)
			}
		})
	}
}

func TestTransportErrorAnswers(t *testing.T) {
	cases := []struct {
		status  int
		body    string
		code    string
		unknown bool
		target  error
	}{
		{403, `{"code":"NOT_ENOUGH","message":"资金不足","detail":{"field":"/transfer_amount","value":100,"issue":"too much","location":"body"}}`, "NOT_ENOUGH", false, apiv3.ErrNotEnough},
		{400, `{"code":"INVALID_REQUEST","message":"单号已存在但信息不一致，请查单后比较确认"}`, "INVALID_REQUEST", false, apiv3.ErrInvalidRequest},
		{400, `{"code":"PARAM_ERROR","message":"缺少场景报备信息"}`, "PARAM_ERROR", false, apiv3.ErrParamError},
		{401, `{"code":"SIGN_ERROR","message":"签名错误"}`, "SIGN_ERROR", false, apiv3.ErrSignError},
		{403, `{"code":"NO_AUTH","message":"商户无权限"}`, "NO_AUTH", false, apiv3.ErrNoAuth},
		{404, `{"code":"NOT_FOUND","message":"记录不存在"}`, "NOT_FOUND", false, apiv3.ErrNotFound},
		{429, `{"code":"FREQUENCY_LIMITED","message":"频率超限"}`, "FREQUENCY_LIMITED", false, apiv3.ErrFrequencyLimited},
		{429, `rate limited`, "", false, apiv3.ErrFrequencyLimited},
		{500, `{"code":"SYSTEM_ERROR","message":"系统错误"}`, "SYSTEM_ERROR", true, apiv3.ErrSystemError},
		{502, `<html><body>Bad Gateway</body></html>`, "", true, apiv3.ErrOutcomeUnknown},
		{503, ``, "", true, apiv3.ErrOutcomeUnknown},
		{302, ``, "", false, nil},
	}
	for _, c := range cases {
		t.Run(strconv.Itoa(c.status)+c.code, func(t *testing.T) {
			p := newPlatform(t)
			p.set(func(p *platform) {
				p.route = func(*http.Request, []byte) (int, []byte) { return c.status, []byte(c.body) }
			})
			tr := newTransport(t, p.config())
			_, err := tr.Client().Post(p.srv.URL+pathCreate, "", strings.NewReader(`{}`))
			var e *apiv3.Error
			if !errors.As(err, &e) {
				t.Fatalf("%T %v", err, err)
			}
			if e.Status != c.status || e.Code != c.code || e.OutcomeUnknown() != c.unknown || e.RequestID != "08B3A1C2D4" {
				t.Errorf("%+v", e)
			}
			if c.target != nil && !errors.Is(err, c.target) {
				t.Errorf("%v is not %v", err, c.target)
			}
			if errors.Is(err, apiv3.ErrUnverified) || errors.Is(err, apiv3.ErrRequest) {
				t.Errorf("%v matches ErrUnverified or ErrRequest", err)
			}
			if c.code == "" && c.body != "" && e.Snippet == "" {
				t.Errorf("no snippet: %v", err)
			}
		})
	}
	// The detail is kept.
	p := newPlatform(t)
	p.set(func(p *platform) {
		p.route = func(*http.Request, []byte) (int, []byte) { return cases[0].status, []byte(cases[0].body) }
	})
	tr := newTransport(t, p.config())
	_, err := tr.Client().Post(p.srv.URL+pathCreate, "", strings.NewReader(`{}`))
	var e *apiv3.Error
	if !errors.As(err, &e) || e.Detail == nil || e.Detail.Field != "/transfer_amount" || string(e.Detail.Value) != "100" || e.Detail.Issue != "too much" || e.Detail.Location != "body" || e.Message != "资金不足" {
		t.Errorf("detail: %+v", e)
	}
	if !strings.Contains(err.Error(), "NOT_ENOUGH") || !strings.Contains(err.Error(), "08B3A1C2D4") {
		t.Errorf("message %q", err)
	}
}

// TestTransportVectors serves each response vector and checks the
// Transport's verdict, its clock set to the vector's time.
func TestTransportVectors(t *testing.T) {
	v := loadVectors(t)
	for i, r := range v.Responses {
		p := newPlatform(t)
		p.set(func(p *platform) {
			p.route = func(*http.Request, []byte) (int, []byte) { return 200, []byte(r.Body) }
			p.tamper = func(h http.Header, body []byte) []byte {
				h.Set(apiv3.HeaderTimestamp, r.Timestamp)
				h.Set(apiv3.HeaderNonce, r.Nonce)
				h.Set(apiv3.HeaderSignature, r.Signature)
				h.Set(apiv3.HeaderSerial, r.Serial)
				return body
			}
		})
		cfg := p.config()
		cfg.PublicKeyPEM = []byte(v.Keys.PlatformPublicKeyPEM)
		cfg.PublicKeyID = v.Keys.PlatformPublicKeyID
		ts := mustTimestamp(t, r.Timestamp)
		p.clock.Advance(time.Until(time.Unix(ts, 0)))
		tr := newTransport(t, cfg)
		resp, err := tr.Client().Get(p.srv.URL + "/v3/x")
		if err == nil {
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(got) != r.Body {
				t.Errorf("vector %d: body %q", i, got)
			}
		}
		if (err == nil) != r.Valid {
			t.Errorf("vector %d (%s): %v", i, r.Why, err)
		}
	}
}

func TestTransportRefusesToSend(t *testing.T) {
	p := newPlatform(t)
	tr := newTransport(t, p.config())
	big := bytes.Repeat([]byte("x"), apiv3.MaxRequestBytes+1)
	for name, url := range map[string]string{
		"http":       strings.Replace(p.srv.URL, "https", "http", 1) + pathCreate,
		"other host": "https://example.com" + pathCreate,
		"too large":  p.srv.URL + pathCreate,
	} {
		body := &trackedBody{Reader: strings.NewReader("{}")}
		if name == "too large" {
			body.Reader = bytes.NewReader(big)
		}
		req, _ := http.NewRequest(http.MethodPost, url, body)
		_, err := tr.RoundTrip(req)
		var e *apiv3.Error
		if !errors.As(err, &e) || e.Status != 0 || !errors.Is(err, apiv3.ErrRequest) || e.OutcomeUnknown() {
			t.Errorf("%s: %v", name, err)
		}
		if body.closed.Load() != 1 {
			t.Errorf("%s: body closed %d times", name, body.closed.Load())
		}
	}
	if n := len(p.recorded()); n != 0 {
		t.Errorf("%d requests reached the platform", n)
	}
	var zero apiv3.Transport
	body := &trackedBody{Reader: strings.NewReader("{}")}
	req, _ := http.NewRequest(http.MethodPost, p.srv.URL, body)
	if _, err := zero.RoundTrip(req); !errors.Is(err, apiv3.ErrRequest) || body.closed.Load() != 1 {
		t.Errorf("zero Transport: %v", err)
	}
}

// TestTransportSignatureRefused: a merchant key the platform does not know
// gets 401 SIGN_ERROR, a definite refusal.
func TestTransportSignatureRefused(t *testing.T) {
	p := newPlatform(t)
	cfg := p.config()
	cfg.KeyPEM = keyPEM(t, rsaKey(t, "other"))
	tr := newTransport(t, cfg)
	_, err := tr.Client().Get(p.srv.URL + "/v3/x")
	if !errors.Is(err, apiv3.ErrSignError) || errors.Is(err, apiv3.ErrOutcomeUnknown) {
		t.Errorf("%v", err)
	}
	// A clock 6 minutes off is refused the same way.
	cfg = p.config()
	cfg.Now = func() time.Time { return time.Now().Add(6 * time.Minute) }
	tr = newTransport(t, cfg)
	if _, err := tr.Client().Get(p.srv.URL + "/v3/x"); !errors.Is(err, apiv3.ErrSignError) {
		t.Errorf("skewed clock: %v", err)
	}
}

func TestTransportServerCertificate(t *testing.T) {
	p := newPlatform(t)
	cfg := p.config()
	cfg.RootCAs = nil
	tr := newTransport(t, cfg)
	_, err := tr.Client().Get(p.srv.URL + "/v3/x")
	var ue x509.UnknownAuthorityError
	if !errors.As(err, &ue) {
		t.Errorf("an unknown server certificate: %v", err)
	}
	if n := len(p.recorded()); n != 0 {
		t.Errorf("%d requests reached an unverified server", n)
	}
	cfg.RootCAPEM = pemBlock("CERTIFICATE", p.srv.Certificate().Raw)
	tr = newTransport(t, cfg)
	resp, err := tr.Client().Get(p.srv.URL + "/v3/x")
	if err != nil {
		t.Fatalf("RootCAPEM: %v", err)
	}
	resp.Body.Close()
}

// TestTransportKeepAlive: sequential calls share one connection; parallel
// calls open at most MaxConnsPerHost.
func TestTransportKeepAlive(t *testing.T) {
	p := newPlatform(t)
	tr := newTransport(t, p.config())
	c := tr.Client()
	for range 20 {
		resp, err := c.Get(p.srv.URL + "/v3/x")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if n := p.conns.Load(); n != 1 {
		t.Errorf("20 sequential calls opened %d connections", n)
	}

	p = newPlatform(t)
	cfg := p.config()
	cfg.MaxConnsPerHost = 2
	tr = newTransport(t, cfg)
	c = tr.Client()
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := c.Get(p.srv.URL + "/v3/x")
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
		}()
	}
	wg.Wait()
	if n := p.conns.Load(); n > 2 {
		t.Errorf("16 parallel calls opened %d connections, cap 2", n)
	}
}

// TestTransportGetBody: the request sent can be replayed byte for byte.
func TestTransportGetBody(t *testing.T) {
	p := newPlatform(t)
	tr := newTransport(t, p.config())
	var sent *http.Request
	pool := tr.Base
	tr.Base = roundTripFunc(func(r *http.Request) (*http.Response, error) {
		sent = r
		return pool.RoundTrip(r)
	})
	req, _ := http.NewRequest(http.MethodPost, p.srv.URL+pathCreate, strings.NewReader(`{"k":"v"}`))
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if sent == req || sent.GetBody == nil || sent.ContentLength != 9 {
		t.Fatalf("sent %p (caller's %p), GetBody %v, length %d", sent, req, sent.GetBody != nil, sent.ContentLength)
	}
	for range 2 {
		b, _ := sent.GetBody()
		got, _ := io.ReadAll(b)
		if string(got) != `{"k":"v"}` {
			t.Errorf("GetBody gave %q", got)
		}
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestTransportNetworkError: a failure of Base is handed back as is, and
// the body of a response that came with it is closed.
func TestTransportNetworkError(t *testing.T) {
	p := newPlatform(t)
	tr := newTransport(t, p.config())
	boom := errors.New("connection reset")
	tr.Base = roundTripFunc(func(r *http.Request) (*http.Response, error) { return nil, boom })
	_, err := tr.Client().Get(p.srv.URL + "/v3/x")
	if !errors.Is(err, boom) {
		t.Errorf("%v", err)
	}
}

func TestNewErrors(t *testing.T) {
	p := newPlatform(t)
	merchant := rsaKey(t, "merchant")
	certPEM := merchantCertPEM(t, merchant, big.NewInt(0x0A11CE))
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	dir := t.TempDir()
	pubFile := filepath.Join(dir, "pub_key.pem")
	if err := os.WriteFile(pubFile, p.config().PublicKeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		change func(c *apiv3.Config)
		want   string // in the message
		target error
	}{
		{"no MchID", func(c *apiv3.Config) { c.MchID = "" }, "MchID", nil},
		{"short APIv3Key", func(c *apiv3.Config) { c.APIv3Key = "0123456789abcdef" }, "APIv3Key must be 32 bytes", nil},
		{"long APIv3Key", func(c *apiv3.Config) { c.APIv3Key += "x" }, "APIv3Key must be 32 bytes", nil},
		{"PublicKeyID without prefix", func(c *apiv3.Config) { c.PublicKeyID = "0119000001092026120300000001" }, "PublicKeyID", nil},
		{"PublicKeyID with letters", func(c *apiv3.Config) { c.PublicKeyID = "PUB_KEY_ID_01190000010920261203000000AB" }, "PublicKeyID", nil},
		{"PublicKeyID empty digits", func(c *apiv3.Config) { c.PublicKeyID = "PUB_KEY_ID_" }, "PublicKeyID", nil},
		{"PublicKeyID without key", func(c *apiv3.Config) { c.PublicKeyPEM = nil }, "PublicKeyPEM", nil},
		{"key without PublicKeyID", func(c *apiv3.Config) { c.PublicKeyID = "" }, "PublicKeyID is required", nil},
		{"public key garbage", func(c *apiv3.Config) { c.PublicKeyPEM = []byte("not pem") }, "PublicKeyPEM", nil},
		{"public key is a certificate", func(c *apiv3.Config) { c.PublicKeyPEM = certPEM }, "certificate", nil},
		{"both public key sources", func(c *apiv3.Config) { c.PublicKeyFile = pubFile }, "both set", nil},
		{"no trust", func(c *apiv3.Config) { c.PublicKeyID, c.PublicKeyPEM = "", nil }, "no platform trust", nil},
		{"certificates without APIv3Key", func(c *apiv3.Config) { c.PlatformCertificates, c.APIv3Key = true, "" }, "APIv3Key", nil},
		{"no merchant key", func(c *apiv3.Config) { c.KeyPEM = nil }, "no merchant key", nil},
		{"key without CertSerial", func(c *apiv3.Config) { c.CertSerial = "" }, "CertSerial is required", nil},
		{"CertSerial not hex", func(c *apiv3.Config) { c.CertSerial = "XYZ" }, "CertSerial", nil},
		{"ECDSA key", func(c *apiv3.Config) { c.KeyPEM = keyPEM(t, ec) }, "RSA", nil},
		{"key of another certificate", func(c *apiv3.Config) {
			c.CertPEM, c.KeyPEM, c.CertSerial = certPEM, keyPEM(t, rsaKey(t, "other")), ""
		}, "does not match", transport.ErrKeyMismatch},
		{"CertSerial other than the certificate's", func(c *apiv3.Config) {
			c.CertPEM, c.CertSerial = certPEM, "0A11CF"
		}, "CertSerial 0A11CF is not the serial", nil},
		{"certificate of another merchant", func(c *apiv3.Config) {
			c.MchID = "1900000110"
		}, "CN", transport.ErrCertCN},
		{"http BaseURL", func(c *apiv3.Config) { c.BaseURL = "http://api.mch.weixin.qq.com" }, "BaseURL", nil},
		{"BaseURL with a path", func(c *apiv3.Config) { c.BaseURL = "https://api.mch.weixin.qq.com/v3" }, "BaseURL", nil},
		{"RootCAPEM garbage", func(c *apiv3.Config) { c.RootCAPEM = []byte("x") }, "RootCAPEM", nil},
		{"negative RefreshInterval", func(c *apiv3.Config) { c.PlatformCertificates, c.RefreshInterval = true, -1 }, "RefreshInterval", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := p.config()
			if c.name == "certificate of another merchant" {
				cfg.CertPEM, cfg.CertSerial = certPEM, ""
			}
			c.change(&cfg)
			tr, err := apiv3.New(cfg)
			if err == nil {
				tr.Close()
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "apiv3: ") {
				t.Errorf("%q does not say %q", err, c.want)
			}
			if c.target != nil && !errors.Is(err, c.target) {
				t.Errorf("%v is not %v", err, c.target)
			}
			if strings.Contains(err.Error(), testAPIv3Key) || strings.Contains(err.Error(), "PRIVATE KEY") {
				t.Errorf("a secret in %q", err)
			}
		})
	}
}

// TestNewMerchantSources: the serial comes from the certificate (PEM,
// files, PKCS#12) or from CertSerial with the key alone.
func TestNewMerchantSources(t *testing.T) {
	p := newPlatform(t)
	merchant := rsaKey(t, "merchant")
	serial := new(big.Int).SetBytes([]byte{0x05, 0x57, 0xF0, 0x9E})
	certPEM := merchantCertPEM(t, merchant, serial)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "apiclient_cert.pem"), filepath.Join(dir, "apiclient_key.pem")
	os.WriteFile(certFile, certPEM, 0o600)
	os.WriteFile(keyFile, keyPEM(t, merchant), 0o600)
	cases := map[string]func(c *apiv3.Config){
		"PEM":                 func(c *apiv3.Config) { c.CertPEM, c.CertSerial = certPEM, "" },
		"PEM, CertSerial too": func(c *apiv3.Config) { c.CertPEM, c.CertSerial = certPEM, "0557f09e" },
		"files":               func(c *apiv3.Config) { c.CertFile, c.KeyFile, c.KeyPEM, c.CertSerial = certFile, keyFile, nil, "" },
		"key file alone":      func(c *apiv3.Config) { c.KeyFile, c.KeyPEM, c.CertSerial = keyFile, nil, "0557F09E" },
		"key alone, spaced":   func(c *apiv3.Config) { c.CertSerial = "05:57:f0:9e" },
	}
	for name, change := range cases {
		cfg := p.config()
		change(&cfg)
		tr, err := apiv3.New(cfg)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if tr.CertSerial() != "0557F09E" {
			t.Errorf("%s: serial %s", name, tr.CertSerial())
		}
		tr.Close()
	}
}

// TestNonce: 32 characters of [0-9A-Za-z], and errors of the source are
// reported.
func TestNonce(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		n, err := apiv3.NewNonce(nil)
		if err != nil || len(n) != 32 || strings.Trim(n, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") != "" || seen[n] {
			t.Fatalf("%q %v", n, err)
		}
		seen[n] = true
	}
	if _, err := apiv3.NewNonce(strings.NewReader("short")); err == nil {
		t.Error("a short source gave a nonce")
	}
	// All 0xff bytes are rejected (no modulo bias): the source runs dry.
	if _, err := apiv3.NewNonce(bytes.NewReader(bytes.Repeat([]byte{0xff}, 1000))); err == nil {
		t.Error("biased bytes were used")
	}
}

func TestSignerRefuses(t *testing.T) {
	k := rsaKey(t, "merchant")
	good := apiv3.Signer{MchID: testMchID, Serial: "AB", Key: k}
	for name, c := range map[string]struct {
		s                 apiv3.Signer
		method, url, nonc string
		ts                int64
	}{
		"no key":           {apiv3.Signer{MchID: testMchID, Serial: "AB"}, "GET", "/v3", "n", 1},
		"quote in mchid":   {apiv3.Signer{MchID: `1"9`, Serial: "AB", Key: k}, "GET", "/v3", "n", 1},
		"comma in serial":  {apiv3.Signer{MchID: testMchID, Serial: "A,B", Key: k}, "GET", "/v3", "n", 1},
		"space in nonce":   {good, "GET", "/v3", "a b", 1},
		"lower method":     {good, "get", "/v3", "n", 1},
		"absolute url":     {good, "GET", "https://x/v3", "n", 1},
		"newline in url":   {good, "GET", "/v3\nx", "n", 1},
		"negative seconds": {good, "GET", "/v3", "n", -1},
	} {
		if _, err := c.s.Authorization(c.method, c.url, nil, c.ts, c.nonc); err == nil {
			t.Errorf("%s: signed", name)
		}
	}
	if _, err := good.Authorization("GET", "/v3", nil, 1, "n"); err != nil {
		t.Error(err)
	}
}
