// Package adaptertest is the test bed shared by the adapter tests: a fake
// platform over mutual TLS, a hongbao.Client, an Authenticator with an HS256
// secret, the red-packet handler, and checks of its answers.
package adaptertest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/hongbao-go/hongbao"
	"github.com/hongbao-go/hongbao/middleware/claim"
	"github.com/hongbao-go/hongbao/middleware/httperr"
	"github.com/hongbao-go/hongbao/middleware/jwtauth"
	"github.com/hongbao-go/hongbao/rail"
	"github.com/hongbao-go/hongbao/signer"
	"github.com/hongbao-go/hongbao/transport"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

// Campaign is the grant key of the test policy, which grants every user
// one red packet of Amount fen.
const (
	Campaign = "adapter-test"
	Amount   = 150
)

// Env is one test bed.
type Env struct {
	Host    *wxpaytest.Server
	Client  *hongbao.Client
	Auth    *jwtauth.Authenticator
	Handler http.Handler
	secret  []byte
}

// New builds an Env whose parts are closed in t.Cleanup.
func New(t testing.TB) *Env {
	t.Helper()
	host := wxpaytest.Start(t, wxpaytest.Options{})
	client, err := hongbao.New(hongbao.Config{
		AppID: host.AppID,
		Transport: transport.Config{
			MchID:     host.MchID,
			APIKey:    host.APIKey,
			CertPEM:   host.ClientCertPEM(),
			KeyPEM:    host.ClientKeyPEM(),
			RootCAPEM: host.CACertPEM(),
			BaseURL:   host.URL,
		},
		BillnoKey: []byte("adapter-test-billno-key"),
		Retry:     hongbao.RetryPolicy{BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("adapter-test-secret-of-32-bytes!")
	key, err := jwtauth.HMACKey("", secret)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := jwtauth.NewAuthenticator(jwtauth.Config{Keys: []jwtauth.Key{key}})
	if err != nil {
		t.Fatal(err)
	}
	h, err := claim.NewHandler(claim.HandlerConfig{
		SceneOptional: true, // some adapter tests tap without a scene
		Client:        client,
		Policy: claim.PolicyFunc(func(context.Context, jwtauth.User, []byte) (claim.Grant, error) {
			return claim.Grant{
				Key: Campaign,
				Payout: rail.Payout{
					Amount:   Amount,
					SendName: "adapter test",
					Wishing:  "恭喜发财",
					ActName:  "adapter test",
					Remark:   "adapter test",
				},
			}, nil
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	return &Env{Host: host, Client: client, Auth: auth, Handler: h, secret: secret}
}

// Token returns an HS256 token for openID, valid for an hour.
func (e *Env) Token(t testing.TB, openID string) string {
	t.Helper()
	now := time.Now()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": openID,
		"iat": now.Unix(),
		"exp": now.Add(time.Hour).Unix(),
	}).SignedString(e.secret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Do sends method url with the bearer token (none when empty) and a JSON
// body, and returns the response with its body read.
func Do(t testing.TB, method, url, token, body string) (*http.Response, []byte) {
	t.Helper()
	return do(t, method, url, token, "", body)
}

// CheckClaim checks a successful claim answer for openID: 200, exactly the
// five fields of wx.sendBizRedPacket, the package the host paid, and a
// paySign that verifies under the default rule. It returns the parsed answer.
func (e *Env) CheckClaim(t testing.TB, resp *http.Response, body []byte, openID string) signer.BizRedPacket {
	t.Helper()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200; body %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var fields map[string]any
	if err := json.Unmarshal(body, &fields); err != nil {
		t.Fatalf("body %s: %v", body, err)
	}
	for _, k := range []string{"timeStamp", "nonceStr", "package", "signType", "paySign"} {
		if s, _ := fields[k].(string); s == "" {
			t.Errorf("field %q missing or empty in %s", k, body)
		}
	}
	if len(fields) != 6 || fields["rail"] != "redpacket" {
		t.Errorf("%d fields, want the rail's name and the five: %s", len(fields), body)
	}
	var p signer.BizRedPacket
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&p); err != nil {
		t.Fatal(err)
	}
	billno, err := e.Client.Billno(Campaign, openID)
	if err != nil {
		t.Fatal(err)
	}
	pkt, ok := e.Host.Packet(billno)
	if !ok {
		t.Fatalf("the host has no packet %s", billno)
	}
	if pkt.OpenID != openID || pkt.Amount != Amount {
		t.Errorf("host packet for %s, %d fen; want %s, %d", pkt.OpenID, pkt.Amount, openID, Amount)
	}
	raw, err := url.PathUnescape(p.Package)
	if err != nil {
		t.Fatalf("package %q is not URL-encoded: %v", p.Package, err)
	}
	if raw != pkt.Package {
		t.Errorf("package %q decodes to %q, the host paid %q", p.Package, raw, pkt.Package)
	}
	s, err := signer.New(e.Host.APIKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.VerifyBizRedPacket(e.Host.AppID, p, signer.EncodedLowerRule); err != nil {
		t.Errorf("signType %q paySign %q: %v", p.SignType, p.PaySign, err)
	}
	return p
}

// CheckUnauthorized checks the answer to a request without a token: 401, a
// Bearer challenge and the JSON error body.
func CheckUnauthorized(t testing.TB, resp *http.Response, body []byte) {
	t.Helper()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status %d, want 401; body %s", resp.StatusCode, body)
	}
	if got := resp.Header.Get("WWW-Authenticate"); got != "Bearer" {
		t.Errorf("WWW-Authenticate %q, want %q", got, "Bearer")
	}
	var e struct{ Code, Message string }
	if err := json.Unmarshal(body, &e); err != nil || e.Code != "missing_token" || e.Message == "" {
		t.Errorf("body %s, want {code: missing_token, message}", body)
	}
}

// Sends returns how many sends of openID's bill number reached the host.
func (e *Env) Sends(t testing.TB, openID string) int {
	t.Helper()
	billno, err := e.Client.Billno(Campaign, openID)
	if err != nil {
		t.Fatal(err)
	}
	return e.Host.Sends(billno)
}

// CheckClaimAndRepeat claims a red packet at claimURL twice with a token
// for openID: both answers must be valid, carry the same package, and the
// host must have seen one send.
func (e *Env) CheckClaimAndRepeat(t testing.TB, claimURL, openID string) {
	t.Helper()
	tok := e.Token(t, openID)
	resp, body := Do(t, http.MethodPost, claimURL, tok, `{"scene":1047}`)
	first := e.CheckClaim(t, resp, body, openID)
	resp, body = Do(t, http.MethodPost, claimURL, tok, `{"scene":1047}`)
	again := e.CheckClaim(t, resp, body, openID)
	if again.Package != first.Package {
		t.Errorf("repeat tap package %q, first %q", again.Package, first.Package)
	}
	if n := e.Sends(t, openID); n != 1 {
		t.Errorf("host saw %d sends, want 1", n)
	}
}

// CheckNoToken posts to claimURL without a token: 401 with a challenge,
// and nothing reaches the host.
func (e *Env) CheckNoToken(t testing.TB, claimURL string) {
	t.Helper()
	resp, body := Do(t, http.MethodPost, claimURL, "", `{}`)
	CheckUnauthorized(t, resp, body)
	if n := len(e.Host.Requests()); n != 0 {
		t.Errorf("the host saw %d calls", n)
	}
}

// otherMethods are the methods a mini program's wx.request can send, but
// POST (CONNECT aside, which no route takes).
var otherMethods = []string{
	http.MethodGet, http.MethodHead, http.MethodPut, http.MethodPatch,
	http.MethodDelete, http.MethodOptions, http.MethodTrace,
}

// CheckRouteAnswers checks the answers of a claim route mounted at
// claimURL that the red-packet handler does not give: every other method
// is answered 405 with "Allow: POST" and the JSON error body
// method_not_allowed, before authentication, and the paths under claimURL
// 404 not_found; messages are in the language asked for (English by
// default, Chinese for zh-CN), and nothing reaches the host.
func (e *Env) CheckRouteAnswers(t testing.TB, claimURL string) {
	t.Helper()
	tok := e.Token(t, "oRouteCheck_0001")
	for _, m := range otherMethods {
		for _, c := range []struct{ token, lang string }{{"", ""}, {tok, ""}, {"", "zh-CN,zh;q=0.9,en;q=0.8"}, {tok, "en-US,zh;q=0.5"}} {
			resp, body := do(t, m, claimURL, c.token, c.lang, "")
			checkJSONError(t, m+" "+claimURL, resp, body, http.StatusMethodNotAllowed, "method_not_allowed", c.lang)
			if got := resp.Header.Values("Allow"); len(got) != 1 || got[0] != http.MethodPost {
				t.Errorf("%s %s: Allow %q, want POST", m, claimURL, got)
			}
			if got := resp.Header.Get("WWW-Authenticate"); got != "" {
				t.Errorf("%s %s: WWW-Authenticate %q: authenticated before the method was checked", m, claimURL, got)
			}
		}
	}
	for _, sub := range []string{"/x", "/x/y"} {
		for _, m := range []string{http.MethodGet, http.MethodPost} {
			for _, lang := range []string{"", "zh-CN"} {
				resp, body := do(t, m, claimURL+sub, tok, lang, `{}`)
				checkJSONError(t, m+" "+claimURL+sub, resp, body, http.StatusNotFound, "not_found", lang)
			}
		}
	}
	if n := len(e.Host.Requests()); n != 0 {
		t.Errorf("the host saw %d calls", n)
	}
}

// checkJSONError checks an answer in the package's JSON error shape, with
// the catalogue's message for code in the language of acceptLanguage.
func checkJSONError(t testing.TB, what string, resp *http.Response, body []byte, status int, code, acceptLanguage string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Errorf("%s: status %d, want %d; body %q", what, resp.StatusCode, status, body)
		return
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("%s: Content-Type %q, want application/json; charset=utf-8", what, ct)
	}
	req, _ := http.NewRequest(http.MethodGet, "/", nil)
	if acceptLanguage != "" {
		req.Header.Set("Accept-Language", acceptLanguage)
	}
	lang := httperr.PreferredLanguage(req)
	if got := resp.Header.Get("Content-Language"); got != string(lang) {
		t.Errorf("%s: Content-Language %q, want %q", what, got, lang)
	}
	if resp.Request.Method == http.MethodHead {
		return
	}
	var e struct{ Code, Message string }
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil || dec.More() {
		t.Errorf("%s: body %q is not one {code, message} object (%v)", what, body, err)
		return
	}
	if want := httperr.Message(code, req); e.Code != code || e.Message != want {
		t.Errorf("%s: body %q, want code %q and message %q", what, body, code, want)
	}
}

// do is Do with an Accept-Language header (none when empty).
func do(t testing.TB, method, url, token, acceptLanguage, body string) (*http.Response, []byte) {
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
	if acceptLanguage != "" {
		req.Header.Set("Accept-Language", acceptLanguage)
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
