package middleware

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"

	"github.com/hongbao-go/hongbao"
	"github.com/hongbao-go/hongbao/transport"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

// catalogueCodes are the codes every answer of the package may carry; each
// must have both languages.
var catalogueCodes = []string{
	"missing_token", "malformed_authorization", "authorization_too_large", "token_expired",
	"token_not_yet_valid", "token_issued_in_future", "token_missing_exp", "invalid_issuer",
	"invalid_audience", "unknown_key", "invalid_algorithm", "missing_openid", "invalid_token",
	"malformed_body", "rate_limited", "method_not_allowed", "not_found",
	"outcome_unknown", "rate_limited_upstream", "risk_control", "user_limit_reached",
	"grant_conflict", "merchant_unavailable", "send_failed", "platform_rejected", "platform_error",
	"internal_error", "policy_error", "in_progress", "claim_window_expired", "body_too_large",
	"refused", "scene_not_supported", "attempts_exhausted", "budget_exhausted", "budget_unavailable",
	"scene_required",
}

func hasHan(s string) bool {
	for _, r := range s {
		if unicode.Is(unicode.Han, r) {
			return true
		}
	}
	return false
}

func TestCatalogueHasBothLanguages(t *testing.T) {
	for _, code := range catalogueCodes {
		m, ok := messages[code]
		if !ok {
			t.Errorf("%s: not in the catalogue", code)
			continue
		}
		if m.en == "" || hasHan(m.en) || strings.ContainsAny(m.en, `"\`) {
			t.Errorf("%s: English %q", code, m.en)
		}
		if !hasHan(m.zh) || strings.ContainsAny(m.zh, `"\`) {
			t.Errorf("%s: Chinese %q is not Chinese", code, m.zh)
		}
		if n := utf8.RuneCountInString(m.zh); n > 20 {
			t.Errorf("%s: Chinese %q has %d characters, too long for a dialog", code, m.zh, n)
		}
	}
	if len(messages) != len(catalogueCodes) {
		t.Errorf("the catalogue has %d codes, the test knows %d", len(messages), len(catalogueCodes))
	}
}

// Every code this package can write is in the catalogue: the table of
// authentication errors, and every classification of a tap's error.
func TestCatalogueCoversEveryCode(t *testing.T) {
	for _, e := range errorTable {
		if _, ok := messages[e.code]; !ok {
			t.Errorf("errorTable code %s is not in the catalogue", e.code)
		}
	}
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
	for _, err := range errs {
		e := classify(err)
		if _, ok := messages[e.Code]; !ok {
			t.Errorf("%v: code %s is not in the catalogue", err, e.Code)
		}
		zh, lang := localize(Chinese, e.Code, e.Message)
		if lang != Chinese || !hasHan(zh) {
			t.Errorf("%v: %q in Chinese is %q (%s)", err, e.Message, zh, lang)
		}
	}
}

func TestPreferredLanguage(t *testing.T) {
	cases := []struct {
		header []string
		want   Language
	}{
		{nil, English},
		{[]string{""}, English},
		{[]string{"zh-CN"}, Chinese},
		{[]string{"zh"}, Chinese},
		{[]string{"zh-Hans"}, Chinese},
		{[]string{"zh-Hans-CN"}, Chinese},
		{[]string{"zh-TW"}, Chinese},
		{[]string{"zh_CN"}, Chinese}, // as WeChat reports it
		{[]string{"ZH-cn"}, Chinese},
		{[]string{"zh-CN,zh;q=0.9,en;q=0.8"}, Chinese},
		{[]string{"zh;q=0.9,en;q=0.8"}, Chinese},
		{[]string{"en;q=0.8, zh;q=0.9"}, Chinese},
		{[]string{"en-US"}, English},
		{[]string{"en-US,en;q=0.9,zh-CN;q=0.8"}, English},
		{[]string{"en, zh"}, English}, // equal weights: the first listed
		{[]string{"zh, en"}, Chinese}, // equal weights: the first listed
		{[]string{"zh;q=0.5, en;q=0.500"}, Chinese},
		{[]string{"fr-FR, zh;q=0.1"}, Chinese},
		{[]string{"fr-FR, de"}, English}, // nothing of the catalogue: default
		{[]string{"*"}, English},         // anything: default
		{[]string{"en;q=0, *"}, Chinese}, // "*" is every language not listed
		{[]string{"zh;q=0, *"}, English}, // zh excluded
		{[]string{"zh;q=0"}, English},    // zh excluded, no other: default
		{[]string{"zh-TW;q=0, zh-CN"}, Chinese},
		{[]string{"fr", "zh-CN;q=0.7"}, Chinese}, // several header lines
		{[]string{" zh-CN ; q=0.7 , en ;q=0.6"}, Chinese},
		{[]string{"zh;Q=0.7, en;q=0.6"}, Chinese},
		// Malformed ranges and weights are skipped.
		{[]string{"garbage!!"}, English},
		{[]string{";;;,,,"}, English},
		{[]string{"zh;q=2"}, English},
		{[]string{"zh;q=1.5, en;q=0.1"}, English},
		{[]string{"zh;q=abc"}, English},
		{[]string{"zh;q=0.1234"}, English},
		{[]string{"zh;q=.5"}, English},
		{[]string{"zh;q="}, English},
		{[]string{"zhongwen-CN"}, English}, // primary subtag over 8 letters
		{[]string{"z1"}, English},
		{[]string{"zh-"}, English},
		{[]string{"-zh"}, English},
		{[]string{"中文"}, English},
		{[]string{"zh\x00"}, English},
		{[]string{"en;q=0.1, zh;level=1"}, Chinese}, // unknown parameters are ignored
		{[]string{strings.Repeat("fr,", 10000) + "zh"}, Chinese},
	}
	for _, c := range cases {
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		for _, v := range c.header {
			r.Header.Add("Accept-Language", v)
		}
		name := strings.Join(c.header, " | ")
		if len(name) > 60 {
			name = name[:60] + "..."
		}
		if got := PreferredLanguage(r); got != c.want {
			t.Errorf("Accept-Language %q: %s, want %s", name, got, c.want)
		}
	}
	if got := PreferredLanguage(nil); got != English {
		t.Errorf("nil request: %s", got)
	}
}

func TestParseWeight(t *testing.T) {
	for s, want := range map[string]int{"0": 0, "1": 1000, "0.": 0, "0.5": 500, "0.05": 50, "0.005": 5, "1.0": 1000, "1.000": 1000, "0.999": 999} {
		if got, ok := parseWeight(s); !ok || got != want {
			t.Errorf("parseWeight(%q) = %d, %v; want %d", s, got, ok, want)
		}
	}
	for _, s := range []string{"", "2", "1.001", "0.0001", "-0", "0,5", "+1", "1e0", ".1", "01"} {
		if got, ok := parseWeight(s); ok {
			t.Errorf("parseWeight(%q) = %d, accepted", s, got)
		}
	}
}

func TestMessageAndLocalize(t *testing.T) {
	zh := httptest.NewRequest(http.MethodPost, "/", nil)
	zh.Header.Set("Accept-Language", "zh-CN")
	en := httptest.NewRequest(http.MethodPost, "/", nil)

	if got := Message("token_expired", zh); got != "登录已过期，请重新登录" {
		t.Errorf("Message(token_expired, zh) = %q", got)
	}
	if got := Message("token_expired", en); got != "the token has expired" {
		t.Errorf("Message(token_expired, en) = %q", got)
	}
	if got := Message("token_expired", nil); got != "the token has expired" {
		t.Errorf("Message(token_expired, nil) = %q", got)
	}
	if got := Message("campaign_over", zh); got != "" {
		t.Errorf("Message of an unknown code = %q", got)
	}

	cases := []struct {
		r             *http.Request
		code, message string
		want          string
	}{
		// A more specific English text is kept for English readers.
		{en, "invalid_token", "the token signature is invalid", "the token signature is invalid"},
		{zh, "invalid_token", "the token signature is invalid", "登录信息无效，请重新登录"},
		{en, "rate_limited", "", "too many requests; retry later"},
		{zh, "rate_limited", "", "操作太频繁，请稍后再试"},
		// The detail after the English text is kept.
		{zh, "policy_error", "the red packet could not be granted: send_name", "暂时无法发放红包，请稍后再试：send_name"},
		{en, "policy_error", "the red packet could not be granted: send_name", "the red packet could not be granted: send_name"},
		{zh, "policy_error", "the red packet could not be granted", "暂时无法发放红包，请稍后再试"},
		// Codes outside the catalogue keep their message.
		{zh, "campaign_over", "活动已结束", "活动已结束"},
		{zh, "campaign_over", "the campaign is over", "the campaign is over"},
		{nil, "send_failed", "the red packet could not be sent", "the red packet could not be sent"},
	}
	for _, c := range cases {
		if got := Localize(c.r, c.code, c.message); got != c.want {
			t.Errorf("Localize(%s, %q) = %q, want %q", c.code, c.message, got, c.want)
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
	key, err := HMACKey("", e.secret)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := NewAuthenticator(AuthConfig{Keys: []Key{key}})
	if err != nil {
		t.Fatal(err)
	}
	e.policy = func() (Grant, error) {
		return Grant{Key: "i18n", Amount: 100, SendName: "商店", Wishing: "恭喜发财", ActName: "新春", Remark: "谢谢"}, nil
	}
	cfg := HandlerConfig{
		SceneOptional: true,
		Client:        client,
		Policy:        PolicyFunc(func(context.Context, User, []byte) (Grant, error) { return e.policy() }),
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
	var eb errorBody
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
func (a i18nAnswer) check(t *testing.T, status int, code string, lang Language, want string) {
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
	if !headerHasToken(a.header, "Vary", "Accept-Language") {
		t.Errorf("%s: Vary %q", code, a.header.Values("Vary"))
	}
}

func zhOf(code string) string { return messages[code].zh }

// Every kind of answer of the claim route, through a real server, in
// Chinese; the same in English where the weights say so.
func TestClaimAnswersInChinese(t *testing.T) {
	const zh = "zh-CN,zh;q=0.9,en;q=0.8"
	e := newI18nEnv(t, func(c *HandlerConfig) { c.MaxBodyBytes = 64 })
	tok := e.token(t, nil)

	t.Run("routes", func(t *testing.T) {
		for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodOptions} {
			a := e.do(t, m, "/hongbao/send", tok, zh, "")
			a.check(t, 405, "method_not_allowed", Chinese, zhOf("method_not_allowed"))
			if got := a.header.Get("Allow"); got != "POST" {
				t.Errorf("%s: Allow %q", m, got)
			}
		}
		e.do(t, http.MethodGet, "/hongbao/send", "", "en;q=0.9, zh;q=0.8", "").
			check(t, 405, "method_not_allowed", English, "only POST is allowed")
		e.do(t, http.MethodPost, "/hongbao/send/x", tok, zh, "").check(t, 404, "not_found", Chinese, zhOf("not_found"))
		e.do(t, http.MethodGet, "/hongbao/send/", "", "", "").check(t, 404, "not_found", English, messages["not_found"].en)
	})

	t.Run("authentication", func(t *testing.T) {
		a := e.do(t, http.MethodPost, "/hongbao/send", "", zh, "")
		a.check(t, 401, "missing_token", Chinese, "请先登录")
		if got := a.header.Get("WWW-Authenticate"); got != "Bearer" {
			t.Errorf("WWW-Authenticate %q", got)
		}
		a = e.do(t, http.MethodPost, "/hongbao/send", e.token(t, jwt.MapClaims{"exp": time.Now().Add(-time.Hour).Unix()}), zh, "")
		a.check(t, 401, "token_expired", Chinese, zhOf("token_expired"))
		// The challenge stays ASCII: RFC 6750 allows nothing else there.
		if got := a.header.Get("WWW-Authenticate"); !strings.Contains(got, `error_description="the token has expired"`) {
			t.Errorf("WWW-Authenticate %q", got)
		}
		e.do(t, http.MethodPost, "/hongbao/send", tok+"x", zh, "").check(t, 401, "invalid_token", Chinese, zhOf("invalid_token"))
		e.do(t, http.MethodPost, "/hongbao/send", tok+"x", "en", "").check(t, 401, "invalid_token", English, "the token signature is invalid")
	})

	t.Run("body", func(t *testing.T) {
		e.do(t, http.MethodPost, "/hongbao/send", tok, zh, "{").check(t, 400, "malformed_body", Chinese, zhOf("malformed_body"))
		e.do(t, http.MethodPost, "/hongbao/send", tok, zh, `{"pad":"`+strings.Repeat("x", 100)+`"}`).
			check(t, 413, "body_too_large", Chinese, zhOf("body_too_large"))
	})

	t.Run("policy", func(t *testing.T) {
		e.policy = func() (Grant, error) { return Grant{}, &Refusal{Code: "campaign_over", Message: "活动已结束"} }
		// A policy's own text is sent as it is, in any language.
		e.do(t, http.MethodPost, "/hongbao/send", tok, "en", "").check(t, 403, "campaign_over", "", "活动已结束")
		e.policy = func() (Grant, error) { return Grant{}, &Refusal{Code: "rate_limited", Message: "come back tomorrow"} }
		e.do(t, http.MethodPost, "/hongbao/send", tok, zh, "").check(t, 403, "rate_limited", "", "come back tomorrow")
		e.policy = func() (Grant, error) { return Grant{}, &Refusal{Code: "campaign_over"} }
		e.do(t, http.MethodPost, "/hongbao/send", tok, zh, "").check(t, 403, "campaign_over", Chinese, zhOf("refused"))
		e.do(t, http.MethodPost, "/hongbao/send", tok, "", "").check(t, 403, "campaign_over", English, messages["refused"].en)
		e.policy = func() (Grant, error) { return Grant{}, ErrRefused }
		e.do(t, http.MethodPost, "/hongbao/send", tok, zh, "").check(t, 403, "refused", Chinese, zhOf("refused"))
		e.policy = func() (Grant, error) { return Grant{}, errors.New("db down") }
		e.do(t, http.MethodPost, "/hongbao/send", tok, zh, "").check(t, 500, "policy_error", Chinese, zhOf("policy_error"))
		e.policy = func() (Grant, error) {
			return Grant{Key: "i18n", Amount: 100, SendName: "商店", Wishing: "", ActName: "a", Remark: "r"}, nil
		}
		// The policy's mistake is the server's: no field for the client.
		e.do(t, http.MethodPost, "/hongbao/send", tok, zh, "").check(t, 500, "policy_error", Chinese, zhOf("policy_error"))
	})

	t.Run("platform", func(t *testing.T) {
		e.policy = func() (Grant, error) {
			return Grant{Key: "i18n", Amount: 100, SendName: "商店", Wishing: "恭喜发财", ActName: "新春", Remark: "谢谢"}, nil
		}
		onSend := func(path string, _ map[string]string) bool { return path == wxpaytest.PathSendMiniProgramHB }
		for _, c := range []struct {
			errCode string
			status  int
			code    string
		}{
			{"NOTENOUGH", 503, "merchant_unavailable"},
			{"SEND_FAILED", 502, "send_failed"},
			{"NO_AUTH", 403, "risk_control"},
			{"SENDNUM_LIMIT", 403, "user_limit_reached"},
			{"SIGN_ERROR", 502, "platform_rejected"},
			{"SOMETHING_NEW", 502, "platform_error"},
		} {
			e.host.Inject(wxpaytest.Fault{Match: onSend, ErrCode: c.errCode, ErrCodeDes: "PLATFORM TEXT"})
			e.do(t, http.MethodPost, "/hongbao/send", tok, zh, "").check(t, c.status, c.code, Chinese, zhOf(c.code))
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
	a.check(t, 429, "rate_limited", Chinese, zhOf("rate_limited"))
	if a.header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}

	h, err := NewHandler(HandlerConfig{SceneOptional: true, Client: &hongbao.Client{}, Policy: PolicyFunc(func(context.Context, User, []byte) (Grant, error) {
		return Grant{}, ErrRefused
	})})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	bare := &i18nEnv{url: srv.URL}
	bare.do(t, http.MethodGet, "/", "", "zh-Hans", "").check(t, 405, "method_not_allowed", Chinese, zhOf("method_not_allowed"))
	// Mounted without the middleware: the server's misconfiguration.
	bare.do(t, http.MethodPost, "/", "", "zh-Hans", "").check(t, 500, "internal_error", Chinese, zhOf("internal_error"))
}

// FuzzPreferredLanguage: any header gives a language of the catalogue, and
// Chinese only when a range names zh.
func FuzzPreferredLanguage(f *testing.F) {
	for _, s := range []string{"", "zh-CN,zh;q=0.9,en;q=0.8", "en;q=0, *", "zh_TW;q=0.5", "*;q=0.1, fr", "zh;q=1.000", ";;,", "zh-Hans-CN-x-private"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		got := preferredLanguage([]string{header})
		if got != English && got != Chinese {
			t.Fatalf("%q: %q", header, got)
		}
		if got == Chinese && !strings.Contains(strings.ToLower(header), "zh") && !strings.Contains(header, "*") {
			t.Fatalf("%q: Chinese without a zh or * range", header)
		}
	})
}
