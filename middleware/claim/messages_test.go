package claim

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/golang-jwt/jwt/v5"

	"github.com/hongbao-go/hongbao"
	"github.com/hongbao-go/hongbao/middleware/httperr"
	"github.com/hongbao-go/hongbao/middleware/jwtauth"
	"github.com/hongbao-go/hongbao/rail"
	"github.com/hongbao-go/hongbao/transport"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

// zhRequest prefers Chinese.
var zhRequest = func() *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/", nil)
	r.Header.Set("Accept-Language", "zh-CN")
	return r
}()

func hasHan(s string) bool {
	for _, r := range s {
		if unicode.Is(unicode.Han, r) {
			return true
		}
	}
	return false
}

// Every code this package can write is in the catalogue: every
// classification of a tap's error.
func TestCatalogueCoversEveryCode(t *testing.T) {
	errs := []error{
		errors.New("unexpected"),
		&hongbao.ValidationError{Field: "wishing"},
		hongbao.ErrInvalidRequest,
		&hongbao.Error{Unknown: true},
	}
	for _, s := range []error{hongbao.ErrFrequency, hongbao.ErrNoAuth, hongbao.ErrSendNumLimit,
		hongbao.ErrReceivedAmountLimit, hongbao.ErrFatal, hongbao.ErrNotEnough, hongbao.ErrSendAmountLimit,
		hongbao.ErrAPIMethodClosed, hongbao.ErrProductAuthorityUnopen, hongbao.ErrSendFailed, hongbao.ErrCA,
		hongbao.ErrSign, hongbao.ErrXML, hongbao.ErrParam, hongbao.ErrMoneyLimit, hongbao.ErrIllegalAppID,
		hongbao.ErrOpenID, hongbao.ErrMsgAppID, hongbao.ErrAcceptMode, hongbao.ErrReturnFail} {
		errs = append(errs, &hongbao.Error{ErrCode: "X", Err: s})
	}
	errs = append(errs, &hongbao.Error{ErrCode: "SOMETHING_NEW"})
	for _, st := range []rail.State{rail.Unknown, rail.NotFound, rail.Pending, rail.Waiting, rail.Paid, rail.Closed,
		rail.Returned, rail.Cancelled, rail.Conflict, rail.Failed, rail.RefusedMerchant, rail.RefusedUser,
		rail.RefusedRisk, rail.Throttled, rail.Rejected, rail.Invalid, rail.Unrecognized} {
		errs = append(errs, &rail.Error{State: st})
	}
	for _, err := range errs {
		e := classify(err)
		if httperr.Message(e.Code, nil) == "" {
			t.Errorf("%v: code %s is not in the catalogue", err, e.Code)
		}
		zh, lang := httperr.LocalizeTo(httperr.Chinese, e.Code, e.Message)
		if lang != httperr.Chinese || !hasHan(zh) {
			t.Errorf("%v: %q in Chinese is %q (%s)", err, e.Message, zh, lang)
		}
	}
}

// i18nEnv is the claim route on a real server, mounted with Mount, with a
// policy the test sets.
type i18nEnv struct {
	host   *wxpaytest.Server
	url    string
	secret []byte
	policy func() (Grant, error)
}

func newI18nEnv(t *testing.T, mod func(*HandlerConfig)) *i18nEnv {
	t.Helper()
	e := &i18nEnv{secret: []byte("i18n-test-secret-of-at-least-32-bytes")}
	e.host = wxpaytest.Start(t, wxpaytest.Options{})
	client, err := hongbao.New(hongbao.Config{
		AppID: e.host.AppID,
		Transport: transport.Config{
			MchID: e.host.MchID, APIKey: e.host.APIKey,
			CertPEM: e.host.ClientCertPEM(), KeyPEM: e.host.ClientKeyPEM(),
			RootCAPEM: e.host.CACertPEM(), BaseURL: e.host.URL,
		},
		BillnoKey: []byte("i18n-test-billno-key"),
		Retry:     hongbao.RetryPolicy{Attempts: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	key, err := jwtauth.HMACKey("", e.secret)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := jwtauth.NewAuthenticator(jwtauth.Config{Keys: []jwtauth.Key{key}})
	if err != nil {
		t.Fatal(err)
	}
	e.policy = func() (Grant, error) {
		return Grant{Key: "i18n", Payout: rail.Payout{Amount: 100, SendName: "商店", Wishing: "恭喜发财",
			ActName: "新春", Remark: "谢谢"}}, nil
	}
	cfg := HandlerConfig{
		SceneOptional: true,
		Client:        client,
		Policy:        PolicyFunc(func(context.Context, jwtauth.User, []byte) (Grant, error) { return e.policy() }),
		RateLimit:     -1,
	}
	if mod != nil {
		mod(&cfg)
	}
	h, err := NewHandler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	Mount(mux, "/hongbao/send", auth, h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	e.url = srv.URL
	return e
}

func (e *i18nEnv) token(t *testing.T, claims jwt.MapClaims) string {
	t.Helper()
	now := time.Now()
	c := jwt.MapClaims{"sub": "oI18nUser", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	for k, v := range claims {
		c[k] = v
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(e.secret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type i18nAnswer struct {
	status  int
	header  http.Header
	code    string
	message string
}

func (e *i18nEnv) do(t *testing.T, method, path, token, lang, body string) i18nAnswer {
	t.Helper()
	req, err := http.NewRequest(method, e.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if lang != "" {
		req.Header.Set("Accept-Language", lang)
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
	var eb struct{ Code, Message string }
	if method != http.MethodHead && resp.StatusCode >= 400 {
		dec := json.NewDecoder(strings.NewReader(string(b)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&eb); err != nil {
			t.Fatalf("%s %s: body %q: %v", method, path, b, err)
		}
	}
	return i18nAnswer{resp.StatusCode, resp.Header, eb.Code, eb.Message}
}

// check checks an answer in the language lang: the code, the catalogue's
// message (with want's detail) and the headers saying so.
func (a i18nAnswer) check(t *testing.T, status int, code string, lang httperr.Language, want string) {
	t.Helper()
	if a.status != status || a.code != code {
		t.Fatalf("status %d code %q, want %d %q (message %q)", a.status, a.code, status, code, a.message)
	}
	if a.message != want {
		t.Errorf("%s: message %q, want %q", code, a.message, want)
	}
	if ct := a.header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("%s: Content-Type %q", code, ct)
	}
	if got := a.header.Get("Content-Language"); got != string(lang) {
		t.Errorf("%s: Content-Language %q, want %q", code, got, lang)
	}
	if !slices.Contains(a.header.Values("Vary"), "Accept-Language") {
		t.Errorf("%s: Vary %q", code, a.header.Values("Vary"))
	}
}

func zhOf(code string) string { return httperr.Message(code, zhRequest) }

// Every kind of answer of the claim route, through a real server, in
// Chinese; the same in English where the weights say so.
func TestClaimAnswersInChinese(t *testing.T) {
	const zh = "zh-CN,zh;q=0.9,en;q=0.8"
	e := newI18nEnv(t, func(c *HandlerConfig) { c.MaxBodyBytes = 64 })
	tok := e.token(t, nil)

	t.Run("routes", func(t *testing.T) {
		for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodOptions} {
			a := e.do(t, m, "/hongbao/send", tok, zh, "")
			a.check(t, 405, "method_not_allowed", httperr.Chinese, zhOf("method_not_allowed"))
			if got := a.header.Get("Allow"); got != "POST" {
				t.Errorf("%s: Allow %q", m, got)
			}
		}
		e.do(t, http.MethodGet, "/hongbao/send", "", "en;q=0.9, zh;q=0.8", "").
			check(t, 405, "method_not_allowed", httperr.English, "only POST is allowed")
		e.do(t, http.MethodPost, "/hongbao/send/x", tok, zh, "").check(t, 404, "not_found", httperr.Chinese, zhOf("not_found"))
		e.do(t, http.MethodGet, "/hongbao/send/", "", "", "").check(t, 404, "not_found", httperr.English, httperr.Message("not_found", nil))
	})

	t.Run("authentication", func(t *testing.T) {
		a := e.do(t, http.MethodPost, "/hongbao/send", "", zh, "")
		a.check(t, 401, "missing_token", httperr.Chinese, "请先登录")
		if got := a.header.Get("WWW-Authenticate"); got != "Bearer" {
			t.Errorf("WWW-Authenticate %q", got)
		}
		a = e.do(t, http.MethodPost, "/hongbao/send", e.token(t, jwt.MapClaims{"exp": time.Now().Add(-time.Hour).Unix()}), zh, "")
		a.check(t, 401, "token_expired", httperr.Chinese, zhOf("token_expired"))
		// The challenge stays ASCII: RFC 6750 allows nothing else there.
		if got := a.header.Get("WWW-Authenticate"); !strings.Contains(got, `error_description="the token has expired"`) {
			t.Errorf("WWW-Authenticate %q", got)
		}
		e.do(t, http.MethodPost, "/hongbao/send", tok+"x", zh, "").check(t, 401, "invalid_token", httperr.Chinese, zhOf("invalid_token"))
		e.do(t, http.MethodPost, "/hongbao/send", tok+"x", "en", "").check(t, 401, "invalid_token", httperr.English, "the token signature is invalid")
	})

	t.Run("body", func(t *testing.T) {
		e.do(t, http.MethodPost, "/hongbao/send", tok, zh, "{").check(t, 400, "malformed_body", httperr.Chinese, zhOf("malformed_body"))
		e.do(t, http.MethodPost, "/hongbao/send", tok, zh, `{"pad":"`+strings.Repeat("x", 100)+`"}`).
			check(t, 413, "body_too_large", httperr.Chinese, zhOf("body_too_large"))
	})

	t.Run("policy", func(t *testing.T) {
		e.policy = func() (Grant, error) { return Grant{}, &Refusal{Code: "campaign_over", Message: "活动已结束"} }
		// A policy's own text is sent as it is, in any language.
		e.do(t, http.MethodPost, "/hongbao/send", tok, "en", "").check(t, 403, "campaign_over", "", "活动已结束")
		e.policy = func() (Grant, error) { return Grant{}, &Refusal{Code: "rate_limited", Message: "come back tomorrow"} }
		e.do(t, http.MethodPost, "/hongbao/send", tok, zh, "").check(t, 403, "rate_limited", "", "come back tomorrow")
		e.policy = func() (Grant, error) { return Grant{}, &Refusal{Code: "campaign_over"} }
		e.do(t, http.MethodPost, "/hongbao/send", tok, zh, "").check(t, 403, "campaign_over", httperr.Chinese, zhOf("refused"))
		e.do(t, http.MethodPost, "/hongbao/send", tok, "", "").check(t, 403, "campaign_over", httperr.English, httperr.Message("refused", nil))
		e.policy = func() (Grant, error) { return Grant{}, ErrRefused }
		e.do(t, http.MethodPost, "/hongbao/send", tok, zh, "").check(t, 403, "refused", httperr.Chinese, zhOf("refused"))
		e.policy = func() (Grant, error) { return Grant{}, errors.New("db down") }
		e.do(t, http.MethodPost, "/hongbao/send", tok, zh, "").check(t, 500, "policy_error", httperr.Chinese, zhOf("policy_error"))
		e.policy = func() (Grant, error) {
			return Grant{Key: "i18n", Payout: rail.Payout{Amount: 100, SendName: "商店", Wishing: "",
				ActName: "a", Remark: "r"}}, nil
		}
		// The policy's mistake is the server's: no field for the client.
		e.do(t, http.MethodPost, "/hongbao/send", tok, zh, "").check(t, 500, "policy_error", httperr.Chinese, zhOf("policy_error"))
	})

	t.Run("platform", func(t *testing.T) {
		e.policy = func() (Grant, error) {
			return Grant{Key: "i18n", Payout: rail.Payout{Amount: 100, SendName: "商店", Wishing: "恭喜发财",
				ActName: "新春", Remark: "谢谢"}}, nil
		}
		onSend := func(path string, _ map[string]string) bool { return path == wxpaytest.PathSendMiniProgramHB }
		for _, c := range []struct {
			errCode string
			status  int
			code    string
		}{
			{"SEND_FAILED", 502, "send_failed"},
			{"NO_AUTH", 403, "risk_control"},
			{"SENDNUM_LIMIT", 403, "user_limit_reached"},
			{"SIGN_ERROR", 502, "platform_rejected"},
			{"SOMETHING_NEW", 502, "platform_error"},
			// Last: the merchant's outage holds every user's sends back.
			{"NOTENOUGH", 503, "merchant_unavailable"},
		} {
			// A user each: a user's limit holds that user's sends back.
			tok := e.token(t, jwt.MapClaims{"sub": "oI18n" + c.errCode})
			e.host.Inject(wxpaytest.Fault{Match: onSend, ErrCode: c.errCode, ErrCodeDes: "PLATFORM TEXT"})
			e.do(t, http.MethodPost, "/hongbao/send", tok, zh, "").check(t, c.status, c.code, httperr.Chinese, zhOf(c.code))
		}
	})
}

// The rate limit and the handler's own 405 and 401 (without Mount and
// without the middleware) answer in Chinese too.
func TestHandlerAnswersInChinese(t *testing.T) {
	e := newI18nEnv(t, func(c *HandlerConfig) { c.RateLimit = 1 })
	tok := e.token(t, nil)
	if a := e.do(t, http.MethodPost, "/hongbao/send", tok, "", ""); a.status != http.StatusOK {
		t.Fatalf("first tap: %d %s", a.status, a.message)
	}
	a := e.do(t, http.MethodPost, "/hongbao/send", tok, "zh", "")
	a.check(t, 429, "rate_limited", httperr.Chinese, zhOf("rate_limited"))
	if a.header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}

	h, err := NewHandler(HandlerConfig{SceneOptional: true, Client: &hongbao.Client{}, Policy: PolicyFunc(func(context.Context, jwtauth.User, []byte) (Grant, error) {
		return Grant{}, ErrRefused
	})})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	bare := &i18nEnv{url: srv.URL}
	bare.do(t, http.MethodGet, "/", "", "zh-Hans", "").check(t, 405, "method_not_allowed", httperr.Chinese, zhOf("method_not_allowed"))
	// Mounted without the middleware: the server's misconfiguration.
	bare.do(t, http.MethodPost, "/", "", "zh-Hans", "").check(t, 500, "internal_error", httperr.Chinese, zhOf("internal_error"))
}
