package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hongbao-go/hongbao/middleware/jwtauth"
	"github.com/hongbao-go/hongbao/middleware/wxlogin"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

// TestFakeLogin: fake serves code2Session too: a code issued over HTTPS for
// an openid logs in through a login route configured from the printed
// variables, and the token's subject is that openid.
func TestFakeLogin(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "fake")
	env, stderr, _ := startFake(t, "-addr", "127.0.0.1:0", "-login-addr", "127.0.0.1:0", "-dir", dir)
	if env[envAppSecret] == "" || !strings.HasPrefix(env[envLoginBaseURL], "https://127.0.0.1:") {
		t.Fatalf("variables: %v", env)
	}
	if !strings.Contains(stderr.String(), wxpaytest.PathIssueCode+"?openid=") {
		t.Errorf("stderr does not say how to get a code:\n%s", stderr)
	}
	ca, err := os.ReadFile(env[envCAFile])
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get(env[envLoginBaseURL] + wxpaytest.PathIssueCode + "?openid=oFakeLogin_0001")
	if err != nil {
		t.Fatal(err)
	}
	var issued struct{ Code string }
	if err := json.NewDecoder(resp.Body).Decode(&issued); err != nil || issued.Code == "" {
		t.Fatalf("issuing a code: %d %v", resp.StatusCode, err)
	}
	resp.Body.Close()

	key, err := wxlogin.HMACSecret("", []byte("a login secret of at least 32 bytes!"))
	if err != nil {
		t.Fatal(err)
	}
	login, err := wxlogin.New(wxlogin.Config{AppID: env[envAppID], AppSecret: env[envAppSecret], Key: key,
		BaseURL: env[envLoginBaseURL], RootCAPEM: ca})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	login.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/hongbao/login", strings.NewReader(`{"code":"`+issued.Code+`"}`)))
	var a wxlogin.Answer
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &a) != nil {
		t.Fatalf("login: %d %s", rec.Code, rec.Body)
	}
	cfg, err := login.AuthConfig()
	if err != nil {
		t.Fatal(err)
	}
	auth, err := jwtauth.NewAuthenticator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if u, err := auth.VerifyToken(a.Token); err != nil || u.OpenID != "oFakeLogin_0001" {
		t.Errorf("%+v %v", u, err)
	}
}
