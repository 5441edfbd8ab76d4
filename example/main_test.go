package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/hongbao-go/hongbao"
	"github.com/hongbao-go/hongbao/middleware/jwtauth"
	"github.com/hongbao-go/hongbao/signer"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

// syncBuffer is the stdout of run: written by the server's goroutines,
// read by the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func getenv(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

// start runs the example with env (HONGBAO_ADDR defaults to 127.0.0.1:0)
// until the end of the test, when it must shut down cleanly. It returns
// the base URL and the output.
func start(t *testing.T, env map[string]string) (string, *syncBuffer) {
	t.Helper()
	if env == nil {
		env = map[string]string{}
	}
	if env[envAddr] == "" {
		env[envAddr] = "127.0.0.1:0"
	}
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, getenv(env), out, ready) }()
	select {
	case addr := <-ready:
		t.Cleanup(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("run after shutdown: %v", err)
				}
			case <-time.After(20 * time.Second):
				t.Error("run did not return after its context ended")
			}
			if !strings.Contains(out.String(), "shutting down") {
				t.Error("no shutdown message")
			}
		})
		return "http://" + addr, out
	case err := <-done:
		cancel()
		t.Fatalf("run: %v\noutput:\n%s", err, out.String())
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatalf("run did not get ready\noutput:\n%s", out.String())
	}
	return "", nil
}

// startErr runs the example with env and returns its start-up error; it
// fails the test when the server starts instead.
func startErr(t *testing.T, env map[string]string) error {
	t.Helper()
	env[envAddr] = "127.0.0.1:0"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan string, 1)
	done := make(chan error, 1)
	out := &syncBuffer{}
	go func() { done <- run(ctx, getenv(env), out, ready) }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("run returned nil without serving")
		}
		return err
	case <-ready:
		cancel()
		<-done
		t.Fatalf("run started with a bad configuration\noutput:\n%s", out.String())
	case <-time.After(30 * time.Second):
		t.Fatal("run neither failed nor started")
	}
	return nil
}

var demoTokenLine = regexp.MustCompile(`(?m)^demo token \(HS256, sub=(\S+), expires ([^)]+)\):\n(\S+)$`)

// demoTokenOf returns the token printed by a demo run.
func demoTokenOf(t *testing.T, out string) string {
	t.Helper()
	m := demoTokenLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no demo token in the output:\n%s", out)
	}
	if m[1] != demoOpenID {
		t.Errorf("demo token for %q, want %q", m[1], demoOpenID)
	}
	if !strings.Contains(out, "curl ") || !strings.Contains(out, "Bearer "+m[3]) || !strings.Contains(out, claimPath) {
		t.Errorf("no ready-to-use curl command in the output:\n%s", out)
	}
	return m[3]
}

func do(t *testing.T, method, url, token, body string) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// checkClaim checks a 200 answer with exactly the rail's name and the five
// fields of wx.sendBizRedPacket; with a non-empty apiKey it verifies
// paySign too.
func checkClaim(t *testing.T, resp *http.Response, body []byte, appID, apiKey string) signer.BizRedPacket {
	t.Helper()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("claim: status %d, want 200; body %s", resp.StatusCode, body)
	}
	var fields map[string]string
	if err := json.Unmarshal(body, &fields); err != nil {
		t.Fatalf("claim body %s: %v", body, err)
	}
	for _, k := range []string{"timeStamp", "nonceStr", "package", "signType", "paySign"} {
		if fields[k] == "" {
			t.Errorf("field %q missing in %s", k, body)
		}
	}
	if len(fields) != 6 || fields["rail"] != "redpacket" {
		t.Errorf("%d fields, want 6 with rail redpacket: %s", len(fields), body)
	}
	p := signer.BizRedPacket{
		TimeStamp: fields["timeStamp"], NonceStr: fields["nonceStr"], Package: fields["package"],
		SignType: fields["signType"], PaySign: fields["paySign"],
	}
	if apiKey != "" {
		const rule = signer.EncodedLowerRule
		s, err := signer.New(apiKey)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.VerifyBizRedPacket(appID, p, rule); err != nil {
			t.Errorf("paySign %q under the %s rule: %v", p.PaySign, rule, err)
		}
	}
	return p
}

// TestPackageRule switches the paySign form with HONGBAO_PACKAGE_RULE: each
// rule's answer verifies under that rule only; an unknown name is refused.
func TestPackageRule(t *testing.T) {
	rules := map[string]signer.PackageRule{
		"":              signer.EncodedLowerRule,
		"encoded":       signer.EncodedLowerRule,
		"encoded-upper": signer.EncodedUpperRule,
		"raw":           signer.RawPackageRule,
	}
	s, err := signer.New(wxpaytest.DefaultAPIKey)
	if err != nil {
		t.Fatal(err)
	}
	for name, rule := range rules {
		t.Run("rule="+name, func(t *testing.T) {
			base, out := start(t, map[string]string{envPackageRule: name})
			resp, body := do(t, http.MethodPost, base+claimPath, demoTokenOf(t, out.String()), `{"scene":1047}`)
			p := checkClaim(t, resp, body, wxpaytest.DefaultAppID, "")
			for _, other := range []signer.PackageRule{signer.EncodedLowerRule, signer.EncodedUpperRule, signer.RawPackageRule} {
				err := s.VerifyBizRedPacket(wxpaytest.DefaultAppID, p, other)
				if (other == rule) != (err == nil) {
					t.Errorf("answer under %s verified as %s: %v", rule, other, err)
				}
			}
		})
	}
	err = startErr(t, map[string]string{envPackageRule: "lower"})
	if err == nil || !strings.Contains(err.Error(), envPackageRule) {
		t.Errorf("HONGBAO_PACKAGE_RULE=lower: %v", err)
	}
}

func TestDemo(t *testing.T) {
	for _, router := range routers {
		t.Run(router, func(t *testing.T) {
			base, out := start(t, map[string]string{envRouter: router})
			if !strings.Contains(out.String(), "DEMO MODE") {
				t.Errorf("demo mode not announced:\n%s", out)
			}
			token := demoTokenOf(t, out.String())

			resp, body := do(t, http.MethodPost, base+claimPath, token, `{"scene":1047}`)
			first := checkClaim(t, resp, body, wxpaytest.DefaultAppID, wxpaytest.DefaultAPIKey)
			resp, body = do(t, http.MethodPost, base+claimPath, token, `{"scene":1047}`)
			again := checkClaim(t, resp, body, wxpaytest.DefaultAppID, wxpaytest.DefaultAPIKey)
			if again.Package != first.Package {
				t.Errorf("repeat tap: package %q, first %q", again.Package, first.Package)
			}

			resp, body = do(t, http.MethodPost, base+claimPath, "", `{"scene":1047}`)
			if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != "Bearer" {
				t.Errorf("no token: status %d, WWW-Authenticate %q; body %s", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
			}

			resp, body = do(t, http.MethodGet, base+"/", "", "")
			var index map[string]string
			if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &index) != nil ||
				index["claim"] != "POST "+claimPath || index["mode"] != "demo" || index["router"] != router {
				t.Errorf("GET /: status %d, body %s", resp.StatusCode, body)
			}

			resp, body = do(t, http.MethodGet, base+claimPath, token, "")
			if resp.StatusCode != http.StatusMethodNotAllowed {
				t.Errorf("GET %s: status %d, want 405; body %s", claimPath, resp.StatusCode, body)
			}
		})
	}
}

func TestDemoToken(t *testing.T) {
	_, out := start(t, map[string]string{envJWTIssuer: "https://login.example", envJWTAudience: "hongbao"})
	token := demoTokenOf(t, out.String())
	claims := jwt.MapClaims{}
	parsed, _, err := jwt.NewParser().ParseUnverified(token, claims)
	if err != nil {
		t.Fatal(err)
	}
	if parsed.Method.Alg() != "HS256" {
		t.Errorf("alg %s, want HS256", parsed.Method.Alg())
	}
	exp, err := claims.GetExpirationTime()
	if err != nil || exp == nil {
		t.Fatalf("exp: %v", err)
	}
	if d := time.Until(exp.Time); d < 23*time.Hour || d > 24*time.Hour+time.Minute {
		t.Errorf("token expires in %v, want 24h", d)
	}
	if claims["sub"] != demoOpenID || claims["iss"] != "https://login.example" || claims["aud"] != "hongbao" {
		t.Errorf("claims %v", claims)
	}
}

// A scene makes amounts outside 100..20000 fen acceptable.
func TestDemoWithScene(t *testing.T) {
	base, out := start(t, map[string]string{envAmount: "50", envSceneID: "PRODUCT_2", envRouter: routers[len(routers)/2]})
	resp, body := do(t, http.MethodPost, base+claimPath, demoTokenOf(t, out.String()), `{"scene":1047}`)
	checkClaim(t, resp, body, wxpaytest.DefaultAppID, wxpaytest.DefaultAPIKey)
}

// merchant is a fake platform and the files of a configured run against it.
type merchant struct {
	host                *wxpaytest.Server
	dir                 string
	cert, key, p12, ca  string
	secret              string
	otherCert, otherKey string // a certificate of another merchant (CN 1234567890)
	oldCert, oldKey     string // an expired certificate of this merchant
}

func newMerchant(t *testing.T) *merchant {
	t.Helper()
	return newMerchantWith(t, wxpaytest.Options{})
}

// newMerchantWith is newMerchant on a platform started with opts.
func newMerchantWith(t *testing.T, opts wxpaytest.Options) *merchant {
	t.Helper()
	host := wxpaytest.Start(t, opts)
	m := &merchant{host: host, dir: t.TempDir(), secret: "configured-jwt-secret-of-32-bytes!"}
	write := func(name string, b []byte) string {
		p := filepath.Join(m.dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	m.cert = write("apiclient_cert.pem", host.ClientCertPEM())
	m.key = write("apiclient_key.pem", host.ClientKeyPEM())
	m.ca = write("ca.pem", host.CACertPEM())
	p12, err := host.ClientPKCS12(host.MchID, true)
	if err != nil {
		t.Fatal(err)
	}
	m.p12 = write("apiclient_cert.p12", p12)
	certPEM, keyPEM, err := host.IssueClientCert("1234567890", time.Now().Add(365*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	m.otherCert = write("other_cert.pem", certPEM)
	m.otherKey = write("other_key.pem", keyPEM)
	certPEM, keyPEM, err = host.IssueClientCert(host.MchID, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	m.oldCert = write("old_cert.pem", certPEM)
	m.oldKey = write("old_key.pem", keyPEM)
	return m
}

// env is a complete configuration for the merchant's platform.
func (m *merchant) env() map[string]string {
	return map[string]string{
		envMchID:     m.host.MchID,
		envAppID:     m.host.AppID,
		envAPIKey:    m.host.APIKey,
		envCertFile:  m.cert,
		envKeyFile:   m.key,
		envBaseURL:   m.host.URL,
		envCAFile:    m.ca,
		envJWTSecret: m.secret,
		envBillnoKey: "configured-billno-key",
		envCampaign:  "spring",
		envAmount:    "888",
	}
}

func (m *merchant) token(t *testing.T, openID string) string {
	t.Helper()
	now := time.Now()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": openID, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}).SignedString([]byte(m.secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConfigured(t *testing.T) {
	for _, source := range []string{"pem", "p12"} {
		t.Run(source, func(t *testing.T) {
			m := newMerchant(t)
			env := m.env()
			if source == "p12" {
				delete(env, envCertFile)
				delete(env, envKeyFile)
				env[envP12File] = m.p12 // password: the mch id by default
			}
			base, out := start(t, env)
			if strings.Contains(out.String(), "DEMO MODE") || strings.Contains(out.String(), "demo token") {
				t.Errorf("configured run announced demo mode:\n%s", out)
			}
			for _, secret := range []string{m.host.APIKey, m.secret, "configured-billno-key"} {
				if strings.Contains(out.String(), secret) {
					t.Errorf("the output shows a secret:\n%s", out)
				}
			}
			const openID = "oConfiguredUser_01"
			token := m.token(t, openID)
			resp, body := do(t, http.MethodPost, base+claimPath, token, `{"scene":1047,"anything":"ignored"}`)
			checkClaim(t, resp, body, m.host.AppID, m.host.APIKey)
			resp, body = do(t, http.MethodPost, base+claimPath, token, `{"scene":1047}`)
			checkClaim(t, resp, body, m.host.AppID, m.host.APIKey)

			billno, err := hongbao.DeriveBillno([]byte("configured-billno-key"), m.host.MchID, "spring", openID)
			if err != nil {
				t.Fatal(err)
			}
			p, ok := m.host.Packet(billno)
			if !ok || p.Amount != 888 || p.OpenID != openID {
				t.Errorf("host packet %+v (found %v), want 888 fen to %s under %s", p, ok, openID, billno)
			}
			if n := m.host.Sends(billno); n != 1 {
				t.Errorf("%d sends at the host, want 1", n)
			}
		})
	}
}

// A public key verifies the app's tokens (EdDSA here); the claim goes
// through the echo router.
func TestConfiguredPublicKey(t *testing.T) {
	m := newMerchant(t)
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(m.dir, "jwt_public.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	env := m.env()
	delete(env, envJWTSecret)
	env[envJWTPublicKeyFile] = keyFile
	env[envJWTIssuer] = "https://login.example"
	env[envRouter] = routers[len(routers)-1] // echo in the full build
	base, _ := start(t, env)

	now := time.Now()
	sign := func(iss string) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{
			"sub": "oEdDSAUser", "iss": iss, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		}).SignedString(priv)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	resp, body := do(t, http.MethodPost, base+claimPath, sign("https://other.example"), `{"scene":1047}`)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("token of another issuer: status %d, want 401; body %s", resp.StatusCode, body)
	}
	resp, body = do(t, http.MethodPost, base+claimPath, sign("https://login.example"), `{"scene":1047}`)
	checkClaim(t, resp, body, m.host.AppID, m.host.APIKey)
	resp, body = do(t, http.MethodPost, base+claimPath, m.token(t, "oEdDSAUser"), `{"scene":1047}`)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("HS256 token: status %d, want 401; body %s", resp.StatusCode, body)
	}
}

func TestBadConfiguration(t *testing.T) {
	m := newMerchant(t)
	tests := []struct {
		name string
		edit func(env map[string]string)
		want []string // each must appear in the error
	}{
		{"api key length", func(e map[string]string) { e[envAPIKey] = "0123456789abcdef0123456789abcde" },
			[]string{envAPIKey, "31 bytes", "32 bytes"}},
		{"cert and key mismatch", func(e map[string]string) { e[envKeyFile] = m.otherKey },
			[]string{"do not match", envCertFile, envKeyFile}},
		{"certificate of another merchant", func(e map[string]string) { e[envCertFile], e[envKeyFile] = m.otherCert, m.otherKey },
			[]string{"another merchant", envMchID, "1234567890"}},
		{"expired certificate", func(e map[string]string) { e[envCertFile], e[envKeyFile] = m.oldCert, m.oldKey },
			[]string{"not valid now", envCertFile}},
		{"cert file missing", func(e map[string]string) { e[envCertFile] = filepath.Join(m.dir, "missing.pem") },
			[]string{envCertFile, "missing.pem", "no such file"}},
		{"p12 file missing", func(e map[string]string) {
			delete(e, envCertFile)
			delete(e, envKeyFile)
			e[envP12File] = filepath.Join(m.dir, "missing.p12")
		}, []string{envP12File, "no such file"}},
		{"p12 wrong password", func(e map[string]string) {
			delete(e, envCertFile)
			delete(e, envKeyFile)
			e[envP12File], e[envP12Password] = m.p12, "wrong"
		}, []string{envP12File, envP12Password, "password"}},
		{"CA file missing", func(e map[string]string) { e[envCAFile] = filepath.Join(m.dir, "nope.pem") },
			[]string{envCAFile, "no such file"}},
		{"amount below 100 without scene", func(e map[string]string) { e[envAmount] = "99" },
			[]string{envAmount, envSceneID, "99"}},
		{"amount above 20000 without scene", func(e map[string]string) { e[envAmount] = "20001" },
			[]string{envAmount, envSceneID, "20001"}},
		{"amount not a number", func(e map[string]string) { e[envAmount] = "1.5" },
			[]string{envAmount, `"1.5"`, "whole number of fen"}},
		{"amount zero", func(e map[string]string) { e[envAmount] = "0" },
			[]string{envAmount}},
		{"unknown scene", func(e map[string]string) { e[envSceneID] = "PRODUCT_9" },
			[]string{envSceneID, "PRODUCT_9", "PRODUCT_1"}},
		{"send name too long", func(e map[string]string) { e[envSendName] = strings.Repeat("红", 32) },
			[]string{envSendName, "send_name"}},
		{"jwt secret too short", func(e map[string]string) { e[envJWTSecret] = "short" },
			[]string{envJWTSecret, "5 bytes", "32"}},
		{"no jwt key", func(e map[string]string) { delete(e, envJWTSecret) },
			[]string{envJWTSecret, envJWTPublicKeyFile}},
		{"both jwt keys", func(e map[string]string) { e[envJWTPublicKeyFile] = m.cert },
			[]string{envJWTSecret, envJWTPublicKeyFile, "only one"}},
		{"jwt public key file missing", func(e map[string]string) {
			delete(e, envJWTSecret)
			e[envJWTPublicKeyFile] = filepath.Join(m.dir, "jwt.pem")
		}, []string{envJWTPublicKeyFile, "no such file"}},
		{"both cert sources", func(e map[string]string) { e[envP12File] = m.p12 },
			[]string{envCertFile, envKeyFile, envP12File, "not both"}},
		{"no cert source", func(e map[string]string) {
			delete(e, envCertFile)
			delete(e, envKeyFile)
		}, []string{"certificate is required", envCertFile, envP12File}},
		{"cert without key", func(e map[string]string) { delete(e, envKeyFile) },
			[]string{envCertFile, envKeyFile, "go together"}},
		{"no appid", func(e map[string]string) { delete(e, envAppID) },
			[]string{envAppID, "required"}},
		{"appid too long", func(e map[string]string) { e[envAppID] = "wx" + strings.Repeat("8", 31) },
			[]string{envAppID, "32 characters"}},
		{"mch id not alphanumeric", func(e map[string]string) { e[envMchID] = "1900-000109" },
			[]string{envMchID, "1900-000109", "alphanumeric"}},
		{"mch id too long", func(e map[string]string) { e[envMchID] = "1900000109123" },
			[]string{envMchID, "too long"}},
		{"no api key", func(e map[string]string) { delete(e, envAPIKey) },
			[]string{envAPIKey, "required"}},
		{"billno key too short", func(e map[string]string) { e[envBillnoKey] = "short" },
			[]string{envBillnoKey, "16 bytes"}},
		{"no billno key", func(e map[string]string) { delete(e, envBillnoKey) },
			[]string{envBillnoKey, "16 bytes", "every replica"}},
		{"base url not https", func(e map[string]string) { e[envBaseURL] = "http://api.mch.weixin.qq.com" },
			[]string{envBaseURL, "https"}},
		{"unknown router", func(e map[string]string) { e[envRouter] = "gorilla" },
			[]string{envRouter, "gorilla", "nethttp"}},
		{"merchant variables without mch id", func(e map[string]string) { delete(e, envMchID) },
			[]string{envMchID, "is not set", envAPIKey, envCertFile}},
		{"several problems", func(e map[string]string) { e[envAPIKey], e[envAmount] = "short", "x" },
			[]string{envAPIKey, envAmount}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := m.env()
			tc.edit(env)
			err := startErr(t, env)
			msg := err.Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not mention %q", msg, w)
				}
			}
			for _, secret := range []string{m.host.APIKey, m.secret} {
				if strings.Contains(msg, secret) {
					t.Errorf("error %q shows a secret", msg)
				}
			}
		})
	}
}

// Demo mode checks the campaign too.
func TestDemoBadCampaign(t *testing.T) {
	err := startErr(t, map[string]string{envAmount: "20001"})
	if !strings.Contains(err.Error(), envSceneID) {
		t.Errorf("error %q does not mention %s", err, envSceneID)
	}
}

func TestAddressInUse(t *testing.T) {
	base, _ := start(t, nil)
	env := map[string]string{envAddr: strings.TrimPrefix(base, "http://")}
	err := run(context.Background(), getenv(env), io.Discard, nil)
	if err == nil || !strings.Contains(err.Error(), envAddr) {
		t.Errorf("run on a busy address: %v, want an error naming %s", err, envAddr)
	}
}

// TestAmountRange: HONGBAO_AMOUNT=MIN-MAX draws each user's amount from the
// range, the same on every call; a range's ends are checked like a fixed
// amount; HONGBAO_MAX_ATTEMPTS is read.
func TestAmountRange(t *testing.T) {
	cfg, err := loadConfig(getenv(map[string]string{envAmount: "150-300", envMaxAttempts: "5"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.grant.Amount != 150 || cfg.amountMax != 300 || cfg.maxAttempts != 5 {
		t.Fatalf("config: amount %d..%d, attempts %d", cfg.grant.Amount, cfg.amountMax, cfg.maxAttempts)
	}
	policy := campaignPolicy(cfg)
	seen := map[int64]bool{}
	for i := range 50 {
		u := jwtauth.User{OpenID: fmt.Sprintf("oRangeUser%018d", i)}
		g, err := policy.Grant(context.Background(), u, nil)
		if err != nil {
			t.Fatal(err)
		}
		if g.Amount < 150 || g.Amount > 300 {
			t.Fatalf("amount %d out of 150..300", g.Amount)
		}
		again, _ := policy.Grant(context.Background(), u, nil)
		if again.Amount != g.Amount {
			t.Fatalf("%s drew %d then %d", u.OpenID, g.Amount, again.Amount)
		}
		seen[g.Amount] = true
	}
	if len(seen) < 10 {
		t.Errorf("50 users drew only %d amounts", len(seen))
	}
	// A fixed amount is not a range.
	if cfg, err := loadConfig(getenv(map[string]string{envAmount: "200"})); err != nil || cfg.amountMax != 0 || cfg.grant.Amount != 200 {
		t.Errorf("fixed amount: %+v %v", cfg, err)
	}
	for _, bad := range []map[string]string{
		{envAmount: "300-150"},
		{envAmount: "0-150"},
		{envAmount: "150-"},
		{envAmount: "150-20001"}, // the top needs a scene
		{envMaxAttempts: "0"},
		{envMaxAttempts: "three"},
	} {
		if _, err := loadConfig(getenv(bad)); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	base, out := start(t, map[string]string{envAmount: "150-300"})
	resp, body := do(t, http.MethodPost, base+claimPath, demoTokenOf(t, out.String()), `{"scene": 1047}`)
	checkClaim(t, resp, body, wxpaytest.DefaultAppID, wxpaytest.DefaultAPIKey)
}

// TestBudget: HONGBAO_BUDGET_PACKETS caps the campaign: the second user is
// told budget_exhausted; the first keeps their packet.
func TestBudget(t *testing.T) {
	secret := strings.Repeat("s", 32)
	base, _ := start(t, map[string]string{envJWTSecret: secret, envBudgetPackets: "1", envBudget: "100000"})
	token := func(sub string) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
			"sub": sub, "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(),
		}).SignedString([]byte(secret))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	first := token("oBudgetFirst0000000000000001")
	resp, body := do(t, http.MethodPost, base+claimPath, first, `{"scene":1047}`)
	checkClaim(t, resp, body, wxpaytest.DefaultAppID, wxpaytest.DefaultAPIKey)
	resp, body = do(t, http.MethodPost, base+claimPath, token("oBudgetSecond000000000000001"), `{"scene":1047}`)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), `"budget_exhausted"`) {
		t.Errorf("second user: %d %s", resp.StatusCode, body)
	}
	resp, body = do(t, http.MethodPost, base+claimPath, first, `{"scene":1047}`)
	checkClaim(t, resp, body, wxpaytest.DefaultAppID, wxpaytest.DefaultAPIKey)
	for _, bad := range []map[string]string{{envBudget: "0"}, {envBudgetPackets: "-3"}, {envBudget: "ten"}} {
		if _, err := loadConfig(getenv(bad)); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
