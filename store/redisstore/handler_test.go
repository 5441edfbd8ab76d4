package redisstore_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/hongbao-go/hongbao"
	"github.com/hongbao-go/hongbao/middleware/claim"
	"github.com/hongbao-go/hongbao/middleware/jwtauth"
	"github.com/hongbao-go/hongbao/rail"
	"github.com/hongbao-go/hongbao/signer"
	"github.com/hongbao-go/hongbao/store"
	"github.com/hongbao-go/hongbao/store/redisstore"
	"github.com/hongbao-go/hongbao/transport"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

// These tests run the real handler on two "replicas" (two handlers, each
// with its own hongbao.Client, its own Store on the same Redis and its own
// HTTP server) in front of one fake WeChat Pay host, with real JWTs.

const (
	testIssuer   = "https://auth.hongbao.example"
	testAudience = "hongbao-api"
)

// world is what the replicas share: the platform, the JWT secret, the bill
// number key and the campaign.
type world struct {
	fake      *wxpaytest.Server
	secret    []byte
	billnoKey []byte
	grant     claim.Grant
	logs      *countingLog
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{
		fake:      wxpaytest.Start(t, wxpaytest.Options{}),
		secret:    make([]byte, 32),
		billnoKey: make([]byte, 32),
		grant: claim.Grant{
			Key: "spring-" + rand.Text()[:8],
			Payout: rail.Payout{
				Amount:   100,
				SendName: "hongbao",
				Wishing:  "Happy new year",
				ActName:  "spring campaign",
				Remark:   "thanks",
			},
		},
		logs: &countingLog{},
	}
	rand.Read(w.secret)
	rand.Read(w.billnoKey)
	return w
}

// newClient returns a hongbao.Client of its own, as each replica has.
func (w *world) newClient(t *testing.T) *hongbao.Client {
	t.Helper()
	c, err := hongbao.New(hongbao.Config{
		AppID: w.fake.AppID,
		Transport: transport.Config{
			MchID:     w.fake.MchID,
			APIKey:    w.fake.APIKey,
			CertPEM:   w.fake.ClientCertPEM(),
			KeyPEM:    w.fake.ClientKeyPEM(),
			RootCAPEM: w.fake.CACertPEM(),
			BaseURL:   w.fake.URL,
		},
		BillnoKey: w.billnoKey,
		Retry:     hongbao.RetryPolicy{BaseDelay: 10 * time.Millisecond, MaxDelay: 50 * time.Millisecond},
	})
	if err != nil {
		t.Fatalf("hongbao.New: %v", err)
	}
	return c
}

type replica struct {
	name   string
	client *hongbao.Client
	srv    *httptest.Server
	// handler is the replica's claim handler.
	handler *claim.Handler
}

// replica starts one instance of the service: its own client, the given
// Store, the handler behind a JWT Authenticator, its own HTTP server.
// storeRetryAfter is the handlers' HandlerConfig.StoreRetryAfter.
const storeRetryAfter = 100 * time.Millisecond

func (w *world) replica(t *testing.T, name string, store store.Store, tweak func(*claim.HandlerConfig)) *replica {
	t.Helper()
	client := w.newClient(t)
	cfg := claim.HandlerConfig{
		SceneOptional: true,
		Client:        client,
		Policy: claim.PolicyFunc(func(context.Context, jwtauth.User, []byte) (claim.Grant, error) {
			return w.grant, nil
		}),
		Store:     store,
		RateLimit: -1,
		// After a Store failure the handler keeps to its own process
		// for this long; short, so the restart test sees Redis again.
		StoreRetryAfter: storeRetryAfter,
		Logger:          slog.New(w.logs),
	}
	if tweak != nil {
		tweak(&cfg)
	}
	h, err := claim.NewHandler(cfg)
	if err != nil {
		t.Fatalf("NewHandler: %v", err)
	}
	key, err := jwtauth.HMACKey("", w.secret)
	if err != nil {
		t.Fatalf("HMACKey: %v", err)
	}
	auth, err := jwtauth.NewAuthenticator(jwtauth.Config{
		Keys:     []jwtauth.Key{key},
		Issuer:   testIssuer,
		Audience: testAudience,
	})
	if err != nil {
		t.Fatalf("NewAuthenticator: %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/hongbao/send", auth.Middleware(h))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &replica{name: name, client: client, srv: srv, handler: h}
}

// token signs an HS256 token for openID, as the mini program's login
// service would.
func (w *world) token(t *testing.T, openID string) string {
	t.Helper()
	now := time.Now()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": openID,
		"iss": testIssuer,
		"aud": testAudience,
		"iat": now.Unix(),
		"exp": now.Add(time.Hour).Unix(),
	})
	s, err := tok.SignedString(w.secret)
	if err != nil {
		t.Fatalf("signing the token: %v", err)
	}
	return s
}

func (w *world) billno(t *testing.T, openID string) string {
	t.Helper()
	b, err := hongbao.DeriveBillno(w.billnoKey, w.fake.MchID, w.grant.Key, openID)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// packageOf is the package the handler answers for billno: the platform's,
// URI-encoded.
func (w *world) packageOf(t *testing.T, billno string) string {
	t.Helper()
	p, ok := w.fake.Packet(billno)
	if !ok {
		t.Fatalf("the platform has no red packet %s", billno)
	}
	return signer.EncodeURIComponent(p.Package)
}

type answer struct {
	status     int
	code       string              // error answers
	pkg        string              // 200 answers: the URI-encoded package
	params     signer.BizRedPacket // 200 answers
	retryAfter string
	err        error
}

// tap POSTs one tap to r.
func tap(r *replica, token string) answer {
	req, err := http.NewRequest(http.MethodPost, r.srv.URL+"/hongbao/send", nil)
	if err != nil {
		return answer{err: err}
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := r.srv.Client().Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{err: err}
	}
	a := answer{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After")}
	var v struct {
		Code string `json:"code"`
		signer.BizRedPacket
	}
	if err := json.Unmarshal(body, &v); err != nil {
		a.err = err
	}
	a.code, a.pkg, a.params = v.Code, v.Package, v.BizRedPacket
	return a
}

// checkPaySign checks that a 200 answer is what wx.sendBizRedPacket
// accepts for billno: the platform's package, signed with the merchant key.
func (w *world) checkPaySign(t *testing.T, a answer, billno string) {
	t.Helper()
	p, ok := w.fake.Packet(billno)
	if !ok {
		t.Fatalf("the platform has no red packet %s", billno)
	}
	sg, err := signer.New(w.fake.APIKey)
	if err != nil {
		t.Fatal(err)
	}
	if a.params.Package != signer.EncodeURIComponent(p.Package) {
		t.Errorf("answer package %q, the platform paid %q", a.params.Package, p.Package)
	}
	if err := sg.VerifyBizRedPacket(w.fake.AppID, a.params, signer.EncodedLowerRule); err != nil {
		t.Errorf("answer signType %q paySign %q: %v", a.params.SignType, a.params.PaySign, err)
	}
}

// tally sums up answers.
type tally struct {
	byStatus map[int]int
	packages map[string]int
	errs     []error
}

func count(answers []answer) tally {
	t := tally{byStatus: map[int]int{}, packages: map[string]int{}}
	for _, a := range answers {
		if a.err != nil {
			t.errs = append(t.errs, a.err)
			continue
		}
		t.byStatus[a.status]++
		if a.status == http.StatusOK {
			t.packages[a.pkg]++
		}
	}
	return t
}

// burst sends n concurrent taps of token, alternating between replicas.
func burst(n int, token string, replicas ...*replica) []answer {
	answers := make([]answer, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			answers[i] = tap(replicas[i%len(replicas)], token)
		})
	}
	close(start)
	wg.Wait()
	return answers
}

// countingLog is a slog.Handler that counts warnings: the handler logs one
// per Store failure. It keeps the first few, for the tests to show.
type countingLog struct {
	warnings atomic.Int64
	mu       sync.Mutex
	first    []string
}

func (l *countingLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *countingLog) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		l.warnings.Add(1)
		msg := r.Message
		r.Attrs(func(a slog.Attr) bool {
			msg += " " + a.String()
			return true
		})
		l.mu.Lock()
		if len(l.first) < 5 {
			l.first = append(l.first, msg)
		}
		l.mu.Unlock()
	}
	return nil
}

// firstWarnings returns the first warnings logged (up to 5).
func (l *countingLog) firstWarnings() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.first)
}
func (l *countingLog) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *countingLog) WithGroup(string) slog.Handler      { return l }

func TestTwoReplicasPayOnce(t *testing.T) {
	prefix := newPrefix(t)
	w := newWorld(t)
	a := w.replica(t, "A", newStore(t, prefix), nil)
	b := w.replica(t, "B", newStore(t, prefix), nil)

	const taps = 50
	for round := range 3 {
		openID := "oUser" + strconv.Itoa(round) + "_" + rand.Text()[:16]
		billno := w.billno(t, openID)
		answers := burst(taps, w.token(t, openID), a, b)
		got := count(answers)
		for _, ans := range answers {
			if ans.status == http.StatusOK {
				w.checkPaySign(t, ans, billno)
			}
		}
		t.Logf("round %d: %d concurrent taps over 2 replicas: %d send(s) at the host, %d distinct package(s), %d x 200, %d x 503, statuses %v",
			round+1, taps, w.fake.Sends(billno), len(got.packages), got.byStatus[200], got.byStatus[503], got.byStatus)
		if len(got.errs) > 0 {
			t.Fatalf("tap errors: %v", got.errs)
		}
		if n := w.fake.Sends(billno); n != 1 {
			t.Errorf("the platform saw %d sends of %s, want exactly 1", n, billno)
		}
		if got.byStatus[http.StatusOK] != taps {
			t.Errorf("statuses %v, want %d x 200", got.byStatus, taps)
		}
		if len(got.packages) != 1 {
			t.Errorf("%d distinct packages in the answers, want 1", len(got.packages))
		}
		want := w.packageOf(t, billno)
		if got.packages[want] != got.byStatus[http.StatusOK] {
			t.Errorf("answers carry packages %v, want only the platform's", got.packages)
		}
		// The result is shared through Redis.
		c := newClient(t, redisURL)
		if n := c.Exists(context.Background(), prefix+"result:"+billno).Val(); n != 1 {
			t.Errorf("no result key for %s in Redis", billno)
		}
		if n := c.Exists(context.Background(), prefix+"lock:"+billno).Val(); n != 0 {
			t.Errorf("the lock of %s was not released", billno)
		}
	}
}

func TestRateLimitSharedAcrossReplicas(t *testing.T) {
	prefix := newPrefix(t)
	w := newWorld(t)
	limit3 := func(c *claim.HandlerConfig) { c.RateLimit = 3; c.RateWindow = time.Minute }
	a := w.replica(t, "A", newStore(t, prefix), limit3)
	b := w.replica(t, "B", newStore(t, prefix), limit3)

	openID := "oRate_" + rand.Text()[:16]
	tok := w.token(t, openID)
	for i, r := range []*replica{a, b, a} {
		if ans := tap(r, tok); ans.err != nil || ans.status != http.StatusOK {
			t.Fatalf("tap %d on %s: %d %s %v; want 200", i+1, r.name, ans.status, ans.code, ans.err)
		}
	}
	ans := tap(b, tok)
	if ans.status != http.StatusTooManyRequests || ans.code != "rate_limited" {
		t.Fatalf("4th tap on B: %d %q; want 429 rate_limited (the limit is shared)", ans.status, ans.code)
	}
	secs, err := strconv.Atoi(ans.retryAfter)
	if err != nil || secs < 1 || secs > 60 {
		t.Errorf("Retry-After %q, want 1..60 seconds", ans.retryAfter)
	}
	if ans := tap(a, tok); ans.status != http.StatusTooManyRequests {
		t.Errorf("5th tap on A: %d, want 429", ans.status)
	}
	// Per openid: another user is not limited.
	if ans := tap(b, w.token(t, "oOther_"+rand.Text()[:16])); ans.status != http.StatusOK {
		t.Errorf("another user's tap: %d %q, want 200", ans.status, ans.code)
	}
	if n := w.fake.Sends(w.billno(t, openID)); n != 1 {
		t.Errorf("%d sends, want 1", n)
	}
}

func TestRedisStoppedMidway(t *testing.T) {
	prefix := newPrefix(t)
	red := newStoppableRedis(t, prefix)
	w := newWorld(t)
	store := func() *redisstore.Store {
		s, err := redisstore.NewFromURL(red.URL(), redisstore.Options{Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	limit := func(c *claim.HandlerConfig) { c.RateLimit = 1000 }
	storeA, storeB := store(), store()
	a := w.replica(t, "A", storeA, limit)
	b := w.replica(t, "B", storeB, limit)

	// Redis up: user 1 is paid once.
	paid := "oPaid_" + rand.Text()[:16]
	paidTok, paidBillno := w.token(t, paid), w.billno(t, paid)
	for _, r := range []*replica{a, b} {
		if ans := tap(r, paidTok); ans.status != http.StatusOK {
			t.Fatalf("tap on %s with Redis up: %d %q %v", r.name, ans.status, ans.code, ans.err)
		}
	}
	paidPkg := w.packageOf(t, paidBillno)
	if n := w.fake.Sends(paidBillno); n != 1 {
		t.Fatalf("%d sends with Redis up, want 1", n)
	}

	red.Stop(t)
	warnBefore := w.logs.warnings.Load()

	// Redis down: the paid user taps again on both replicas. The cached
	// result is out of reach, so each replica resends the same bill
	// number; the platform answers with the first packet.
	start := time.Now()
	got := count(burst(10, paidTok, a, b))
	t.Logf("Redis down, paid user: 10 taps: %v in %v; sends at the host %d (1 before the outage); distinct packages %d",
		got.byStatus, time.Since(start).Round(time.Millisecond), w.fake.Sends(paidBillno), len(got.packages))
	if len(got.errs) > 0 || got.byStatus[http.StatusOK] != 10 {
		t.Fatalf("with Redis down: statuses %v, errors %v; want 10 x 200", got.byStatus, got.errs)
	}
	if len(got.packages) != 1 || got.packages[paidPkg] != 10 {
		t.Fatalf("with Redis down the paid user got packages %v, want only the first packet's", got.packages)
	}
	if n := w.fake.Sends(paidBillno); n > 1+2 {
		t.Errorf("%d sends of the paid bill number, want at most one more per replica", n)
	}

	// Redis down: a new user taps on both replicas at once. Each replica
	// coalesces locally; the platform pays once.
	fresh := "oFresh_" + rand.Text()[:16]
	freshBillno := w.billno(t, fresh)
	start = time.Now()
	got = count(burst(20, w.token(t, fresh), a, b))
	sends := w.fake.Sends(freshBillno)
	t.Logf("Redis down, new user: 20 taps over 2 replicas: %v in %v; %d send(s) at the host, %d distinct package(s)",
		got.byStatus, time.Since(start).Round(time.Millisecond), sends, len(got.packages))
	if len(got.errs) > 0 || got.byStatus[http.StatusOK] != 20 {
		t.Fatalf("with Redis down: statuses %v, errors %v; want 20 x 200", got.byStatus, got.errs)
	}
	freshPkg := w.packageOf(t, freshBillno)
	if len(got.packages) != 1 || got.packages[freshPkg] != 20 {
		t.Fatalf("with Redis down the new user got packages %v, want one", got.packages)
	}
	if sends < 1 || sends > 2 {
		t.Errorf("%d sends of the new bill number, want 1 or 2 (one per replica at most)", sends)
	}
	if w.logs.warnings.Load() == warnBefore {
		t.Errorf("no warning logged while Redis was down")
	}

	// Redis back, empty (no persistence): nothing cached, no safety lost.
	red.Start(t)
	// The client's pool, after failed dials, answers errors for a short
	// while before dialling again: meanwhile the handler stays degraded.
	eventually(t, 10*time.Second, "the stores never reached the restarted Redis", func() bool {
		return storeA.Ping(context.Background()) == nil && storeB.Ping(context.Background()) == nil
	})
	time.Sleep(2 * storeRetryAfter) // the handlers try the Store again
	for _, r := range []*replica{a, b} {
		ans := tap(r, paidTok)
		if ans.status != http.StatusOK || ans.pkg != paidPkg {
			t.Fatalf("after the restart, tap on %s: %d %q, package same as before: %v", r.name, ans.status, ans.code, ans.pkg == paidPkg)
		}
	}
	third := "oThird_" + rand.Text()[:16]
	thirdBillno := w.billno(t, third)
	got = count(burst(10, w.token(t, third), a, b))
	if got.byStatus[http.StatusOK] != 10 || len(got.packages) != 1 {
		t.Fatalf("after the restart: statuses %v, %d packages", got.byStatus, len(got.packages))
	}
	if n := w.fake.Sends(thirdBillno); n != 1 {
		t.Errorf("after the restart %d sends for a new user, want 1 (Redis coalesces again)", n)
	}
	c := newClient(t, red.URL())
	if n := c.Exists(context.Background(), prefix+"result:"+thirdBillno).Val(); n != 1 {
		t.Errorf("after the restart the result is not in Redis")
	}
	for _, billno := range []string{paidBillno, freshBillno, thirdBillno} {
		if _, ok := w.fake.Packet(billno); !ok {
			t.Errorf("no packet %s", billno)
		}
	}
}

func TestReplicaDiesHoldingTheLock(t *testing.T) {
	t.Parallel()
	needRedis(t)
	const deadTTL = 2 * time.Second // the dead replica's LockTTL

	setup := func(t *testing.T) (w *world, dead *redisstore.Store, impatient, patient *replica) {
		prefix := newPrefix(t)
		w = newWorld(t)
		dead = newStore(t, prefix)
		impatient = w.replica(t, "A", newStore(t, prefix), func(c *claim.HandlerConfig) { c.WaitTimeout = 200 * time.Millisecond })
		patient = w.replica(t, "B", newStore(t, prefix), func(c *claim.HandlerConfig) { c.WaitTimeout = 10 * time.Second })
		return
	}

	t.Run("before its send", func(t *testing.T) {
		t.Parallel()
		w, dead, a, b := setup(t)
		openID := "oDead1_" + rand.Text()[:16]
		tok, billno := w.token(t, openID), w.billno(t, openID)

		if _, ok, err := dead.TryLock(context.Background(), billno, deadTTL); !ok || err != nil {
			t.Fatalf("TryLock = %v, %v", ok, err)
		}
		lockedAt := time.Now()
		dead.Close()

		ans := tap(a, tok)
		if ans.status != http.StatusServiceUnavailable || ans.code != "in_progress" || ans.retryAfter == "" {
			t.Fatalf("tap while the dead replica holds the lock: %d %q Retry-After %q; want 503 in_progress with Retry-After",
				ans.status, ans.code, ans.retryAfter)
		}
		if n := w.fake.Sends(billno); n != 0 {
			t.Fatalf("%d sends while the lock was held", n)
		}
		ans = tap(b, tok) // waits for the lock to expire, then sends
		waited := time.Since(lockedAt)
		if ans.status != http.StatusOK {
			t.Fatalf("tap after the lock expired: %d %q %v", ans.status, ans.code, ans.err)
		}
		if waited < deadTTL-100*time.Millisecond {
			t.Errorf("paid after %v, before the dead lock's ttl %v", waited, deadTTL)
		}
		if n := w.fake.Sends(billno); n != 1 {
			t.Errorf("%d sends, want 1", n)
		}
		if ans.pkg != w.packageOf(t, billno) {
			t.Errorf("the answer's package is not the platform's")
		}
		if again := tap(a, tok); again.status != http.StatusOK || again.pkg != ans.pkg || w.fake.Sends(billno) != 1 {
			t.Errorf("repeat tap: %d, same package %v, %d sends", again.status, again.pkg == ans.pkg, w.fake.Sends(billno))
		}
		t.Logf("dead holder before its send: 503 in_progress while locked, then 200 after %v; %d send(s)",
			waited.Round(time.Millisecond), w.fake.Sends(billno))
	})

	t.Run("after the platform paid", func(t *testing.T) {
		t.Parallel()
		w, dead, a, b := setup(t)
		openID := "oDead2_" + rand.Text()[:16]
		tok, billno := w.token(t, openID), w.billno(t, openID)

		// The dead replica took the lock and its send went through, but it
		// died before saving the result.
		if _, ok, err := dead.TryLock(context.Background(), billno, deadTTL); !ok || err != nil {
			t.Fatalf("TryLock = %v, %v", ok, err)
		}
		dead.Close()
		res, err := w.newClient(t).SendMiniProgramHB(context.Background(), &hongbao.SendRequest{
			Billno: billno, OpenID: openID, Amount: w.grant.Amount,
			SendName: w.grant.SendName, Wishing: w.grant.Wishing, ActName: w.grant.ActName, Remark: w.grant.Remark,
		})
		if err != nil {
			t.Fatalf("the dead replica's send: %v", err)
		}

		if ans := tap(a, tok); ans.status != http.StatusServiceUnavailable || ans.code != "in_progress" {
			t.Fatalf("tap while locked: %d %q, want 503 in_progress", ans.status, ans.code)
		}
		ans := tap(b, tok)
		if ans.status != http.StatusOK {
			t.Fatalf("tap after the lock expired: %d %q %v", ans.status, ans.code, ans.err)
		}
		if ans.pkg != signer.EncodeURIComponent(res.Package) {
			t.Errorf("the resumed tap got another package than the dead replica's send")
		}
		p, _ := w.fake.Packet(billno)
		if p.Package != res.Package || p.Billno != billno {
			t.Errorf("the platform's packet changed")
		}
		if n := w.fake.Sends(billno); n != 2 {
			t.Errorf("%d sends, want 2 (the dead replica's and the idempotent resend)", n)
		}
		t.Logf("dead holder after the platform paid: resumed with the same bill number, %d sends, 1 packet", w.fake.Sends(billno))
	})
}

// TestLifecycleOnRedis runs the grant lifecycle's hard paths with two
// replicas sharing Redis: random amounts with a lost reply and a flushed
// Redis, and a burst of taps while the balance is short, then a top-up.
func TestLifecycleOnRedis(t *testing.T) {
	t.Run("random amount, reply lost, Redis flushed", func(t *testing.T) {
		prefix := newPrefix(t)
		w := newWorld(t)
		var draws atomic.Int64
		random := func(c *claim.HandlerConfig) {
			c.Policy = claim.PolicyFunc(func(context.Context, jwtauth.User, []byte) (claim.Grant, error) {
				g := w.grant
				g.Amount = 100 + draws.Add(1)*37%300
				return g, nil
			})
		}
		a := w.replica(t, "A", newStore(t, prefix), random)
		openID := "oRandom_" + rand.Text()[:16]
		billno := w.billno(t, openID)
		w.fake.Inject(wxpaytest.Fault{DropAfter: true, Times: 100,
			Match: func(path string, _ map[string]string) bool { return path == wxpaytest.PathSendMiniProgramHB }})
		if ans := tap(a, w.token(t, openID)); ans.status != http.StatusServiceUnavailable || ans.code != "outcome_unknown" {
			t.Fatalf("first tap: %+v", ans)
		}
		w.fake.Reset() // the link heals; the packet stays
		paid, ok := w.fake.Packet(billno)
		if !ok {
			t.Fatal("the host did not pay")
		}
		deletePrefix(t, prefix) // Redis lost everything
		b := w.replica(t, "B", newStore(t, prefix), random)
		answers := burst(20, w.token(t, openID), a, b)
		got := count(answers)
		if got.byStatus[http.StatusOK] != 20 || len(got.packages) != 1 {
			t.Fatalf("statuses %v, %d packages", got.byStatus, len(got.packages))
		}
		for _, ans := range answers {
			w.checkPaySign(t, ans, billno)
		}
		var accepted []wxpaytest.Packet
		for _, p := range w.fake.PacketsOf(openID) {
			if p.ErrCode == "" {
				accepted = append(accepted, p)
			}
		}
		if len(accepted) != 1 || accepted[0].Amount != paid.Amount {
			t.Errorf("packets %+v, first paid %d fen", accepted, paid.Amount)
		}
	})

	for _, mode := range []wxpaytest.NotEnoughMode{wxpaytest.NotEnoughFailed, wxpaytest.NotEnoughForgotten} {
		t.Run("NOTENOUGH burst "+mode.String(), func(t *testing.T) {
			prefix := newPrefix(t)
			w := newWorld(t)
			clk := &testClock{}
			w.fake = wxpaytest.Start(t, wxpaytest.Options{Balance: 50, NotEnough: mode, Now: clk.Now})
			const probe = 3 * time.Second
			withClock := func(c *claim.HandlerConfig) { c.MerchantProbe, c.Now = probe, clk.Now }
			a := w.replica(t, "A", newStore(t, prefix), withClock)
			b := w.replica(t, "B", newStore(t, prefix), withClock)
			openID := "oShort_" + rand.Text()[:16]
			tok := w.token(t, openID)
			for range 10 {
				if got := count(burst(50, tok, a, b)); got.byStatus[http.StatusOK] != 0 || len(got.errs) > 0 {
					t.Fatalf("paid without money: %v %v", got.byStatus, got.errs)
				}
				clk.Advance(probe)
			}
			w.fake.TopUp(1000)
			for i := 0; i < 20; i++ {
				clk.Advance(probe)
				if got := count(burst(50, tok, a, b)); got.byStatus[http.StatusOK] == 50 {
					break
				}
			}
			got := count(burst(50, tok, a, b))
			if got.byStatus[http.StatusOK] != 50 || len(got.packages) != 1 {
				t.Fatalf("after the top-up: statuses %v, %d packages", got.byStatus, len(got.packages))
			}
			var paid []string
			for _, p := range w.fake.PacketsOf(openID) {
				if p.ErrCode == "" {
					paid = append(paid, p.Billno)
				}
			}
			if len(paid) != 1 {
				t.Fatalf("paid numbers %v", paid)
			}
			// The outage, shared through Redis, holds every send back
			// but one probe at a time: the grant loses the number
			// refused first and, alone to probe, one more at most. (A
			// Store failure, logged as a warning, falls back to each
			// replica's own state.)
			if n := len(w.fake.PacketsOf(openID)); n > 3 && w.logs.warnings.Load() == 0 {
				t.Errorf("%s: %d bill numbers used", mode, n)
			}
		})
	}
}

// testClock is a clock shared by the fake platform and the handlers, which
// a test moves forward.
type testClock struct{ offset atomic.Int64 }

func (c *testClock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *testClock) Advance(d time.Duration) { c.offset.Add(int64(d)) }
