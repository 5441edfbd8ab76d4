package adaptertest

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/hongbao-go/hongbao/middleware/wxlogin"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

// Login is the login route of an Env: a wxlogin.Handler against a fake
// code2Session host, signing with the Env's secret, so that e.Auth accepts
// its tokens.
type Login struct {
	Handler *wxlogin.Handler
	API     *wxpaytest.LoginHost
}

// Login starts the fake code2Session host and the login handler.
func (e *Env) Login(t testing.TB) *Login {
	t.Helper()
	api := e.Host.StartLoginHost(t, wxpaytest.LoginOptions{})
	key, err := wxlogin.HMACSecret("", e.secret)
	if err != nil {
		t.Fatal(err)
	}
	h, err := wxlogin.New(wxlogin.Config{
		AppID: api.AppID, AppSecret: api.AppSecret, Key: key,
		BaseURL: api.URL, RootCAPEM: e.Host.CACertPEM(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return &Login{Handler: h, API: api}
}

// CheckLoginThenClaim logs openID in at loginURL with a code of the fake
// host, claims at claimURL with the token answered, and checks the claim;
// the code's second use is refused, other methods get the JSON 405 and the
// paths under loginURL the JSON 404.
func (e *Env) CheckLoginThenClaim(t testing.TB, l *Login, loginURL, claimURL, openID string) {
	t.Helper()
	code, _ := json.Marshal(map[string]string{"code": l.API.IssueCode(wxpaytest.LoginUser{OpenID: openID})})
	resp, body := Do(t, http.MethodPost, loginURL, "", string(code))
	var a wxlogin.Answer
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &a) != nil || a.Token == "" {
		t.Fatalf("login: %d %s", resp.StatusCode, body)
	}
	resp, body = Do(t, http.MethodPost, claimURL, a.Token, `{"scene":1047}`)
	e.CheckClaim(t, resp, body, openID)

	resp, body = Do(t, http.MethodPost, loginURL, "", string(code))
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), `"code_used"`) {
		t.Errorf("the code's second use: %d %s", resp.StatusCode, body)
	}
	for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
		resp, body := do(t, m, loginURL, "", "zh-CN", "")
		checkJSONError(t, m+" "+loginURL, resp, body, http.StatusMethodNotAllowed, "method_not_allowed", "zh-CN")
	}
	resp, body = do(t, http.MethodPost, loginURL+"/x", "", "", `{}`)
	checkJSONError(t, "POST "+loginURL+"/x", resp, body, http.StatusNotFound, "not_found", "")
}
