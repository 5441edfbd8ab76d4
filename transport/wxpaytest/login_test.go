package wxpaytest_test

import (
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

// code2Session calls the login host as a server would.
func code2Session(t *testing.T, l *wxpaytest.LoginHost, client *http.Client, appid, secret, code string) map[string]any {
	t.Helper()
	q := url.Values{"appid": {appid}, "secret": {secret}, "js_code": {code}, "grant_type": {"authorization_code"}}
	resp, err := client.Get(l.URL + wxpaytest.PathCode2Session + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&out) != nil {
		t.Fatalf("status %d", resp.StatusCode)
	}
	return out
}

func TestLoginHost(t *testing.T) {
	host := wxpaytest.Start(t, wxpaytest.Options{})
	l := host.StartLoginHost(t, wxpaytest.LoginOptions{})
	if l.AppID != host.AppID || l.AppSecret != wxpaytest.DefaultAppSecret {
		t.Errorf("appid %s, secret %s", l.AppID, l.AppSecret)
	}
	// Trusted through the Server's CA, without a client certificate.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: host.RootCAs()}}}

	code := l.IssueCode(wxpaytest.LoginUser{OpenID: "oLoginHost_01", UnionID: "uLoginHost_01"})
	got := code2Session(t, l, client, l.AppID, l.AppSecret, code)
	if got["openid"] != "oLoginHost_01" || got["unionid"] != "uLoginHost_01" || got["session_key"] == "" || got["errcode"] != nil {
		t.Errorf("first exchange: %v", got)
	}
	if keys := l.SessionKeys(); len(keys) != 1 || keys[0] != got["session_key"] {
		t.Errorf("session keys %v", keys)
	}
	errcode := func(m map[string]any) int {
		f, _ := m["errcode"].(float64)
		return int(f)
	}
	if got := code2Session(t, l, client, l.AppID, l.AppSecret, code); errcode(got) != wxpaytest.LoginCodeUsed || got["openid"] != nil {
		t.Errorf("second exchange: %v", got)
	}
	code = l.IssueCode(wxpaytest.LoginUser{OpenID: "oLoginHost_02"})
	for _, c := range []struct {
		appid, secret, code string
		want                int
	}{
		{l.AppID, "wrong", code, wxpaytest.LoginInvalidSecret},
		{"wx0000000000000000", l.AppSecret, code, wxpaytest.LoginInvalidAppID},
		{l.AppID, l.AppSecret, "never-issued", wxpaytest.LoginInvalidCode},
	} {
		if got := code2Session(t, l, client, c.appid, c.secret, c.code); errcode(got) != c.want {
			t.Errorf("%+v: %v", c, got)
		}
	}
	// Injected errcodes come first, once each, and leave the code usable.
	l.Inject(wxpaytest.LoginBusy)
	l.Inject(wxpaytest.LoginHighRisk)
	for _, want := range []int{wxpaytest.LoginBusy, wxpaytest.LoginHighRisk} {
		if got := code2Session(t, l, client, l.AppID, l.AppSecret, code); errcode(got) != want || got["errmsg"] == "" {
			t.Errorf("injected %d: %v", want, got)
		}
	}
	got = code2Session(t, l, client, l.AppID, l.AppSecret, code)
	if got["openid"] != "oLoginHost_02" || got["unionid"] != nil {
		t.Errorf("after the faults: %v", got)
	}
	if l.Calls() != 8 {
		t.Errorf("%d calls", l.Calls())
	}
	// Codes over HTTP, for clients outside Go.
	resp, err := client.Get(l.URL + wxpaytest.PathIssueCode + "?openid=oLoginHost_03&unionid=uLoginHost_03")
	if err != nil {
		t.Fatal(err)
	}
	var issued struct{ Code string }
	if err := json.NewDecoder(resp.Body).Decode(&issued); err != nil || resp.StatusCode != http.StatusOK || issued.Code == "" {
		t.Fatalf("%s: %d %v", wxpaytest.PathIssueCode, resp.StatusCode, err)
	}
	resp.Body.Close()
	if got := code2Session(t, l, client, l.AppID, l.AppSecret, issued.Code); got["openid"] != "oLoginHost_03" || got["unionid"] != "uLoginHost_03" {
		t.Errorf("a code over HTTP: %v", got)
	}
	if resp, err := client.Get(l.URL + wxpaytest.PathIssueCode); err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Errorf("no openid: %v %v", resp, err)
	}
	// A client that does not trust the CA cannot connect.
	if _, err := http.Get(l.URL + wxpaytest.PathCode2Session); err == nil {
		t.Error("an untrusting client connected")
	}
}
