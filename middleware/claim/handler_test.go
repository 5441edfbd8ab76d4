package claim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/hongbao-go/hongbao"
	"github.com/hongbao-go/hongbao/middleware/jwtauth"
	"github.com/hongbao-go/hongbao/rail"
	"github.com/hongbao-go/hongbao/signer"
	"github.com/hongbao-go/hongbao/store"
	"github.com/hongbao-go/hongbao/transport"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

const sendPath = "/hongbao/send"

var testBillnoKey = []byte("middleware-test-billno-key")

// testAttempts is the client's number of attempts per send in these tests.
const testAttempts = 3

func testGrant() Grant {
	return Grant{
		Key: "spring-2026",
		Payout: rail.Payout{
			Amount:   100,
			SendName: "天虹百货",
			Wishing:  "恭喜发财，大吉大利",
			ActName:  "新春红包",
			Remark:   "快来抢",
		},
	}
}

// syncBuffer collects log output from many goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newTestClient builds a client for host over real mutual TLS, with small
// retry delays.
func newTestClient(t testing.TB, host *wxpaytest.Server, logger *slog.Logger) *hongbao.Client {
	t.Helper()
	cert := host.ClientCertificate()
	c, err := hongbao.New(hongbao.Config{
		AppID: host.AppID,
		Transport: transport.Config{
			MchID:       host.MchID,
			APIKey:      host.APIKey,
			Certificate: &cert,
			RootCAs:     host.RootCAs(),
			BaseURL:     host.URL,
		},
		Retry: hongbao.RetryPolicy{
			Attempts:        testAttempts,
			BaseDelay:       time.Millisecond,
			MaxDelay:        5 * time.Millisecond,
			AttemptTimeout:  5 * time.Second,
			ProcessingDelay: 20 * time.Millisecond,
		},
		BillnoKey: testBillnoKey,
		Logger:    logger,
	})
	if err != nil {
		t.Fatalf("hongbao.New: %v", err)
	}
	return c
}

// hbEnv is a fake platform host, a client for it, and the handler mounted
// behind the JWT middleware on a real HTTP server.
type hbEnv struct {
	host    *wxpaytest.Server
	client  *hongbao.Client
	auth    *jwtauth.Authenticator
	store   store.Store
	srv     *httptest.Server
	handler *Handler
	logs    *syncBuffer
	grant   atomic.Pointer[Grant]
	token   string // a valid token for testOpenID
}

// newEnv starts an environment; mod adjusts the handler configuration
// (rate limiting is off unless mod sets it).
func newEnv(t *testing.T, hostOpts wxpaytest.Options, mod func(*HandlerConfig)) *hbEnv {
	t.Helper()
	e := &hbEnv{logs: &syncBuffer{}}
	logger := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.host = wxpaytest.Start(t, hostOpts)
	e.client = newTestClient(t, e.host, logger)
	e.auth = newAuth(t, mixedKeys(getKeys()), nil)
	g := testGrant()
	e.grant.Store(&g)
	cfg := HandlerConfig{
		SceneOptional: true,
		Client:        e.client,
		Policy:        PolicyFunc(func(context.Context, jwtauth.User, []byte) (Grant, error) { return *e.grant.Load(), nil }),
		RateLimit:     -1,
		Logger:        logger,
	}
	if mod != nil {
		mod(&cfg)
	}
	if cfg.Store == nil {
		cfg.Store = store.NewMemoryStore()
	}
	e.store = cfg.Store
	e.srv, e.handler = e.mount(t, cfg)
	// A capped campaign's account is opened at its first configuration.
	for _, c := range e.handler.Campaigns() {
		_, _ = e.handler.OpenBudget(context.Background(), c)
	}
	e.token = e.tokenFor(t, testOpenID)
	return e
}

// mount serves a handler built from cfg behind the environment's
// authenticator, on its own server (a replica).
func (e *hbEnv) mount(t *testing.T, cfg HandlerConfig) (*httptest.Server, *Handler) {
	t.Helper()
	h, err := NewHandler(cfg)
	if err != nil {
		t.Fatalf("NewHandler: %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle(sendPath, e.auth.Middleware(h))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, h
}

func (e *hbEnv) tokenFor(t testing.TB, openID string) string {
	return sign(t, jwt.SigningMethodHS256, getKeys().hmac, "", goodClaims(map[string]any{"sub": openID}))
}

func (e *hbEnv) billno(t testing.TB, key, openID string) string {
	t.Helper()
	b, err := e.client.Billno(key, openID)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sendRequests returns the host's records of sendminiprogramhb calls.
func (e *hbEnv) sendRequests() []wxpaytest.Request {
	var out []wxpaytest.Request
	for _, r := range e.host.Requests() {
		if r.Path == wxpaytest.PathSendMiniProgramHB {
			out = append(out, r)
		}
	}
	return out
}

var tapClient = &http.Client{
	Transport: &http.Transport{MaxIdleConnsPerHost: 64},
	Timeout:   30 * time.Second,
}

// post sends one tap; it is safe to call from any goroutine.
func post(ctx context.Context, url, token, body string) (response, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, rd)
	if err != nil {
		return response{}, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := tapClient.Do(req)
	if err != nil {
		return response{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return response{}, err
	}
	return response{res.StatusCode, res.Header, string(b)}, nil
}

func (e *hbEnv) tapOn(t testing.TB, srv *httptest.Server, token, body string) response {
	t.Helper()
	res, err := post(context.Background(), srv.URL+sendPath, token, body)
	if err != nil {
		t.Fatalf("tap: %v", err)
	}
	return res
}

func (e *hbEnv) tap(t testing.TB, token, body string) response {
	t.Helper()
	return e.tapOn(t, e.srv, token, body)
}

// checkParams checks a 200 answer against the host's packet for billno and
// returns the parameters: exactly the rail's name and the five fields,
// package URL-encoded as the host issued it, paySign verified under the
// default rule.
func (e *hbEnv) checkParams(t testing.TB, res response, billno string) signer.BizRedPacket {
	t.Helper()
	if res.status != http.StatusOK {
		t.Fatalf("status %d, body %s", res.status, res.body)
	}
	if v := res.header.Get("Cache-Control"); v != "no-store" {
		t.Errorf("Cache-Control = %q", v)
	}
	if v := res.header.Get("Content-Type"); v != "application/json; charset=utf-8" {
		t.Errorf("Content-Type = %q", v)
	}
	var fields map[string]any
	if err := json.Unmarshal([]byte(res.body), &fields); err != nil {
		t.Fatalf("body %q: %v", res.body, err)
	}
	if len(fields) != 6 || fields["rail"] != "redpacket" {
		t.Errorf("body has %d fields, want 6 with rail redpacket: %s", len(fields), res.body)
	}
	for _, k := range []string{"timeStamp", "nonceStr", "package", "signType", "paySign"} {
		if _, ok := fields[k].(string); !ok {
			t.Errorf("field %s missing or not a string: %s", k, res.body)
		}
	}
	var p signer.BizRedPacket
	if err := json.Unmarshal([]byte(res.body), &p); err != nil {
		t.Fatal(err)
	}
	pkt, ok := e.host.Packet(billno)
	if !ok {
		t.Fatalf("the host has no packet %s", billno)
	}
	if p.Package != signer.EncodeURIComponent(pkt.Package) || strings.Contains(p.Package, "&") {
		t.Errorf("package = %q, want the URL-encoded %q", p.Package, pkt.Package)
	}
	if p.SignType != "MD5" {
		t.Errorf("signType = %q", p.SignType)
	}
	if n := len(p.NonceStr); n == 0 || n > 32 {
		t.Errorf("nonceStr %q", p.NonceStr)
	}
	if _, err := strconv.ParseInt(p.TimeStamp, 10, 64); err != nil {
		t.Errorf("timeStamp %q", p.TimeStamp)
	}
	sg, err := signer.New(e.host.APIKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := sg.VerifyBizRedPacket(e.host.AppID, p, signer.EncodedLowerRule); err != nil {
		t.Errorf("paySign %s: %v", p.PaySign, err)
	}
	return p
}

// checkError checks an error answer: status, JSON body with code, and a
// Retry-After header when wantRetry.
func checkError(t testing.TB, res response, status int, code string, wantRetry bool) {
	t.Helper()
	if res.status != status {
		t.Fatalf("status = %d, want %d (body %s)", res.status, status, res.body)
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(res.body), &body); err != nil {
		t.Fatalf("body %q: %v", res.body, err)
	}
	if len(body) != 2 || body["code"] != code {
		t.Errorf("body = %s, want code %q", res.body, code)
	}
	if msg, _ := body["message"].(string); msg == "" {
		t.Errorf("empty message: %s", res.body)
	}
	if v := res.header.Get("Cache-Control"); v != "no-store" {
		t.Errorf("Cache-Control = %q", v)
	}
	ra := res.header.Get("Retry-After")
	if wantRetry {
		if n, err := strconv.Atoi(ra); err != nil || n < 1 {
			t.Errorf("Retry-After = %q, want whole seconds >= 1", ra)
		}
	} else if ra != "" {
		t.Errorf("unexpected Retry-After %q", ra)
	}
}

func TestHandlerFlow(t *testing.T) {
	e := newEnv(t, wxpaytest.Options{}, nil)
	billno := e.billno(t, "spring-2026", testOpenID)
	res := e.tap(t, e.token, "")
	e.checkParams(t, res, billno)

	pkt, _ := e.host.Packet(billno)
	if pkt.OpenID != testOpenID || pkt.Amount != 100 || pkt.ActName != "新春红包" {
		t.Errorf("packet = %+v", pkt)
	}
	if n := e.host.Sends(billno); n != 1 {
		t.Errorf("Sends = %d", n)
	}
	got, ok, err := e.store.Result(context.Background(), billno)
	if err != nil || !ok || got.Package != pkt.Package || got.SendListID != pkt.SendListID ||
		got.Amount != 100 || got.OpenID != testOpenID || got.PaidAt.IsZero() {
		t.Errorf("stored result = %+v, %v, %v", got, ok, err)
	}

	logs := e.logs.String()
	for _, want := range []string{billno, testOpenID, `"status":200`, `"source":"platform"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s", want)
		}
	}
	for _, secret := range []string{e.host.APIKey, e.token, string(testBillnoKey)} {
		if strings.Contains(logs, secret) {
			t.Error("a secret reached the logs")
		}
	}
}

func TestHandlerConcurrentTaps(t *testing.T) {
	e := newEnv(t, wxpaytest.Options{}, nil)
	billno := e.billno(t, "spring-2026", testOpenID)
	// The first send is slow, so the first round's taps all arrive while
	// it is in flight.
	e.host.Inject(wxpaytest.Fault{Delay: 100 * time.Millisecond, Match: onSend})
	const rounds, taps = 4, 50
	var (
		mu       sync.Mutex
		packages = map[string]int{}
		nonces   = map[string]bool{}
	)
	for range rounds {
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range taps {
			wg.Go(func() {
				<-start
				res, err := post(context.Background(), e.srv.URL+sendPath, e.token, "{}")
				if err != nil {
					t.Error(err)
					return
				}
				if res.status != http.StatusOK {
					t.Errorf("status %d: %s", res.status, res.body)
					return
				}
				var p signer.BizRedPacket
				if err := json.Unmarshal([]byte(res.body), &p); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				packages[p.Package]++
				nonces[p.NonceStr] = true
				mu.Unlock()
			})
		}
		close(start)
		wg.Wait()
	}
	if n := e.host.Sends(billno); n != 1 {
		t.Errorf("Sends(%s) = %d, want 1", billno, n)
	}
	if n := len(e.sendRequests()); n != 1 {
		t.Errorf("%d send requests at the host, want 1", n)
	}
	total := 0
	for _, n := range packages {
		total += n
	}
	if len(packages) != 1 || total != rounds*taps {
		t.Errorf("%d distinct packages over %d answers, want 1 over %d", len(packages), total, rounds*taps)
	}
	if len(nonces) != rounds*taps {
		t.Errorf("%d distinct nonces over %d answers", len(nonces), rounds*taps)
	}
	logs := e.logs.String()
	if strings.Count(logs, `"source":"platform"`) != 1 || !strings.Contains(logs, `"source":"shared"`) {
		t.Error("the taps did not share one send")
	}
	// A final answer verifies against the host's packet.
	e.checkParams(t, e.tap(t, e.token, ""), billno)
}

func TestHandlerRepeatTap(t *testing.T) {
	e := newEnv(t, wxpaytest.Options{}, nil)
	billno := e.billno(t, "spring-2026", testOpenID)
	first := e.checkParams(t, e.tap(t, e.token, ""), billno)
	before := len(e.host.Requests())
	second := e.checkParams(t, e.tap(t, e.token, ""), billno)
	if n := len(e.host.Requests()); n != before {
		t.Errorf("the repeat tap made %d host requests", n-before)
	}
	if first.Package != second.Package || first.NonceStr == second.NonceStr || first.PaySign == second.PaySign {
		t.Errorf("repeat: same package with fresh nonce and sign expected:\n%+v\n%+v", first, second)
	}
	if !strings.Contains(e.logs.String(), `"source":"store"`) {
		t.Error("the repeat tap is not logged as served from the store")
	}
}

func TestHandlerClaimWindow(t *testing.T) {
	var clock atomic.Int64
	t0 := time.Date(2026, 2, 10, 9, 0, 0, 0, time.UTC)
	clock.Store(t0.UnixNano())
	e := newEnv(t, wxpaytest.Options{}, func(c *HandlerConfig) {
		c.Now = func() time.Time { return time.Unix(0, clock.Load()) }
	})
	billno := e.billno(t, "spring-2026", testOpenID)
	e.checkParams(t, e.tap(t, e.token, ""), billno)
	before := len(e.host.Requests())

	clock.Store(t0.Add(23 * time.Hour).UnixNano())
	e.checkParams(t, e.tap(t, e.token, ""), billno)

	clock.Store(t0.Add(24*time.Hour + time.Second).UnixNano())
	checkError(t, e.tap(t, e.token, ""), http.StatusGone, "claim_window_expired", false)
	if n := len(e.host.Requests()); n != before {
		t.Errorf("%d host requests after the first tap", n-before)
	}
}

func TestHandlerMethodNotAllowed(t *testing.T) {
	e := newEnv(t, wxpaytest.Options{}, nil)
	for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodDelete, http.MethodPatch} {
		req, _ := http.NewRequest(m, e.srv.URL+sendPath, nil)
		req.Header.Set("Authorization", "Bearer "+e.token)
		res := do(t, req)
		checkError(t, res, http.StatusMethodNotAllowed, "method_not_allowed", false)
		if got := res.header.Get("Allow"); got != "POST" {
			t.Errorf("%s: Allow = %q", m, got)
		}
	}
	if n := len(e.host.Requests()); n != 0 {
		t.Errorf("%d host requests", n)
	}
}

func TestHandlerWithoutAuthMiddleware(t *testing.T) {
	host := wxpaytest.Start(t, wxpaytest.Options{})
	var logs syncBuffer
	h, err := NewHandler(HandlerConfig{SceneOptional: true, Client: newTestClient(t, host, nil), Policy: PolicyFunc(func(context.Context, jwtauth.User, []byte) (Grant, error) {
		return testGrant(), nil
	}), Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	res, err := post(context.Background(), srv.URL, "", "")
	if err != nil {
		t.Fatal(err)
	}
	// A server misconfiguration: a 401 would send the client into a
	// re-login loop that cannot help.
	checkError(t, res, http.StatusInternalServerError, "internal_error", false)
	if res.header.Get("WWW-Authenticate") != "" {
		t.Errorf("WWW-Authenticate = %q", res.header.Get("WWW-Authenticate"))
	}
	if out := logs.String(); !strings.Contains(out, `"level":"ERROR"`) || !strings.Contains(out, "no authenticated user") {
		t.Errorf("configuration error not logged: %s", out)
	}
	if n := len(host.Requests()); n != 0 {
		t.Errorf("%d host requests", n)
	}
}

func TestHandlerBody(t *testing.T) {
	var seen atomic.Pointer[[]byte]
	e := newEnv(t, wxpaytest.Options{}, func(c *HandlerConfig) {
		c.MaxBodyBytes = 1024
		c.Policy = PolicyFunc(func(_ context.Context, _ jwtauth.User, body []byte) (Grant, error) {
			seen.Store(&body)
			return testGrant(), nil
		})
	})
	big := `{"pad":"` + strings.Repeat("x", 2048) + `"}`

	t.Run("too large", func(t *testing.T) {
		checkError(t, e.tap(t, e.token, big), http.StatusRequestEntityTooLarge, "body_too_large", false)
	})
	t.Run("too large, chunked", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+sendPath, io.MultiReader(strings.NewReader(big)))
		req.ContentLength = -1
		req.Header.Set("Authorization", "Bearer "+e.token)
		checkError(t, do(t, req), http.StatusRequestEntityTooLarge, "body_too_large", false)
	})
	for _, bad := range []string{`{"a":`, `nope`, `{"a":1} {"b":2}`, "\xff"} {
		t.Run("malformed "+strconv.Quote(bad), func(t *testing.T) {
			checkError(t, e.tap(t, e.token, bad), http.StatusBadRequest, "malformed_body", false)
		})
	}
	if n := len(e.host.Requests()); n != 0 {
		t.Fatalf("%d host requests after refused bodies", n)
	}
	if seen.Load() != nil {
		t.Fatal("the policy saw a refused body")
	}
	billno := e.billno(t, "spring-2026", testOpenID)
	for _, ok := range []string{"", "  \n", `{"campaign":"spring"}`, `[1,2]`, `"x"`} {
		e.checkParams(t, e.tap(t, e.token, ok), billno)
		got := *seen.Load()
		if strings.TrimSpace(ok) == "" && got != nil || strings.TrimSpace(ok) != "" && string(got) != ok {
			t.Errorf("policy saw %q for body %q", got, ok)
		}
	}
}

func TestHandlerPolicyRefusal(t *testing.T) {
	var policyErr atomic.Pointer[error]
	e := newEnv(t, wxpaytest.Options{}, func(c *HandlerConfig) {
		c.Policy = PolicyFunc(func(context.Context, jwtauth.User, []byte) (Grant, error) {
			return Grant{}, *policyErr.Load()
		})
	})
	cases := []struct {
		err    error
		status int
		code   string
		msg    string
	}{
		{&Refusal{Code: "campaign_over", Message: "the campaign is over"}, 403, "campaign_over", "the campaign is over"},
		{fmt.Errorf("not today: %w", &Refusal{Code: "come_back_tomorrow"}), 403, "come_back_tomorrow", "the red packet is not available"},
		{fmt.Errorf("quota: %w", ErrRefused), 403, "refused", "the red packet is not available"},
		{errors.New("db: password=hunter2 connection refused"), 500, "policy_error", "the red packet could not be granted"},
	}
	for _, c := range cases {
		policyErr.Store(&c.err)
		res := e.tap(t, e.token, "")
		checkError(t, res, c.status, c.code, false)
		if !strings.Contains(res.body, c.msg) || strings.Contains(res.body, "hunter2") {
			t.Errorf("body %s, want message %q", res.body, c.msg)
		}
	}
	if n := len(e.host.Requests()); n != 0 {
		t.Errorf("%d host requests", n)
	}
	if !strings.Contains(e.logs.String(), "hunter2") {
		t.Error("the policy error's detail is not logged")
	}
}

func TestHandlerInvalidGrant(t *testing.T) {
	e := newEnv(t, wxpaytest.Options{}, nil)
	cases := []struct {
		edit  func(*Grant)
		field string
	}{
		{func(g *Grant) { g.Amount = 0 }, "total_amount"},
		{func(g *Grant) { g.Amount = -100 }, "total_amount"},
		{func(g *Grant) { g.Amount = 50 }, "scene_id"},
		{func(g *Grant) { g.Amount = 30000 }, "scene_id"},
		{func(g *Grant) { g.Scene = "PRODUCT_9" }, "scene_id"},
		{func(g *Grant) { g.SendName = strings.Repeat("红", 32) }, "send_name"},
		{func(g *Grant) { g.Wishing = "" }, "wishing"},
		{func(g *Grant) { g.Key = "" }, "key"},
	}
	for _, c := range cases {
		g := testGrant()
		c.edit(&g)
		e.grant.Store(&g)
		res := e.tap(t, e.token, "")
		// The policy's mistake is the server's error; the field is
		// logged, not told to the client.
		checkError(t, res, http.StatusInternalServerError, "policy_error", false)
		if strings.Contains(res.body, c.field) {
			t.Errorf("body %s names %s", res.body, c.field)
		}
		if !strings.Contains(e.logs.String(), c.field) {
			t.Errorf("the log does not name %s", c.field)
		}
	}
	if n := len(e.host.Requests()); n != 0 {
		t.Errorf("%d host requests for invalid grants", n)
	}
}

func TestHandlerIgnoresClientAmountAndOpenID(t *testing.T) {
	e := newEnv(t, wxpaytest.Options{}, nil)
	billno := e.billno(t, "spring-2026", testOpenID)
	e.checkParams(t, e.tap(t, e.token, `{"amount": 99999, "openid": "other", "total_amount": 99999, "re_openid": "other"}`), billno)
	pkt, _ := e.host.Packet(billno)
	if pkt.OpenID != testOpenID || pkt.Amount != 100 {
		t.Errorf("packet = %+v", pkt)
	}
	if _, ok := e.host.Packet(e.billno(t, "spring-2026", "other")); ok {
		t.Error("a packet was sent to the openid of the body")
	}
	for _, r := range e.sendRequests() {
		if r.Params["re_openid"] != testOpenID || r.Params["total_amount"] != "100" {
			t.Errorf("host saw %v", r.Params)
		}
	}
}

func TestHandlerSystemErrorThenSuccess(t *testing.T) {
	e := newEnv(t, wxpaytest.Options{}, nil)
	billno := e.billno(t, "spring-2026", testOpenID)
	e.host.Inject(wxpaytest.Fault{ErrCode: "SYSTEMERROR", Match: onSend})
	e.checkParams(t, e.tap(t, e.token, ""), billno)
	reqs := e.sendRequests()
	if len(reqs) != 2 || reqs[0].Params["mch_billno"] != billno || reqs[1].Params["mch_billno"] != billno {
		t.Fatalf("send requests: %+v", reqs)
	}
	if reqs[0].Params["nonce_str"] == reqs[1].Params["nonce_str"] {
		t.Error("the retry reused the nonce")
	}
	if n := e.host.Sends(billno); n != 1 {
		t.Errorf("Sends = %d, want 1", n)
	}
}

func onSend(path string, _ map[string]string) bool { return path == wxpaytest.PathSendMiniProgramHB }

func TestHandlerOutcomeUnknownThenResume(t *testing.T) {
	e := newEnv(t, wxpaytest.Options{}, nil)
	billno := e.billno(t, "spring-2026", testOpenID)
	e.host.Inject(wxpaytest.Fault{ErrCode: "SYSTEMERROR", Match: onSend, Times: testAttempts})
	res := e.tap(t, e.token, "")
	checkError(t, res, http.StatusServiceUnavailable, "outcome_unknown", true)
	// An unknown outcome is no answer: the Store keeps only when the
	// send was made, for the time of the packet if it paid.
	if r, ok, _ := e.store.Result(context.Background(), billno); ok && (r.Paid() || r.Closed != "" || r.Refused != "" || r.LostAt.IsZero()) {
		t.Fatalf("an unknown outcome was stored as %+v", r)
	}
	// The fault is used up: the next tap resumes with the same bill number.
	e.checkParams(t, e.tap(t, e.token, ""), billno)
	reqs := e.sendRequests()
	if len(reqs) != testAttempts+1 {
		t.Errorf("%d send requests, want %d", len(reqs), testAttempts+1)
	}
	for _, r := range reqs {
		if r.Params["mch_billno"] != billno {
			t.Errorf("bill number changed: %s", r.Params["mch_billno"])
		}
	}
	if n := e.host.Sends(billno); n != 1 {
		t.Errorf("Sends = %d, want 1", n)
	}
	if !strings.Contains(e.logs.String(), `"err_code":"SYSTEMERROR"`) {
		t.Error("err_code not logged")
	}
}

func TestHandlerProcessing(t *testing.T) {
	e := newEnv(t, wxpaytest.Options{}, nil)
	billno := e.billno(t, "spring-2026", testOpenID)
	// PROCESSING: the client queries gethbinfo, which says SENDING; the
	// outcome is unknown until the next tap resends the same number.
	e.host.Inject(wxpaytest.Fault{ErrCode: "PROCESSING", Match: onSend})
	checkError(t, e.tap(t, e.token, ""), http.StatusServiceUnavailable, "outcome_unknown", true)
	pkt, ok := e.host.Packet(billno)
	if !ok {
		t.Fatal("no packet after PROCESSING")
	}
	p := e.checkParams(t, e.tap(t, e.token, ""), billno)
	if p.Package != signer.EncodeURIComponent(pkt.Package) {
		t.Error("the resumed tap got another package")
	}
}

func TestHandlerProcessingThenFailed(t *testing.T) {
	host := wxpaytest.Start(t, wxpaytest.Options{})
	cert := host.ClientCertificate()
	client, err := hongbao.New(hongbao.Config{
		AppID:     host.AppID,
		Transport: transport.Config{MchID: host.MchID, APIKey: host.APIKey, Certificate: &cert, RootCAs: host.RootCAs(), BaseURL: host.URL},
		Retry:     hongbao.RetryPolicy{Attempts: 2, BaseDelay: time.Millisecond, ProcessingDelay: time.Second},
		BillnoKey: testBillnoKey,
	})
	if err != nil {
		t.Fatal(err)
	}
	auth := newAuth(t, mixedKeys(getKeys()), nil)
	h, err := NewHandler(HandlerConfig{SceneOptional: true, Client: client, Policy: PolicyFunc(func(context.Context, jwtauth.User, []byte) (Grant, error) {
		return testGrant(), nil
	})})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(auth.Middleware(h))
	defer srv.Close()
	billno, _ := client.Billno("spring-2026", testOpenID)
	host.Inject(wxpaytest.Fault{ErrCode: "PROCESSING", Match: onSend})
	// While the client waits to query, the platform fails the packet.
	go func() {
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			if _, ok := host.Packet(billno); ok {
				_ = host.SetStatus(billno, wxpaytest.StatusFailed)
				return
			}
		}
	}()
	res, err := post(context.Background(), srv.URL, sign(t, jwt.SigningMethodHS256, getKeys().hmac, "", goodClaims(nil)), "")
	if err != nil {
		t.Fatal(err)
	}
	// The platform reported the number closed: the grant moves to its
	// next number, which pays; the failed one stays unpaid.
	if res.status != http.StatusOK {
		t.Fatalf("status %d, body %s", res.status, res.body)
	}
	next, _ := client.AttemptBillno("spring-2026", testOpenID, 1)
	if p, ok := host.Packet(next); !ok || p.Status != wxpaytest.StatusSent {
		t.Errorf("attempt 1: %+v %v", p, ok)
	}
	if p, _ := host.Packet(billno); p.Status != wxpaytest.StatusFailed {
		t.Errorf("attempt 0 is %s", p.Status)
	}
}

func TestHandlerDroppedConnection(t *testing.T) {
	t.Run("retried by the client", func(t *testing.T) {
		e := newEnv(t, wxpaytest.Options{}, nil)
		billno := e.billno(t, "spring-2026", testOpenID)
		e.host.Inject(wxpaytest.Fault{DropAfter: true, Match: onSend})
		p := e.checkParams(t, e.tap(t, e.token, ""), billno)
		pkt, _ := e.host.Packet(billno)
		if p.Package != signer.EncodeURIComponent(pkt.Package) {
			t.Error("another package")
		}
		if n := len(e.sendRequests()); n != 2 {
			t.Errorf("%d send requests, want 2", n)
		}
	})
	t.Run("resumed by the next tap", func(t *testing.T) {
		e := newEnv(t, wxpaytest.Options{}, nil)
		billno := e.billno(t, "spring-2026", testOpenID)
		e.host.Inject(wxpaytest.Fault{DropAfter: true, Match: onSend, Times: testAttempts})
		checkError(t, e.tap(t, e.token, ""), http.StatusServiceUnavailable, "outcome_unknown", true)
		pkt, ok := e.host.Packet(billno)
		if !ok {
			t.Fatal("the dropped send was not processed")
		}
		p := e.checkParams(t, e.tap(t, e.token, ""), billno)
		if p.Package != signer.EncodeURIComponent(pkt.Package) {
			t.Error("the retry returned another package")
		}
	})
}

func TestHandlerClientGoneMidSend(t *testing.T) {
	e := newEnv(t, wxpaytest.Options{}, nil)
	billno := e.billno(t, "spring-2026", testOpenID)
	e.host.Inject(wxpaytest.Fault{Delay: time.Second, Match: onSend})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := post(ctx, e.srv.URL+sendPath, e.token, ""); err == nil {
		t.Fatal("the tap did not time out")
	}
	// The send goes on without the user and its result is stored.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, ok, _ := e.store.Result(context.Background(), billno); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the detached send never finished")
		}
		time.Sleep(10 * time.Millisecond)
	}
	before := len(e.host.Requests())
	e.checkParams(t, e.tap(t, e.token, ""), billno)
	if n := len(e.host.Requests()); n != before {
		t.Error("the next tap called the host")
	}
}

func TestHandlerShutdownWaitsForDetachedSends(t *testing.T) {
	e := newEnv(t, wxpaytest.Options{}, nil)
	billno := e.billno(t, "spring-2026", testOpenID)
	e.host.Inject(wxpaytest.Fault{Delay: 300 * time.Millisecond, Match: onSend})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := post(ctx, e.srv.URL+sendPath, e.token, ""); err == nil {
		t.Fatal("the tap did not time out")
	}
	// Too short a deadline: Shutdown reports it while the send goes on.
	short, cancelShort := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancelShort()
	if err := e.handler.Shutdown(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown with a short deadline = %v", err)
	}
	if err := e.handler.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	// When Shutdown returns, the detached send has ended and its result is
	// saved.
	if _, ok, _ := e.store.Result(context.Background(), billno); !ok {
		t.Fatal("Shutdown returned before the result was saved")
	}
	if n := e.host.Sends(billno); n != 1 {
		t.Fatalf("Sends = %d", n)
	}
	// Nothing in flight: Shutdown returns at once.
	done, cancelDone := context.WithCancel(context.Background())
	cancelDone()
	if err := e.handler.Shutdown(done); err != nil {
		t.Fatalf("Shutdown with nothing in flight = %v", err)
	}
}

func TestHandlerNotEnough(t *testing.T) {
	e := newEnv(t, wxpaytest.Options{Balance: 50}, nil)
	res := e.tap(t, e.token, "")
	checkError(t, res, http.StatusServiceUnavailable, "merchant_unavailable", true)
	if v := res.header.Get("Retry-After"); v != "30" {
		t.Errorf("Retry-After %q, want the probe time, 30", v)
	}
	if strings.Contains(res.body, "insufficient") || strings.Contains(res.body, "NOTENOUGH") {
		t.Errorf("platform text in the answer: %s", res.body)
	}
	if !strings.Contains(e.logs.String(), `"err_code":"NOTENOUGH"`) {
		t.Error("NOTENOUGH not logged")
	}
}

func TestHandlerGrantConflict(t *testing.T) {
	e := newEnv(t, wxpaytest.Options{}, nil)
	billno := e.billno(t, "spring-2026", testOpenID)
	e.checkParams(t, e.tap(t, e.token, ""), billno)

	g := testGrant()
	g.Amount = 200 // the policy changed the amount under the same key
	e.grant.Store(&g)
	before := len(e.host.Requests())
	// The first terms decided are the ones paid: the stored result answers.
	e.checkParams(t, e.tap(t, e.token, ""), billno)
	if n := len(e.host.Requests()); n != before {
		t.Error("the stored result did not answer")
	}

	// A replica that does not share the store asks the platform first and
	// adopts the paid terms: the same package, no FATAL_ERROR.
	other, _ := e.mount(t, HandlerConfig{
		SceneOptional: true,
		Client:        e.client,
		Policy:        PolicyFunc(func(context.Context, jwtauth.User, []byte) (Grant, error) { return *e.grant.Load(), nil }),
	})
	e.checkParams(t, e.tapOn(t, other, e.token, ""), billno)
	for _, r := range e.sendRequests() {
		if r.ErrCode == "FATAL_ERROR" || r.Params["total_amount"] != "100" {
			t.Errorf("send: %+v", r)
		}
	}
	if pkt, _ := e.host.Packet(billno); pkt.Amount != 100 {
		t.Errorf("packet amount %d", pkt.Amount)
	}
}

func TestHandlerPlatformErrors(t *testing.T) {
	const des = "PLATFORM-TEXT-NOT-FOR-USERS"
	cases := []struct {
		fault  wxpaytest.Fault
		status int
		code   string
		retry  bool
	}{
		{wxpaytest.Fault{ErrCode: "FREQ_LIMIT", Times: testAttempts}, 503, "rate_limited_upstream", true},
		{wxpaytest.Fault{ErrCode: "NO_AUTH"}, 403, "risk_control", true},
		{wxpaytest.Fault{ErrCode: "SENDNUM_LIMIT"}, 403, "user_limit_reached", true},
		{wxpaytest.Fault{ErrCode: "RCVDAMOUNT_LIMIT"}, 403, "user_limit_reached", true},
		{wxpaytest.Fault{ErrCode: "SENDAMOUNT_LIMIT"}, 503, "merchant_unavailable", true},
		{wxpaytest.Fault{ErrCode: "API_METHOD_CLOSED"}, 503, "merchant_unavailable", true},
		{wxpaytest.Fault{ErrCode: "PRODUCT_AUTHORITY_UNOPEN"}, 503, "merchant_unavailable", true},
		{wxpaytest.Fault{ErrCode: "NOTENOUGH"}, 503, "merchant_unavailable", true},
		{wxpaytest.Fault{ErrCode: "SEND_FAILED"}, 502, "send_failed", false},
		{wxpaytest.Fault{ErrCode: "FATAL_ERROR"}, 409, "grant_conflict", false},
		{wxpaytest.Fault{ErrCode: "CA_ERROR"}, 502, "platform_rejected", false},
		{wxpaytest.Fault{ErrCode: "SIGN_ERROR"}, 502, "platform_rejected", false},
		{wxpaytest.Fault{ErrCode: "XML_ERROR"}, 502, "platform_rejected", false},
		{wxpaytest.Fault{ErrCode: "PARAM_ERROR"}, 502, "platform_rejected", false},
		{wxpaytest.Fault{ErrCode: "MONEY_LIMIT"}, 502, "platform_rejected", false},
		{wxpaytest.Fault{ErrCode: "ILLEGAL_APPID"}, 502, "platform_rejected", false},
		{wxpaytest.Fault{ErrCode: "OPENID_ERROR"}, 502, "platform_rejected", false},
		{wxpaytest.Fault{ErrCode: "MSGAPPID_ERROR"}, 502, "platform_rejected", false},
		{wxpaytest.Fault{ErrCode: "ACCEPTMODE_ERROR"}, 502, "platform_rejected", false},
		{wxpaytest.Fault{ReturnFail: des}, 502, "platform_rejected", false},
		{wxpaytest.Fault{ErrCode: "SOMETHING_NEW"}, 502, "platform_error", false},
		{wxpaytest.Fault{Status: 502, Times: testAttempts}, 503, "outcome_unknown", true},
		{wxpaytest.Fault{Garbage: true, Times: testAttempts}, 503, "outcome_unknown", true},
	}
	for _, c := range cases {
		name := c.fault.ErrCode
		switch {
		case c.fault.ReturnFail != "":
			name = "return_code FAIL"
		case c.fault.Status != 0:
			name = "HTTP " + strconv.Itoa(c.fault.Status)
		case c.fault.Garbage:
			name = "garbage"
		}
		t.Run(name, func(t *testing.T) {
			clk := &clock{}
			e := newEnv(t, wxpaytest.Options{Now: clk.Now}, func(c *HandlerConfig) { c.Now = clk.Now })
			billno := e.billno(t, "spring-2026", testOpenID)
			f := c.fault
			f.Match = onSend
			if f.ErrCode != "" {
				f.ErrCodeDes = des
			}
			e.host.Inject(f)
			res := e.tap(t, e.token, "")
			checkError(t, res, c.status, c.code, c.retry)
			if strings.Contains(res.body, des) || (f.ErrCode != "" && strings.Contains(res.body, f.ErrCode)) {
				t.Errorf("platform text in the answer: %s", res.body)
			}
			if r, ok, _ := e.store.Result(context.Background(), billno); ok && (r.Paid() || r.Closed != "") {
				t.Fatalf("a failure was stored as paid or closed: %+v", r)
			}
			// Injected answers leave no trace at the host: the grant
			// still pays once, after the merchant's probe time or the
			// user's day.
			clk.Advance(25 * time.Hour)
			e.checkParams(t, e.tap(t, e.token, ""), billno)
			if n := e.host.Sends(billno); n != 1 {
				t.Errorf("Sends = %d", n)
			}
		})
	}
}

func TestHandlerRateLimit(t *testing.T) {
	e := newEnv(t, wxpaytest.Options{}, func(c *HandlerConfig) {
		c.RateLimit = 2
		c.RateWindow = time.Minute
	})
	billno := e.billno(t, "spring-2026", testOpenID)
	e.checkParams(t, e.tap(t, e.token, ""), billno)
	e.checkParams(t, e.tap(t, e.token, ""), billno)
	res := e.tap(t, e.token, "")
	checkError(t, res, http.StatusTooManyRequests, "rate_limited", true)
	if n, _ := strconv.Atoi(res.header.Get("Retry-After")); n < 1 || n > 60 {
		t.Errorf("Retry-After = %s", res.header.Get("Retry-After"))
	}
	// Another user has a budget of their own.
	other := "oOtherUserOpenID0000000000001"
	e.checkParams(t, e.tap(t, e.tokenFor(t, other), ""), e.billno(t, "spring-2026", other))
	if n := len(e.sendRequests()); n != 2 {
		t.Errorf("%d sends", n)
	}
}

// failingStore fails every call, like a shared server that is down.
type failingStore struct{ calls atomic.Int64 }

var errStoreDown = errors.New("store: dial tcp 10.0.0.7:6379: connection refused")

func (f *failingStore) AddTerms(context.Context, string, store.Terms, time.Duration) (store.Terms, bool, error) {
	f.calls.Add(1)
	return store.Terms{}, false, errStoreDown
}

func (f *failingStore) SaveTerms(context.Context, string, store.Terms, time.Duration) error {
	f.calls.Add(1)
	return errStoreDown
}

func (f *failingStore) Budget(context.Context, string, store.BudgetOp) (store.BudgetState, bool, error) {
	f.calls.Add(1)
	return store.BudgetState{}, false, errStoreDown
}

func (f *failingStore) Result(context.Context, string) (store.Result, bool, error) {
	f.calls.Add(1)
	return store.Result{}, false, errStoreDown
}

func (f *failingStore) SaveResult(context.Context, string, store.Result, time.Duration) error {
	f.calls.Add(1)
	return errStoreDown
}

func (f *failingStore) TryLock(context.Context, string, time.Duration) (func(), bool, error) {
	f.calls.Add(1)
	return nil, false, errStoreDown
}

func (f *failingStore) Allow(context.Context, string, int, time.Duration) (bool, time.Duration, error) {
	f.calls.Add(1)
	return false, 0, errStoreDown
}

func TestHandlerStoreDown(t *testing.T) {
	fs := &failingStore{}
	e := newEnv(t, wxpaytest.Options{}, func(c *HandlerConfig) {
		c.Store = fs
		c.RateLimit = 100
	})
	billno := e.billno(t, "spring-2026", testOpenID)
	var wg sync.WaitGroup
	var mu sync.Mutex
	packages := map[string]bool{}
	start := make(chan struct{})
	for range 20 {
		wg.Go(func() {
			<-start
			res, err := post(context.Background(), e.srv.URL+sendPath, e.token, "")
			if err != nil {
				t.Error(err)
				return
			}
			if res.status != http.StatusOK {
				t.Errorf("status %d: %s", res.status, res.body)
				return
			}
			var p signer.BizRedPacket
			_ = json.Unmarshal([]byte(res.body), &p)
			mu.Lock()
			packages[p.Package] = true
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	if n := e.host.Sends(billno); n != 1 {
		t.Errorf("Sends = %d, want 1", n)
	}
	if len(packages) != 1 {
		t.Errorf("%d distinct packages", len(packages))
	}
	// Later taps are answered from this process's memory.
	before := len(e.host.Requests())
	e.checkParams(t, e.tap(t, e.token, ""), billno)
	if n := len(e.host.Requests()); n != before {
		t.Errorf("%d host requests for a repeat tap while the store is down", n-before)
	}
	if fs.calls.Load() == 0 {
		t.Error("the store was never consulted")
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "store unavailable") {
		t.Error("no warning about the store")
	}
	// Within StoreRetryAfter, taps keep to this process: no more failing
	// round trips to the store.
	calls := fs.calls.Load()
	for range 5 {
		e.checkParams(t, e.tap(t, e.token, ""), billno)
	}
	if n := fs.calls.Load() - calls; n != 0 {
		t.Errorf("%d store calls while it is marked down", n)
	}
}

func TestHandlerStoreRetriedAfterOutage(t *testing.T) {
	fs := &failingStore{}
	e := newEnv(t, wxpaytest.Options{}, func(c *HandlerConfig) {
		c.Store = fs
		// Longer than a first tap takes under the race detector.
		c.StoreRetryAfter = 400 * time.Millisecond
	})
	billno := e.billno(t, "spring-2026", testOpenID)
	e.checkParams(t, e.tap(t, e.token, ""), billno)
	calls := fs.calls.Load()
	if calls != 1 {
		t.Fatalf("%d store calls before the first failure marked it down, want 1", calls)
	}
	time.Sleep(410 * time.Millisecond)
	e.checkParams(t, e.tap(t, e.token, ""), billno)
	if fs.calls.Load() == calls {
		t.Fatal("the store was not tried again after StoreRetryAfter")
	}
	if n := e.host.Sends(billno); n != 1 {
		t.Fatalf("Sends = %d, want 1", n)
	}
}

func TestHandlerReplicas(t *testing.T) {
	shared := store.NewMemoryStore()
	e := newEnv(t, wxpaytest.Options{}, func(c *HandlerConfig) {
		c.Store = shared
		c.WaitTimeout = 300 * time.Millisecond
	})
	billno := e.billno(t, "spring-2026", testOpenID)
	ctx := context.Background()

	t.Run("in progress elsewhere", func(t *testing.T) {
		release, ok, err := shared.TryLock(ctx, billno, time.Minute)
		if err != nil || !ok {
			t.Fatal("lock", ok, err)
		}
		defer release()
		res := e.tap(t, e.token, "")
		checkError(t, res, http.StatusServiceUnavailable, "in_progress", true)
		if n := len(e.sendRequests()); n != 0 {
			t.Errorf("%d sends while another replica holds the lock", n)
		}
	})

	t.Run("holder gives up without a result", func(t *testing.T) {
		release, ok, _ := shared.TryLock(ctx, billno, time.Minute)
		if !ok {
			t.Fatal("lock")
		}
		time.AfterFunc(50*time.Millisecond, release)
		e.checkParams(t, e.tap(t, e.token, ""), billno)
		if n := e.host.Sends(billno); n != 1 {
			t.Errorf("Sends = %d", n)
		}
	})

	t.Run("holder's result is picked up", func(t *testing.T) {
		key := "summer-2026"
		g := testGrant()
		g.Key = key
		e.grant.Store(&g)
		b2 := e.billno(t, key, testOpenID)
		release, ok, _ := shared.TryLock(ctx, b2, time.Minute)
		if !ok {
			t.Fatal("lock")
		}
		// The other replica pays (here: directly) and saves its result.
		res, err := e.client.SendMiniProgramHB(ctx, &hongbao.SendRequest{Billno: b2, OpenID: testOpenID, Amount: g.Amount,
			SendName: g.SendName, Wishing: g.Wishing, ActName: g.ActName, Remark: g.Remark})
		if err != nil {
			t.Fatal(err)
		}
		before := len(e.sendRequests())
		time.AfterFunc(50*time.Millisecond, func() {
			_ = shared.SaveResult(ctx, b2, store.Result{Billno: b2, OpenID: testOpenID, Package: res.Package,
				SendListID: res.SendListID, Amount: g.Amount, PaidAt: time.Now()}, time.Hour)
		})
		e.checkParams(t, e.tap(t, e.token, ""), b2)
		if n := len(e.sendRequests()); n != before {
			t.Errorf("%d sends", n-before)
		}
		release()
	})
}

func TestHandlerJWTAttacks(t *testing.T) {
	e := newEnv(t, wxpaytest.Options{}, nil)
	n := 0
	for _, c := range attackCorpus(t) {
		if c.auth != "" {
			continue // built for another key set
		}
		n++
		t.Run(c.name, func(t *testing.T) {
			var req *http.Request
			if c.req != nil {
				req = c.req(t, e.srv.URL+sendPath)
			} else {
				req = bearerRequest(t, e.srv.URL+sendPath, c.token)
			}
			if req.Method == http.MethodGet {
				req.Method = http.MethodPost
				req.Body = io.NopCloser(strings.NewReader(`{}`))
				req.ContentLength = 2
			}
			res := do(t, req)
			if res.status != http.StatusUnauthorized {
				t.Fatalf("status %d, body %s", res.status, res.body)
			}
			if c.token != "" && strings.Contains(res.body, c.token) {
				t.Error("the token was echoed")
			}
		})
	}
	if n < 40 {
		t.Fatalf("only %d attacks ran", n)
	}
	if r := e.host.Requests(); len(r) != 0 {
		t.Fatalf("%d host requests from refused tokens", len(r))
	}
	// The same stack accepts a good token.
	e.checkParams(t, e.tap(t, e.token, ""), e.billno(t, "spring-2026", testOpenID))
}

func TestHandlerErrorHook(t *testing.T) {
	var got atomic.Value
	e := newEnv(t, wxpaytest.Options{Balance: 50}, func(c *HandlerConfig) {
		c.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
			got.Store(err)
			DefaultSendErrorHandler(w, r, err)
		}
	})
	checkError(t, e.tap(t, e.token, ""), http.StatusServiceUnavailable, "merchant_unavailable", true)
	err, _ := got.Load().(error)
	var he *HandlerError
	if !errors.As(err, &he) || he.Code != "merchant_unavailable" || !errors.Is(err, hongbao.ErrNotEnough) ||
		he.Billno != e.billno(t, "spring-2026", testOpenID) {
		t.Fatalf("hook got %#v", err)
	}
	if strings.Contains(err.Error(), e.host.APIKey) {
		t.Fatal("the key is in the error")
	}
}

func TestStatusOf(t *testing.T) {
	pe := func(code string) error { return &hongbao.Error{Op: "sendminiprogramhb", ErrCode: code} }
	cases := []struct {
		err    error
		status int
		code   string
	}{
		{nil, 200, ""},
		{&hongbao.Error{ErrCode: "SYSTEMERROR", Unknown: true, Retryable: true}, 503, "outcome_unknown"},
		{&hongbao.Error{ErrCode: "PROCESSING", Unknown: true, Status: hongbao.StatusSending}, 503, "outcome_unknown"},
		{&hongbao.Error{ErrCode: "PROCESSING", Status: hongbao.StatusFailed}, 502, "send_failed"},
		{&hongbao.Error{Unknown: true, Err: context.DeadlineExceeded}, 503, "outcome_unknown"},
		{pe("FREQ_LIMIT"), 503, "rate_limited_upstream"},
		{pe("NO_AUTH"), 403, "risk_control"},
		{pe("SENDNUM_LIMIT"), 403, "user_limit_reached"},
		{pe("RCVDAMOUNT_LIMIT"), 403, "user_limit_reached"},
		{pe("FATAL_ERROR"), 409, "grant_conflict"},
		{pe("NOTENOUGH"), 503, "merchant_unavailable"},
		{pe("SENDAMOUNT_LIMIT"), 503, "merchant_unavailable"},
		{pe("API_METHOD_CLOSED"), 503, "merchant_unavailable"},
		{pe("PRODUCT_AUTHORITY_UNOPEN"), 503, "merchant_unavailable"},
		{pe("SEND_FAILED"), 502, "send_failed"},
		{pe("CA_ERROR"), 502, "platform_rejected"},
		{pe("SIGN_ERROR"), 502, "platform_rejected"},
		{pe("XML_ERROR"), 502, "platform_rejected"},
		{pe("PARAM_ERROR"), 502, "platform_rejected"},
		{pe("MONEY_LIMIT"), 502, "platform_rejected"},
		{pe("ILLEGAL_APPID"), 502, "platform_rejected"},
		{pe("OPENID_ERROR"), 502, "platform_rejected"},
		{pe("MSGAPPID_ERROR"), 502, "platform_rejected"},
		{pe("ACCEPTMODE_ERROR"), 502, "platform_rejected"},
		{&hongbao.Error{ReturnCode: "FAIL", Message: "签名错误"}, 502, "platform_rejected"},
		{pe("NOT_FOUND"), 502, "platform_error"},
		{pe("BRAND_NEW_CODE"), 502, "platform_error"},
		{fmt.Errorf("wrapped: %w", pe("NO_AUTH")), 403, "risk_control"},
		{&hongbao.ValidationError{Field: "wishing", Rule: "non-empty"}, 500, "policy_error"},
		{&Refusal{Code: "campaign_over"}, 403, "campaign_over"},
		{&Refusal{}, 403, "refused"},
		{fmt.Errorf("x: %w", ErrRefused), 403, "refused"},
		{&HandlerError{Status: 418, Code: "teapot"}, 418, "teapot"},
		{errors.New("boom"), 500, "internal_error"},
	}
	for _, c := range cases {
		status, code := StatusOf(c.err)
		if status != c.status || code != c.code {
			t.Errorf("StatusOf(%v) = %d %s, want %d %s", c.err, status, code, c.status, c.code)
		}
	}
}

func TestDefaultSendErrorHandler(t *testing.T) {
	w := httptest.NewRecorder()
	DefaultSendErrorHandler(w, httptest.NewRequest(http.MethodPost, "/", nil),
		&hongbao.Error{ErrCode: "SYSTEMERROR", Unknown: true, Message: "系统繁忙 internal detail"})
	res := response{w.Code, w.Header(), w.Body.String()}
	checkError(t, res, http.StatusServiceUnavailable, "outcome_unknown", true)
	if strings.Contains(res.body, "internal detail") {
		t.Error("platform text in the answer")
	}
}

func TestNewHandlerConfig(t *testing.T) {
	host := wxpaytest.Start(t, wxpaytest.Options{})
	client := newTestClient(t, host, nil)
	policy := PolicyFunc(func(context.Context, jwtauth.User, []byte) (Grant, error) { return testGrant(), nil })
	var nilPolicy PolicyFunc
	bad := []HandlerConfig{
		{Policy: policy},
		{Client: client},
		{Client: client, Policy: nilPolicy},
		{Client: client, Policy: policy, MaxBodyBytes: -1},
		{Client: client, Policy: policy, RateWindow: -time.Second},
		{Client: client, Policy: policy, ClaimWindow: -time.Second},
		{Client: client, Policy: policy, ResultTTL: -time.Second},
		{Client: client, Policy: policy, LockTTL: -time.Second},
		{Client: client, Policy: policy, WaitTimeout: -time.Second},
		{Client: client, Policy: policy, ResultTTL: time.Hour}, // shorter than the 24h claim window
	}
	for i, cfg := range bad {
		if h, err := NewHandler(cfg); err == nil || h != nil {
			t.Errorf("config %d accepted", i)
		} else if !strings.HasPrefix(err.Error(), "claim: ") {
			t.Errorf("config %d: error %q lacks the package prefix", i, err)
		}
	}
	h, err := NewHandler(HandlerConfig{SceneOptional: true, Client: client, Policy: policy})
	if err != nil {
		t.Fatal(err)
	}
	hh := h
	if hh.maxBody != DefaultMaxBodyBytes || hh.rateLimit != DefaultRateLimit || hh.rateWindow != DefaultRateWindow ||
		hh.claimWindow != DefaultClaimWindow || hh.resultTTL != DefaultResultTTL || hh.lockTTL != DefaultLockTTL ||
		hh.waitTimeout != DefaultWaitTimeout || hh.storeRetry != DefaultStoreRetryAfter || hh.store == nil {
		t.Errorf("defaults: %+v", hh)
	}
	if h, _ := NewHandler(HandlerConfig{SceneOptional: true, Client: client, Policy: policy, RateLimit: -1}); h.rateLimit >= 0 {
		t.Error("a negative RateLimit does not disable the limit")
	}
}

func TestDefaultRateLimit(t *testing.T) {
	e := newEnv(t, wxpaytest.Options{}, func(c *HandlerConfig) { c.RateLimit = 0 })
	for i := range DefaultRateLimit + 1 {
		res := e.tap(t, e.token, "")
		if i < DefaultRateLimit && res.status != http.StatusOK {
			t.Fatalf("tap %d: %d", i, res.status)
		}
		if i == DefaultRateLimit {
			checkError(t, res, http.StatusTooManyRequests, "rate_limited", true)
		}
	}
}

func TestFlightGroupPanic(t *testing.T) {
	var g flightGroup
	f, shared := g.start("k", func() (store.Result, string, error) { panic("boom") })
	if shared {
		t.Fatal("shared")
	}
	<-f.done
	if f.err == nil {
		t.Fatal("a panic became no error")
	}
	f, _ = g.start("k", func() (store.Result, string, error) { return store.Result{Billno: "k"}, "platform", nil })
	<-f.done
	if f.err != nil || f.res.Billno != "k" {
		t.Fatal("the key stayed blocked after a panic")
	}
}

// hangingSaveStore is a Store whose SaveResult answers only when its
// context ends.
type hangingSaveStore struct{ *store.MemoryStore }

func (s hangingSaveStore) SaveResult(ctx context.Context, _ string, _ store.Result, _ time.Duration) error {
	<-ctx.Done()
	return ctx.Err()
}

func TestHandlerSaveTimeoutKeepsResultLocally(t *testing.T) {
	st := hangingSaveStore{store.NewMemoryStore()}
	e := newEnv(t, wxpaytest.Options{}, func(c *HandlerConfig) { c.Store = st })
	h, err := NewHandler(HandlerConfig{
		SceneOptional: true,
		Client:        e.client,
		Policy:        PolicyFunc(func(context.Context, jwtauth.User, []byte) (Grant, error) { return *e.grant.Load(), nil }),
		Store:         st,
		RateLimit:     -1,
		Logger:        slog.New(slog.NewJSONHandler(e.logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	h.saveTimeout = 50 * time.Millisecond
	mux := http.NewServeMux()
	mux.Handle(sendPath, e.auth.Middleware(h))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	billno := e.billno(t, "spring-2026", testOpenID)
	e.checkParams(t, e.tapOn(t, srv, e.token, ""), billno)
	if logs := e.logs.String(); !strings.Contains(logs, "store unavailable") || !strings.Contains(logs, "SaveResult") {
		t.Errorf("no warning about the SaveResult that timed out; logs:\n%s", logs)
	}
	// The result was kept in this process: a repeat tap does not call the
	// platform again.
	before := len(e.host.Requests())
	e.checkParams(t, e.tapOn(t, srv, e.token, ""), billno)
	if n := len(e.host.Requests()) - before; n != 0 {
		t.Errorf("%d host requests for a repeat tap after SaveResult timed out", n)
	}
}

// slowLockStore takes its time to grant a lock, as a distant shared store
// may.
type slowLockStore struct {
	*store.MemoryStore
	delay time.Duration
}

func (s slowLockStore) TryLock(ctx context.Context, key string, ttl time.Duration) (func(), bool, error) {
	time.Sleep(s.delay)
	return s.MemoryStore.TryLock(ctx, key, ttl)
}

// The send must end before the lock it holds can expire, so the deadline
// counts from when the lock was asked for, not from when the send starts.
func TestHandlerSendEndsBeforeItsLock(t *testing.T) {
	e := newEnv(t, wxpaytest.Options{}, func(c *HandlerConfig) {
		c.Store = slowLockStore{store.NewMemoryStore(), 300 * time.Millisecond}
		c.LockTTL = 400 * time.Millisecond
	})
	billno := e.billno(t, "spring-2026", testOpenID)
	// 300ms to get the lock leaves 100ms of its 400ms: not enough for a
	// send the host holds for 250ms.
	e.host.Inject(wxpaytest.Fault{Delay: 250 * time.Millisecond, Match: onSend, Times: testAttempts})
	checkError(t, e.tap(t, e.token, ""), http.StatusServiceUnavailable, "outcome_unknown", true)
	if n := e.host.Sends(billno); n != 0 {
		t.Fatalf("%d sends completed after the lock could have expired", n)
	}
}
