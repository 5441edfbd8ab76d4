// Package claimtest runs the claim handler's money-safety scenarios against
// a Store: the paths on which a user could be stranded, or a budget
// overrun, walked end to end through a fake platform (wxpaytest, over
// mutual TLS) by handlers behind real JWTs, with two replicas sharing the
// Store, restarts (a new handler on the same Store) and a clock that the
// platform and the handlers share:
//
//	func TestScenarios(t *testing.T) {
//		claimtest.Run(t, func(t *testing.T) claimtest.Backend { return claimtest.Memory(t) })
//	}
//
// Each scenario logs its figures (users paid, bill numbers used per
// grant, answers) with t.Logf.
//
// NewRoute builds what a router's Mount takes for a claim route (an
// Authenticator, a claim handler and a token) on a fake platform, and
// Route.Show prints what the mounted route answers to a claim, a stray GET
// and other paths: the examples of the router adapters run on it.
package claimtest

import (
	"context"
	"encoding/json"
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

	"github.com/hongbao-go/hongbao"
	"github.com/hongbao-go/hongbao/middleware/claim"
	"github.com/hongbao-go/hongbao/middleware/jwtauth"
	"github.com/hongbao-go/hongbao/middleware/jwttest"
	"github.com/hongbao-go/hongbao/rail"
	"github.com/hongbao-go/hongbao/signer"
	"github.com/hongbao-go/hongbao/store"
	"github.com/hongbao-go/hongbao/transport"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

// Backend is the Store under test.
type Backend struct {
	// Store returns a Store on the backend's one state: a replica's, or a
	// restarted process's.
	Store func(t *testing.T) store.Store
	// Flush loses everything the Store holds, as a flushed Redis, or a
	// failover to a replica that lagged, would.
	Flush func(t *testing.T)
	// ForgetRecords loses the grants' terms and results, and nothing else
	// (the budget accounts stay), as a failover of the Redis node that
	// held those keys would.
	ForgetRecords func(t *testing.T)
	// ForgetBudgets loses the budget accounts, and nothing else, as a
	// failover of the Redis node that held them would.
	ForgetBudgets func(t *testing.T)
	// Rebuild rebuilds a campaign's lost account from the platform; nil
	// means store.RebuildBudget with the request's Client and Store. The
	// operator command's tests set it to run the command.
	Rebuild func(t *testing.T, req RebuildRequest)
}

// RebuildRequest is what Backend.Rebuild is asked to rebuild.
type RebuildRequest struct {
	Host      *wxpaytest.Server // the platform
	BillnoKey []byte            // the services' bill number key
	Client    *hongbao.Client   // a client of the platform with that key
	Store     store.Store
	Campaign  string   // the account, and the grants' key
	OpenIDs   []string // the users of the campaign
	// FromStore reports that the grants' records survived the loss: the
	// rebuild may take its grants from the Store instead of OpenIDs.
	FromStore bool
}

// Memory returns a Backend on one MemoryStore shared by every replica (a
// process's memory standing in for a shared server).
func Memory(t *testing.T) Backend {
	m := &swapStore{}
	m.records.Store(store.NewMemoryStore())
	m.rest.Store(store.NewMemoryStore())
	return Backend{
		Store:         func(*testing.T) store.Store { return m },
		Flush:         func(*testing.T) { m.records.Store(store.NewMemoryStore()); m.rest.Store(store.NewMemoryStore()) },
		ForgetRecords: func(*testing.T) { m.records.Store(store.NewMemoryStore()) },
		ForgetBudgets: func(*testing.T) { m.rest.Store(store.NewMemoryStore()) },
	}
}

// swapStore keeps the grants' records (terms, results) apart from the
// rest, each in a MemoryStore it can replace.
type swapStore struct {
	records, rest atomic.Pointer[store.MemoryStore]
}

func (s *swapStore) AddTerms(ctx context.Context, k string, t store.Terms, ttl time.Duration) (store.Terms, bool, error) {
	return s.records.Load().AddTerms(ctx, k, t, ttl)
}

func (s *swapStore) SaveTerms(ctx context.Context, k string, t store.Terms, ttl time.Duration) error {
	return s.records.Load().SaveTerms(ctx, k, t, ttl)
}

func (s *swapStore) Result(ctx context.Context, b string) (store.Result, bool, error) {
	return s.records.Load().Result(ctx, b)
}

func (s *swapStore) SaveResult(ctx context.Context, b string, r store.Result, ttl time.Duration) error {
	return s.records.Load().SaveResult(ctx, b, r, ttl)
}

func (s *swapStore) TryLock(ctx context.Context, k string, ttl time.Duration) (func(), bool, error) {
	return s.rest.Load().TryLock(ctx, k, ttl)
}

func (s *swapStore) Budget(ctx context.Context, c string, op store.BudgetOp) (store.BudgetState, bool, error) {
	return s.rest.Load().Budget(ctx, c, op)
}

func (s *swapStore) Allow(ctx context.Context, k string, l int, w time.Duration) (bool, time.Duration, error) {
	return s.rest.Load().Allow(ctx, k, l, w)
}

// Run runs every scenario, each on a Backend of its own from newBackend.
func Run(t *testing.T, newBackend func(t *testing.T) Backend) {
	for _, s := range []struct {
		name string
		run  func(*testing.T, func(*testing.T) Backend)
	}{
		{"LateSuccess", LateSuccess},
		{"MerchantOutage", MerchantOutage},
		{"DailyLimit", DailyLimit},
		{"FlushedBudget", FlushedBudget},
		{"LostAccount", LostAccount},
		{"FatalRecoveryCommitsThePaidAmount", FatalRecoveryCommitsThePaidAmount},
		{"ClosedUnderTheLock", ClosedUnderTheLock},
		{"LoweredMaxAttempts", LoweredMaxAttempts},
	} {
		t.Run(s.name, func(t *testing.T) { s.run(t, newBackend) })
	}
}

// Clock is the clock the platform and the handlers share: the real one
// moved forward by Advance.
type Clock struct{ offset atomic.Int64 }

// Now returns the time.
func (c *Clock) Now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// world is a scenario's platform, users and replicas.
type world struct {
	t         *testing.T
	b         Backend
	clock     *Clock
	host      *wxpaytest.Server
	billnoKey []byte
	signer    *jwttest.Signer
	auth      *jwtauth.Authenticator
	grant     atomic.Pointer[claim.Grant]
	logs      *logBuffer
}

// campaign is the grants' key, and the budget's campaign.
const campaign = "spring-2026"

func newWorld(t *testing.T, b Backend, opts wxpaytest.Options) *world {
	t.Helper()
	w := &world{t: t, b: b, clock: &Clock{}, billnoKey: []byte("claimtest bill number key, 32 b."), logs: &logBuffer{}}
	opts.Now = w.clock.Now
	w.host = wxpaytest.Start(t, opts)
	w.signer = jwttest.HS256(t, jwttest.Config{})
	auth, err := jwtauth.NewAuthenticator(w.signer.AuthConfig())
	if err != nil {
		t.Fatal(err)
	}
	w.auth = auth
	w.setGrant(func(*claim.Grant) {})
	return w
}

// setGrant sets what the policy grants: the campaign's 100-fen packet,
// changed by edit.
func (w *world) setGrant(edit func(*claim.Grant)) {
	g := claim.Grant{Key: campaign, Payout: rail.Payout{Amount: 100, SendName: "天虹百货", Wishing: "恭喜发财，大吉大利", ActName: "新春红包", Remark: "快来抢"}}
	edit(&g)
	w.grant.Store(&g)
}

// client is a client of the platform of its own, as each replica has.
func (w *world) client() *hongbao.Client {
	w.t.Helper()
	cert := w.host.ClientCertificate()
	c, err := hongbao.New(hongbao.Config{
		AppID: w.host.AppID,
		Transport: transport.Config{
			MchID: w.host.MchID, APIKey: w.host.APIKey, Certificate: &cert,
			RootCAs: w.host.RootCAs(), BaseURL: w.host.URL,
		},
		Retry:     hongbao.RetryPolicy{Attempts: 3, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond, ProcessingDelay: 20 * time.Millisecond},
		Flow:      hongbao.FlowControl{SendsPerMinute: -1},
		BillnoKey: w.billnoKey,
	})
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(c.Transport().CloseIdleConnections)
	return c
}

// replica is one process of the service.
type replica struct {
	w       *world
	url     string
	handler *claim.Handler
}

// replica starts a process on the backend's Store: its own client,
// handler and HTTP server, the shared clock; tweak adjusts its
// configuration.
func (w *world) replica(tweak func(*claim.HandlerConfig)) *replica {
	w.t.Helper()
	cfg := claim.HandlerConfig{
		Client: w.client(),
		Policy: claim.PolicyFunc(func(context.Context, jwtauth.User, []byte) (claim.Grant, error) {
			return *w.grant.Load(), nil
		}),
		Store:     w.b.Store(w.t),
		RateLimit: -1,
		Now:       w.clock.Now,
		Logger:    slog.New(slog.NewJSONHandler(w.logs, nil)),
	}
	if tweak != nil {
		tweak(&cfg)
	}
	h, err := claim.NewHandler(cfg)
	if err != nil {
		w.t.Fatal(err)
	}
	mux := http.NewServeMux()
	claim.Mount(mux, "/hongbao/send", w.auth, h)
	srv := httptest.NewServer(mux)
	w.t.Cleanup(srv.Close)
	return &replica{w: w, url: srv.URL + "/hongbao/send", handler: h}
}

var tapClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: time.Minute}

// answer is a tap's answer.
type answer struct {
	status     int
	code       string
	pkg        string // the package (URL-encoded) of a 200
	retryAfter int    // seconds; 0 when absent
	body       string
}

func (a answer) String() string { return strconv.Itoa(a.status) + " " + a.body }

// tap sends openid's tap to r.
func (r *replica) tap(openid string) answer {
	r.w.t.Helper()
	a := r.tapOnce(openid)
	if a.status == 0 {
		r.w.t.Fatalf("tap: %s", a.body)
	}
	if a.status == http.StatusOK && a.pkg == "" {
		r.w.t.Fatalf("a 200 without a package: %s", a.body)
	}
	return a
}

// tapOnce sends openid's tap to r from any goroutine; a failure to get an
// answer is status 0, with the error as the body.
func (r *replica) tapOnce(openid string) answer {
	fail := func(err error) answer { return answer{body: err.Error()} }
	tok, err := r.w.signer.Token(openid)
	if err != nil {
		return fail(err)
	}
	req, err := http.NewRequest(http.MethodPost, r.url, strings.NewReader(`{"scene":1047}`))
	if err != nil {
		return fail(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	res, err := tapClient.Do(req)
	if err != nil {
		return fail(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return fail(err)
	}
	a := answer{status: res.StatusCode, body: string(body)}
	a.retryAfter, _ = strconv.Atoi(res.Header.Get("Retry-After"))
	var v struct{ Code, Package string }
	_ = json.Unmarshal(body, &v)
	a.code, a.pkg = v.Code, v.Package
	return a
}

// billno is attempt n's bill number of openid's grant.
func (w *world) billno(openid string, n int) string {
	w.t.Helper()
	b, err := hongbao.DeriveAttemptBillno(w.billnoKey, w.host.MchID, campaign, openid, n)
	if err != nil {
		w.t.Fatal(err)
	}
	return b
}

// paid returns the host's paid packets (accepted sends) of openid's
// grant.
func (w *world) paid(openid string) []wxpaytest.Packet {
	ours := map[string]bool{}
	for n := range 12 {
		ours[w.billno(openid, n)] = true
	}
	var out []wxpaytest.Packet
	for _, p := range w.host.PacketsOf(openid) {
		if ours[p.Billno] && p.ErrCode == "" && p.Status != wxpaytest.StatusFailed {
			out = append(out, p)
		}
	}
	return out
}

// numbers returns the distinct bill numbers of openid's grant sent to the
// host.
func (w *world) numbers(openid string) map[string]bool {
	out := map[string]bool{}
	for n := range 12 {
		out[w.billno(openid, n)] = false
	}
	for _, r := range w.host.Requests() {
		if r.Path == wxpaytest.PathSendMiniProgramHB && r.Params["re_openid"] == openid {
			if _, ours := out[r.Params["mch_billno"]]; ours {
				out[r.Params["mch_billno"]] = true
			}
		}
	}
	for b, sent := range out {
		if !sent {
			delete(out, b)
		}
	}
	return out
}

// encoded is the URL-encoded form of a package, as the page gets it.
func encoded(pkg string) string { return signer.EncodeURIComponent(pkg) }

// users returns n openids.
func users(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		s := strconv.Itoa(i)
		out[i] = prefix + strings.Repeat("0", 28-len(prefix)-len(s)) + s
	}
	return out
}

// account reads the campaign's account through r.
func (r *replica) account() store.BudgetState {
	r.w.t.Helper()
	st, _, err := r.handler.Budget(context.Background(), campaign)
	if err != nil {
		r.w.t.Fatal(err)
	}
	return st
}

// rebuild rebuilds the campaign's account for openids.
func (w *world) rebuild(openids []string, fromStore bool) {
	w.t.Helper()
	req := RebuildRequest{Host: w.host, BillnoKey: w.billnoKey, Client: w.client(), Store: w.b.Store(w.t), Campaign: campaign,
		OpenIDs: openids, FromStore: fromStore}
	if w.b.Rebuild != nil {
		w.b.Rebuild(w.t, req)
		return
	}
	var grants []store.RebuildGrant
	for _, o := range openids {
		grants = append(grants, store.RebuildGrant{Key: campaign, OpenID: o})
	}
	rep, err := store.RebuildBudget(context.Background(), store.RebuildConfig{
		Platform: req.Client.Rail(), Store: req.Store, Campaign: campaign, Grants: grants, Now: w.clock.Now,
	})
	if err != nil || !rep.State.Open {
		w.t.Fatalf("rebuild: %+v, %v", rep, err)
	}
}

// logBuffer collects the handlers' log lines.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
