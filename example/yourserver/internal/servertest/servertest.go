// Package servertest checks the README's own-server files (the net/http
// and the chi one) the same way: against the fake platform and code2Session
// host, from a wx.login code to a paid claim.
package servertest

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hongbao-go/hongbao"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

// Build builds a server's handler from its environment.
type Build[H http.Handler] func(getenv func(string) string) (H, error)

// fakeEnv is what hongbao fake prints: the variables of a fake platform
// and a fake code2Session, with their files.
func fakeEnv(t *testing.T) (map[string]string, *wxpaytest.Server, *wxpaytest.LoginHost) {
	t.Helper()
	host := wxpaytest.Start(t, wxpaytest.Options{})
	api := host.StartLoginHost(t, wxpaytest.LoginOptions{})
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return map[string]string{
		"HONGBAO_MCH_ID":         host.MchID,
		"HONGBAO_APPID":          host.AppID,
		"HONGBAO_API_KEY":        host.APIKey,
		"HONGBAO_CERT_FILE":      write("apiclient_cert.pem", host.ClientCertPEM()),
		"HONGBAO_KEY_FILE":       write("apiclient_key.pem", host.ClientKeyPEM()),
		"HONGBAO_CA_FILE":        write("ca.pem", host.CACertPEM()),
		"HONGBAO_BASE_URL":       host.URL,
		"HONGBAO_BILLNO_KEY":     "a stable billno key",
		"HONGBAO_APP_SECRET":     api.AppSecret,
		"HONGBAO_LOGIN_BASE_URL": api.URL,
		"HONGBAO_JWT_SECRET":     "a login secret of at least 32 bytes!",
	}, host, api
}

func post(t *testing.T, url, token, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b json.RawMessage
	_ = json.NewDecoder(resp.Body).Decode(&b)
	return resp.StatusCode, b
}

// Serves checks the README's server: a wx.login code logs in, the token
// claims, the platform pays the openid of the code once.
func Serves[H http.Handler](t *testing.T, build Build[H]) {
	env, host, api := fakeEnv(t)
	h, err := build(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	const openID = "oYourServerUser_000000000001"
	code, _ := json.Marshal(map[string]string{"code": api.IssueCode(wxpaytest.LoginUser{OpenID: openID})})
	status, body := post(t, srv.URL+"/hongbao/login", "", string(code))
	var a struct{ Token string }
	if status != http.StatusOK || json.Unmarshal(body, &a) != nil || a.Token == "" {
		t.Fatalf("login: %d %s", status, body)
	}
	for range 2 {
		status, body = post(t, srv.URL+"/hongbao/send", a.Token, `{"scene":1047}`)
		var p map[string]string
		if status != http.StatusOK || json.Unmarshal(body, &p) != nil || p["paySign"] == "" || p["rail"] != "redpacket" || len(p) != 6 {
			t.Fatalf("claim: %d %s", status, body)
		}
	}
	if ps := host.PacketsOf(openID); len(ps) != 1 || ps[0].Amount != 100 {
		t.Errorf("packets of %s: %+v", openID, ps)
	}
	if status, body = post(t, srv.URL+"/hongbao/send", a.Token, `{}`); status != http.StatusBadRequest {
		t.Errorf("a claim without a scene: %d %s", status, body)
	}
}

// RefusesWrongKey checks that a wrong key stops the start-up, naming the
// platform's refusal.
func RefusesWrongKey[H http.Handler](t *testing.T, build Build[H]) {
	env, _, _ := fakeEnv(t)
	env["HONGBAO_API_KEY"] = "0123456789abcdef0123456789abcdef"
	_, err := build(func(k string) string { return env[k] })
	if !errors.Is(err, hongbao.ErrSign) {
		t.Errorf("err = %v, want SIGN_ERROR", err)
	}
}

// READMEShows checks that the README shows file (in the test's folder)
// whole, as it is.
func READMEShows(t *testing.T, file string) {
	readme, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "```go\n"+string(src)+"```\n") {
		t.Errorf("README.md does not show %s as it is: copy the file into its section again", file)
	}
}
