package wxlogin_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/hongbao-go/hongbao/middleware/jwtauth"
	"github.com/hongbao-go/hongbao/middleware/wxlogin"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

// logBuffer collects every log line of a handler.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// fixture is a login handler against a fake API host over TLS, with every
// log line and answer kept.
type fixture struct {
	host    *wxpaytest.Server
	api     *wxpaytest.LoginHost
	h       *wxlogin.Handler
	logs    *logBuffer
	answers []string
	codes   []string
}

func newFixture(t *testing.T, edit func(*wxlogin.Config)) *fixture {
	t.Helper()
	host := wxpaytest.Start(t, wxpaytest.Options{})
	api := host.StartLoginHost(t, wxpaytest.LoginOptions{})
	key, err := wxlogin.HMACSecret("", []byte("a login secret of at least 32 bytes!"))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{host: host, api: api, logs: &logBuffer{}}
	cfg := wxlogin.Config{
		AppID: api.AppID, AppSecret: api.AppSecret, Key: key,
		BaseURL: api.URL, RootCAPEM: host.CACertPEM(),
		Logger: slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if edit != nil {
		edit(&cfg)
	}
	f.h, err = wxlogin.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// code issues a code for openid (and unionid) and remembers it.
func (f *fixture) code(openid, unionid string) string {
	c := f.api.IssueCode(wxpaytest.LoginUser{OpenID: openid, UnionID: unionid})
	f.codes = append(f.codes, c)
	return c
}

// post sends body to the handler from ip, in lang.
func (f *fixture) post(t *testing.T, body, lang, ip string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/hongbao/login", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if lang != "" {
		req.Header.Set("Accept-Language", lang)
	}
	if ip != "" {
		req.RemoteAddr = ip + ":40000"
	}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	f.answers = append(f.answers, rec.Body.String())
	return rec
}

func codeBody(code string) string {
	b, _ := json.Marshal(map[string]string{"code": code})
	return string(b)
}

// errorOf decodes an error answer.
func errorOf(t *testing.T, rec *httptest.ResponseRecorder) (code, message string) {
	t.Helper()
	var e struct{ Code, Message string }
	dec := json.NewDecoder(rec.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		t.Fatalf("answer %d %q: %v", rec.Code, rec.Body, err)
	}
	return e.Code, e.Message
}

// checkNoSecrets fails when a session_key, the app secret or a code shows
// in a log line or an answer.
func (f *fixture) checkNoSecrets(t *testing.T) {
	t.Helper()
	secrets := append(f.api.SessionKeys(), f.api.AppSecret)
	secrets = append(secrets, f.codes...)
	logs := f.logs.String()
	if strings.TrimSpace(logs) == "" {
		t.Error("nothing was logged")
	}
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("the log shows a secret (%.6s...):\n%s", s, logs)
		}
		for _, a := range f.answers {
			if strings.Contains(a, s) {
				t.Errorf("an answer shows a secret (%.6s...): %s", s, a)
			}
		}
	}
	for _, a := range f.answers {
		if strings.Contains(a, "session_key") {
			t.Errorf("an answer names the session_key: %s", a)
		}
	}
}

func TestLogin(t *testing.T) {
	f := newFixture(t, func(c *wxlogin.Config) {
		c.Issuer, c.Audience, c.Lifetime = "https://shop.example", "hongbao", 90*time.Minute
	})
	rec := f.post(t, codeBody(f.code("oUser_login_0000000000000001", "uUnion_0001")), "", "")
	if rec.Code != http.StatusOK || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("status %d, Cache-Control %q, body %s", rec.Code, rec.Header().Get("Cache-Control"), rec.Body)
	}
	var a wxlogin.Answer
	dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil {
		t.Fatal(err)
	}
	if a.ExpiresIn != 90*60 || a.ExpiresAt < time.Now().Add(89*time.Minute).Unix() || a.ExpiresAt > time.Now().Add(91*time.Minute).Unix() {
		t.Errorf("expiresIn %d, expiresAt %d", a.ExpiresIn, a.ExpiresAt)
	}

	// The authenticator of the claim route accepts the token, and its
	// openid is the subject.
	cfg, err := f.h.AuthConfig()
	if err != nil {
		t.Fatal(err)
	}
	auth, err := jwtauth.NewAuthenticator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	u, err := auth.VerifyToken(a.Token)
	if err != nil {
		t.Fatal(err)
	}
	if u.OpenID != "oUser_login_0000000000000001" || u.Subject != u.OpenID || u.Claims["unionid"] != "uUnion_0001" ||
		u.Issuer != "https://shop.example" {
		t.Errorf("user %+v", u)
	}
	// Through the middleware, as a claim would be.
	req := httptest.NewRequest(http.MethodPost, "/hongbao/send", nil)
	req.Header.Set("Authorization", "Bearer "+a.Token)
	seen := ""
	auth.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := jwtauth.UserFrom(r.Context())
		seen = u.OpenID
	})).ServeHTTP(httptest.NewRecorder(), req)
	if seen != "oUser_login_0000000000000001" {
		t.Errorf("the middleware saw %q", seen)
	}

	// No unionid: no claim.
	rec = f.post(t, codeBody(f.code("oUser_login_0000000000000002", "")), "", "")
	if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil || rec.Code != http.StatusOK {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if u, err := auth.VerifyToken(a.Token); err != nil || u.Claims["unionid"] != nil {
		t.Errorf("%+v %v", u, err)
	}
	f.checkNoSecrets(t)
	if !strings.Contains(f.logs.String(), "openid=oUser_login_0000000000000001") {
		t.Errorf("the login is not logged:\n%s", f.logs)
	}
}

// TestReusedCode: a code logs in once; the second use is refused before
// the platform is asked, and a code used on another server is refused by
// the platform (40163).
func TestReusedCode(t *testing.T) {
	f := newFixture(t, nil)
	code := f.code("oUser_reuse_00000000000000001", "")
	if rec := f.post(t, codeBody(code), "", ""); rec.Code != http.StatusOK {
		t.Fatalf("first use: %d %s", rec.Code, rec.Body)
	}
	calls := f.api.Calls()
	rec := f.post(t, codeBody(code), "zh-CN", "")
	if c, msg := errorOf(t, rec); rec.Code != http.StatusBadRequest || c != "code_used" || msg != "登录凭证已使用，请重新登录" {
		t.Errorf("second use: %d %s %s", rec.Code, c, msg)
	}
	if f.api.Calls() != calls {
		t.Errorf("the second use reached the platform")
	}

	// Another replica (its own memory) gets the platform's 40163.
	other, err := wxlogin.New(wxlogin.Config{AppID: f.api.AppID, AppSecret: f.api.AppSecret, Key: mustHMAC(t),
		BaseURL: f.api.URL, RootCAPEM: f.host.CACertPEM(), Logger: slog.New(slog.NewTextHandler(f.logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	f.h = other
	rec = f.post(t, codeBody(code), "", "")
	if c, _ := errorOf(t, rec); rec.Code != http.StatusBadRequest || c != "code_used" {
		t.Errorf("on another replica: %d %s", rec.Code, c)
	}
	if !strings.Contains(f.logs.String(), "errcode=40163") {
		t.Errorf("the errcode is not logged:\n%s", f.logs)
	}
	f.checkNoSecrets(t)
}

func mustHMAC(t *testing.T) wxlogin.SigningKey {
	t.Helper()
	k, err := wxlogin.HMACSecret("", []byte("a login secret of at least 32 bytes!"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestErrcodes: each errcode of code2Session has its answer, in English
// and Chinese, and the configuration errors are logged with what to fix.
func TestErrcodes(t *testing.T) {
	cases := []struct {
		errcode    int
		status     int
		code       string
		zh         string
		retryAfter string
		log        string // in the log line
	}{
		{wxpaytest.LoginInvalidCode, 400, "invalid_code", "登录凭证无效或已过期，请重新登录", "", "level=INFO"},
		{wxpaytest.LoginCodeUsed, 400, "code_used", "登录凭证已使用，请重新登录", "", "level=INFO"},
		{wxpaytest.LoginRateLimited, 429, "login_rate_limited", "微信登录太频繁，请一分钟后再试", "60", "level=INFO"},
		{wxpaytest.LoginHighRisk, 403, "login_blocked", "当前微信账号存在风险，暂时无法登录", "", "level=INFO"},
		{wxpaytest.LoginBusy, 503, "login_busy", "微信登录繁忙，请稍后再试", "2", "level=WARN"},
		{wxpaytest.LoginInvalidSecret, 502, "login_misconfigured", "登录服务配置有误，请联系商家", "", "Config.AppSecret"},
		{wxpaytest.LoginInvalidAppID, 502, "login_misconfigured", "登录服务配置有误，请联系商家", "", "Config.AppID"},
		{48001, 502, "login_failed", "微信登录失败，请稍后再试", "", "errcode=48001"},
	}
	for _, c := range cases {
		t.Run(c.code+"/"+strconv.Itoa(c.errcode), func(t *testing.T) {
			f := newFixture(t, nil)
			for _, lang := range []string{"zh_CN", "en"} {
				f.api.Inject(c.errcode)
				rec := f.post(t, codeBody(f.code("oUser_errcode_000000000000001", "")), lang, "")
				code, msg := errorOf(t, rec)
				if rec.Code != c.status || code != c.code {
					t.Errorf("%s: %d %s, want %d %s", lang, rec.Code, code, c.status, c.code)
				}
				if lang == "zh_CN" && (msg != c.zh || rec.Header().Get("Content-Language") != "zh-CN") {
					t.Errorf("zh: %q (%s)", msg, rec.Header().Get("Content-Language"))
				}
				if lang == "en" && (msg == "" || msg == c.zh || rec.Header().Get("Content-Language") != "en") {
					t.Errorf("en: %q", msg)
				}
				if got := rec.Header().Get("Retry-After"); got != c.retryAfter {
					t.Errorf("Retry-After %q, want %q", got, c.retryAfter)
				}
			}
			if logs := f.logs.String(); !strings.Contains(logs, c.log) || !strings.Contains(logs, "code="+c.code) {
				t.Errorf("log lacks %q:\n%s", c.log, logs)
			}
			if c.code == "login_misconfigured" && !strings.Contains(f.logs.String(), "level=ERROR") {
				t.Errorf("a configuration error is not an error:\n%s", f.logs)
			}
			f.checkNoSecrets(t)
		})
	}
}

// A wrong app secret, an unknown code: the platform's own refusals.
func TestWrongSecretAndUnknownCode(t *testing.T) {
	f := newFixture(t, func(c *wxlogin.Config) { c.AppSecret = "not0the0secret0of0this0appid0000" })
	rec := f.post(t, codeBody(f.code("oUser_secret_0000000000000001", "")), "", "")
	if c, _ := errorOf(t, rec); rec.Code != http.StatusBadGateway || c != "login_misconfigured" {
		t.Errorf("wrong secret: %d %s", rec.Code, c)
	}
	logs := f.logs.String()
	if !strings.Contains(logs, "level=ERROR") || !strings.Contains(logs, "errcode=40125") || !strings.Contains(logs, "Config.AppSecret") ||
		strings.Contains(logs, "not0the0secret") {
		t.Errorf("log:\n%s", logs)
	}

	g := newFixture(t, nil)
	rec = g.post(t, codeBody("a-code-the-host-never-issued"), "", "")
	if c, _ := errorOf(t, rec); rec.Code != http.StatusBadRequest || c != "invalid_code" {
		t.Errorf("unknown code: %d %s", rec.Code, c)
	}
	f.checkNoSecrets(t)
}

// TestHostProblems: an untrusted certificate is a configuration error; a
// host that does not answer is "busy".
func TestHostProblems(t *testing.T) {
	f := newFixture(t, func(c *wxlogin.Config) { c.RootCAPEM = nil })
	rec := f.post(t, codeBody(f.code("oUser_tls_00000000000000000001", "")), "", "")
	if c, _ := errorOf(t, rec); rec.Code != http.StatusBadGateway || c != "login_misconfigured" {
		t.Errorf("untrusted host: %d %s", rec.Code, c)
	}
	if logs := f.logs.String(); !strings.Contains(logs, "level=ERROR") || !strings.Contains(logs, "RootCAPEM") {
		t.Errorf("log:\n%s", logs)
	}
	if f.api.Calls() != 0 {
		t.Errorf("the untrusted host was sent the call")
	}

	g := newFixture(t, nil)
	g.api.Close()
	rec = g.post(t, codeBody(g.code("oUser_down_0000000000000000001", "")), "", "")
	if c, _ := errorOf(t, rec); rec.Code != http.StatusServiceUnavailable || c != "login_busy" || rec.Header().Get("Retry-After") == "" {
		t.Errorf("host down: %d %s", rec.Code, c)
	}
	f.checkNoSecrets(t)
	g.checkNoSecrets(t)
}

// TestRequests: the request's own mistakes, the per-IP limit, the method.
func TestRequests(t *testing.T) {
	f := newFixture(t, func(c *wxlogin.Config) { c.RateLimit = 3 })
	for _, tc := range []struct {
		body   string
		status int
		code   string
	}{
		{"", 400, "missing_code"},
		{"{}", 400, "missing_code"},
		{`{"code":""}`, 400, "missing_code"},
		{`{"code":12}`, 400, "malformed_body"},
		{`{"code":"a b"}`, 400, "invalid_code"},
		{`{"code":"` + strings.Repeat("x", 300) + `"}`, 400, "invalid_code"},
		{`{"code":"` + strings.Repeat("x", 5000) + `"}`, 413, "body_too_large"},
	} {
		rec := f.post(t, tc.body, "", "192.0.2.10")
		if c, _ := errorOf(t, rec); rec.Code != tc.status || c != tc.code {
			t.Errorf("body %.40q: %d %s, want %d %s", tc.body, rec.Code, c, tc.status, tc.code)
		}
		f.h, _ = wxlogin.New(wxlogin.Config{AppID: f.api.AppID, AppSecret: f.api.AppSecret, Key: mustHMAC(t),
			BaseURL: f.api.URL, RootCAPEM: f.host.CACertPEM(), RateLimit: 3, Logger: slog.New(slog.NewTextHandler(f.logs, nil))})
	}
	if f.api.Calls() != 0 {
		t.Errorf("%d calls to the platform for bad requests", f.api.Calls())
	}

	// Three logins a window from one address; the fourth is refused
	// before its code is read (so the code stays usable), another
	// address goes on.
	for i := range 3 {
		if rec := f.post(t, codeBody(f.code("oUser_rate_"+strconv.Itoa(i), "")), "", "192.0.2.20"); rec.Code != http.StatusOK {
			t.Fatalf("login %d: %d %s", i, rec.Code, rec.Body)
		}
	}
	code := f.code("oUser_rate_4", "")
	rec := f.post(t, codeBody(code), "", "192.0.2.20")
	if c, _ := errorOf(t, rec); rec.Code != http.StatusTooManyRequests || c != "rate_limited" || rec.Header().Get("Retry-After") == "" {
		t.Errorf("fourth login: %d %s, Retry-After %q", rec.Code, c, rec.Header().Get("Retry-After"))
	}
	if rec := f.post(t, codeBody(code), "", "192.0.2.21"); rec.Code != http.StatusOK {
		t.Errorf("another address: %d %s", rec.Code, rec.Body)
	}

	// Other methods: the JSON 405 of the claim route.
	req := httptest.NewRequest(http.MethodGet, "/hongbao/login", nil)
	rr := httptest.NewRecorder()
	f.h.ServeHTTP(rr, req)
	if c, _ := errorOf(t, rr); rr.Code != http.StatusMethodNotAllowed || c != "method_not_allowed" || rr.Header().Get("Allow") != "POST" {
		t.Errorf("GET: %d %s", rr.Code, c)
	}
	f.checkNoSecrets(t)
}

// TestKeys: tokens signed with each kind of key are accepted by an
// authenticator configured with the public key alone, as a claim server
// apart from the login server would be, and refused under another kid.
func TestKeys(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rs, _ := rsa.GenerateKey(rand.Reader, 2048)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ec)
	rsDER := x509.MarshalPKCS1PrivateKey(rs)
	for _, tc := range []struct {
		name, alg string
		key       func() (wxlogin.SigningKey, error)
		pub       any
	}{
		{"ES256 PEM", "ES256", func() (wxlogin.SigningKey, error) {
			return wxlogin.PrivateKeyPEM("login-2026", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER}))
		}, &ec.PublicKey},
		{"RS256 PEM", "RS256", func() (wxlogin.SigningKey, error) {
			return wxlogin.PrivateKeyPEM("login-2026", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: rsDER}))
		}, &rs.PublicKey},
		{"EdDSA", "EdDSA", func() (wxlogin.SigningKey, error) { return wxlogin.PrivateKey("login-2026", ed) }, ed.Public()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key, err := tc.key()
			if err != nil {
				t.Fatal(err)
			}
			if key.Algorithm() != tc.alg || key.KID() != "login-2026" {
				t.Errorf("%s %s", key.Algorithm(), key.KID())
			}
			f := newFixture(t, func(c *wxlogin.Config) { c.Key = key })
			rec := f.post(t, codeBody(f.code("oUser_keys_00000000000000001", "")), "", "")
			var a wxlogin.Answer
			if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil || rec.Code != http.StatusOK {
				t.Fatalf("%d %s", rec.Code, rec.Body)
			}
			tok, _, err := jwt.NewParser().ParseUnverified(a.Token, jwt.MapClaims{})
			if err != nil || tok.Header["kid"] != "login-2026" || tok.Method.Alg() != tc.alg {
				t.Errorf("header %v, %v", tok.Header, err)
			}
			vk, err := jwtauth.PublicKey("login-2026", tc.pub)
			if err != nil {
				t.Fatal(err)
			}
			auth, err := jwtauth.NewAuthenticator(jwtauth.Config{Keys: []jwtauth.Key{vk}})
			if err != nil {
				t.Fatal(err)
			}
			if u, err := auth.VerifyToken(a.Token); err != nil || u.OpenID != "oUser_keys_00000000000000001" {
				t.Errorf("%+v %v", u, err)
			}
			other, _ := jwtauth.PublicKey("another", tc.pub)
			auth, _ = jwtauth.NewAuthenticator(jwtauth.Config{Keys: []jwtauth.Key{other}})
			if _, err := auth.VerifyToken(a.Token); err == nil {
				t.Error("accepted under another kid")
			}
		})
	}
	if _, err := wxlogin.HMACSecret("", []byte("short")); err == nil {
		t.Error("a 5-byte secret accepted")
	}
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	if _, err := wxlogin.PrivateKey("", small); err == nil {
		t.Error("a 1024-bit RSA key accepted")
	}
	if _, err := wxlogin.PrivateKeyPEM("", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1}})); err == nil ||
		!strings.Contains(err.Error(), "private key") {
		t.Errorf("a public key: %v", err)
	}
}

func TestConfig(t *testing.T) {
	key := mustHMAC(t)
	for name, cfg := range map[string]wxlogin.Config{
		"no appid":      {AppSecret: "s", Key: key},
		"no secret":     {AppID: "wx1", Key: key},
		"no key":        {AppID: "wx1", AppSecret: "s"},
		"http base":     {AppID: "wx1", AppSecret: "s", Key: key, BaseURL: "http://api.weixin.qq.com"},
		"base query":    {AppID: "wx1", AppSecret: "s", Key: key, BaseURL: "https://api.weixin.qq.com/?x=1"},
		"base garbage":  {AppID: "wx1", AppSecret: "s", Key: key, BaseURL: "https://%zz"},
		"long lifetime": {AppID: "wx1", AppSecret: "s", Key: key, Lifetime: 31 * 24 * time.Hour},
		"bad CA":        {AppID: "wx1", AppSecret: "s", Key: key, RootCAPEM: []byte("not a certificate")},
	} {
		if _, err := wxlogin.New(cfg); err == nil || !strings.HasPrefix(err.Error(), "wxlogin: ") {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Nil Logger: slog.Default(), so a refused login is seen.
	var buf logBuffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, nil)))
	defer slog.SetDefault(old)
	h, err := wxlogin.New(wxlogin.Config{AppID: "wx1", AppSecret: "s", Key: key})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", strings.NewReader("{}")))
	if !strings.Contains(buf.String(), "code=missing_code") {
		t.Errorf("the default logger saw %q", buf.String())
	}
}

// TestMount: the net/http Mount answers 405 and 404 in JSON.
func TestMount(t *testing.T) {
	f := newFixture(t, nil)
	mux := http.NewServeMux()
	wxlogin.Mount(mux, "/hongbao/login", f.h)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/hongbao/login", "application/json", strings.NewReader(codeBody(f.code("oUser_mount_0000000000000001", ""))))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("POST: %d", resp.StatusCode)
	}
	for path, want := range map[string]int{"/hongbao/login": 405, "/hongbao/login/x": 404} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want || resp.Header.Get("Content-Type") != "application/json; charset=utf-8" {
			t.Errorf("GET %s: %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
}

// TestCheck: Check proves the appid and the secret without a user, and
// names what to fix otherwise.
func TestCheck(t *testing.T) {
	f := newFixture(t, nil)
	if err := f.h.Check(context.Background()); err != nil {
		t.Fatalf("right configuration: %v", err)
	}
	for name, c := range map[string]struct {
		edit func(*wxlogin.Config)
		want string
	}{
		"wrong secret": {func(c *wxlogin.Config) { c.AppSecret = "not0the0secret0000000000000000000" }, "Config.AppSecret"},
		"wrong appid":  {func(c *wxlogin.Config) { c.AppID = "wx0000000000000001" }, "Config.AppID"},
		"untrusted":    {func(c *wxlogin.Config) { c.RootCAPEM = nil }, "Config.RootCAPEM"},
	} {
		g := newFixture(t, c.edit)
		err := g.h.Check(context.Background())
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), g.api.AppSecret) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
