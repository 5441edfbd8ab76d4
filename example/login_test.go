package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

// login posts code to the login route and returns the token.
func login(t *testing.T, base, code string) string {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"code": code})
	resp, body := do(t, http.MethodPost, base+loginPath, "", string(b))
	var a struct {
		Token     string `json:"token"`
		ExpiresIn int64  `json:"expiresIn"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &a) != nil || a.Token == "" || a.ExpiresIn <= 0 {
		t.Fatalf("login: %d %s", resp.StatusCode, body)
	}
	return a.Token
}

// TestDemoLogin: in demo mode, a code of GET /demo/code (wx.login's
// stand-in) logs in at the login route, and its token claims; the printed
// curl lines send the scene; a claim without one is refused.
func TestDemoLogin(t *testing.T) {
	for _, router := range routers {
		t.Run(router, func(t *testing.T) {
			base, out := start(t, map[string]string{envRouter: router})
			for _, want := range []string{`-d '{"scene":1047}'`, "POST " + loginPath, "curl -s " + base + demoCodePath} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("the output lacks %q:\n%s", want, out)
				}
			}
			const openID = "oDemoLoginUser_000000000001"
			resp, body := do(t, http.MethodGet, base+demoCodePath+"?openid="+openID, "", "")
			var c struct{ Code string }
			if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &c) != nil || c.Code == "" {
				t.Fatalf("GET %s: %d %s", demoCodePath, resp.StatusCode, body)
			}
			token := login(t, base, c.Code)
			resp, body = do(t, http.MethodPost, base+claimPath, token, `{"scene":1047}`)
			checkClaim(t, resp, body, wxpaytest.DefaultAppID, wxpaytest.DefaultAPIKey)

			b, _ := json.Marshal(map[string]string{"code": c.Code})
			resp, body = do(t, http.MethodPost, base+loginPath, "", string(b))
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), `"code_used"`) {
				t.Errorf("the code again: %d %s", resp.StatusCode, body)
			}
			resp, body = do(t, http.MethodGet, base+loginPath, "", "")
			if resp.StatusCode != http.StatusMethodNotAllowed {
				t.Errorf("GET %s: %d %s", loginPath, resp.StatusCode, body)
			}
			resp, body = do(t, http.MethodPost, base+claimPath, token, `{}`)
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), `"scene_required"`) {
				t.Errorf("a claim without a scene: %d %s", resp.StatusCode, body)
			}
			if strings.Contains(out.String(), wxpaytest.DefaultAppSecret) {
				t.Errorf("the output shows the app secret:\n%s", out)
			}
		})
	}
}

// TestConfiguredLogin: with HONGBAO_APP_SECRET the login route asks the
// configured code2Session host; a wrong secret is answered
// login_misconfigured and logged as an error naming the field.
func TestConfiguredLogin(t *testing.T) {
	m := newMerchant(t)
	api := m.host.StartLoginHost(t, wxpaytest.LoginOptions{})
	env := m.env()
	env[envAppSecret] = api.AppSecret
	env[envLoginBaseURL] = api.URL
	base, out := start(t, env)
	const openID = "oConfiguredLogin_0000000001"
	token := login(t, base, api.IssueCode(wxpaytest.LoginUser{OpenID: openID}))
	resp, body := do(t, http.MethodPost, base+claimPath, token, `{"scene":1047}`)
	checkClaim(t, resp, body, m.host.AppID, m.host.APIKey)
	if strings.Contains(out.String(), api.AppSecret) || !strings.Contains(out.String(), "code2Session accepted the appid and the app secret") {
		t.Errorf("the output shows the app secret, or not the login check:\n%s", out)
	}

	env = m.env()
	env[envAppSecret] = "not0the0app0secret0000000000000"
	env[envLoginBaseURL] = api.URL
	// The start-up check refuses a wrong app secret, naming it...
	if err := startErr(t, env); !strings.Contains(err.Error(), envAppSecret) || !strings.Contains(err.Error(), "40125") ||
		strings.Contains(err.Error(), "not0the0app0secret") {
		t.Errorf("wrong app secret at start-up: %v", err)
	}
	// ...and without the check, the login route says so at each login.
	env[envSkipCheck] = "1"
	base, out = start(t, env)
	b, _ := json.Marshal(map[string]string{"code": api.IssueCode(wxpaytest.LoginUser{OpenID: openID})})
	resp, body = do(t, http.MethodPost, base+loginPath, "", string(b))
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(body), `"login_misconfigured"`) {
		t.Errorf("wrong app secret: %d %s", resp.StatusCode, body)
	}
	if !strings.Contains(out.String(), "level=ERROR") || !strings.Contains(out.String(), "Config.AppSecret") {
		t.Errorf("the wrong secret is not logged as an error:\n%s", out)
	}

	// Without the app secret there is no login route.
	base, _ = start(t, m.env())
	resp, _ = do(t, http.MethodPost, base+loginPath, "", string(b))
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("no app secret: POST %s %d", loginPath, resp.StatusCode)
	}
}

func TestLoginConfiguration(t *testing.T) {
	m := newMerchant(t)
	for name, c := range map[string]struct {
		edit func(map[string]string)
		want []string
	}{
		"login URL without secret": {func(e map[string]string) { e[envLoginBaseURL] = "https://127.0.0.1:1" }, []string{envLoginBaseURL, envAppSecret}},
		"login URL not https": {func(e map[string]string) { e[envAppSecret], e[envLoginBaseURL] = "s", "http://api.weixin.qq.com" },
			[]string{envLoginBaseURL, "https"}},
		"public key cannot sign": {func(e map[string]string) {
			delete(e, envJWTSecret)
			e[envJWTPublicKeyFile], e[envAppSecret] = m.cert, "s"
		}, []string{envAppSecret, envJWTSecret, envJWTPublicKeyFile}},
		"app secret in demo mode": {func(e map[string]string) {
			for k := range e {
				delete(e, k)
			}
			e[envAppSecret] = "s"
		}, []string{envMchID, envAppSecret}},
	} {
		t.Run(name, func(t *testing.T) {
			env := m.env()
			c.edit(env)
			err := startErr(t, env)
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%v does not name %s", err, w)
				}
			}
		})
	}
}
