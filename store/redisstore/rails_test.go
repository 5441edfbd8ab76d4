package redisstore_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/hongbao-go/hongbao"
	"github.com/hongbao-go/hongbao/apiv3"
	"github.com/hongbao-go/hongbao/middleware/claim"
	"github.com/hongbao-go/hongbao/middleware/jwtauth"
	"github.com/hongbao-go/hongbao/rail"
	"github.com/hongbao-go/hongbao/signer"
	"github.com/hongbao-go/hongbao/store"
	"github.com/hongbao-go/hongbao/transfer"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

// Both rails on Redis: replicas are handlers with clients of their own and
// Stores of their own on one Redis, in front of one fake host (both
// halves), over TLS, with real JWTs. For the transfer, the host posts its
// notifications to the last replica's NotificationHandler.

var bothRails = []string{hongbao.RailName, transfer.RailName}

type railWorld struct {
	kind    string
	host    *wxpaytest.Server
	prefix  string
	secret  []byte
	key     []byte
	grant   claim.Grant
	budgets map[string]store.Budget
	opened  atomic.Bool // the capped campaigns' accounts were opened
	notify  struct {
		srv *httptest.Server
		mu  sync.Mutex
		h   http.Handler
	}
}

func newRailWorld(t *testing.T, kind string, opts wxpaytest.Options, budgets map[string]store.Budget) *railWorld {
	t.Helper()
	w := &railWorld{kind: kind, prefix: newPrefix(t), secret: make([]byte, 32), key: make([]byte, 32), budgets: budgets}
	rand.Read(w.secret)
	rand.Read(w.key)
	w.grant = claim.Grant{Key: "autumn-" + rand.Text()[:8], Payout: rail.Payout{
		Amount: 100, SendName: "hongbao", Wishing: "中秋快乐", ActName: "中秋活动", Remark: "谢谢参与"}}
	w.notify.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.notify.mu.Lock()
		h := w.notify.h
		w.notify.mu.Unlock()
		if h == nil {
			rw.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(rw, r)
	}))
	w.notify.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	w.notify.srv.StartTLS()
	t.Cleanup(w.notify.srv.Close)
	opts.V3.NotifyClient = w.notify.srv.Client()
	w.host = wxpaytest.Start(t, opts)
	return w
}

// quiet is the rails' clients' logger: their records are not under test.
var quiet = slog.New(slog.DiscardHandler)

func (w *railWorld) newRail(t *testing.T) rail.Rail {
	t.Helper()
	retry := hongbao.RetryPolicy{Attempts: 3, BaseDelay: 10 * time.Millisecond, MaxDelay: 50 * time.Millisecond, AttemptTimeout: 5 * time.Second}
	if w.kind == hongbao.RailName {
		c, err := hongbao.New(hongbao.Config{AppID: w.host.AppID, Transport: w.host.TransportConfig(), BillnoKey: w.key, Retry: retry})
		if err != nil {
			t.Fatal(err)
		}
		return c.Rail()
	}
	vc := w.host.V3Config()
	tr, err := apiv3.New(apiv3.Config{MchID: vc.MchID, CertPEM: vc.CertPEM, KeyPEM: vc.KeyPEM, APIv3Key: vc.APIv3Key,
		PublicKeyID: vc.PublicKeyID, PublicKeyPEM: vc.PublicKeyPEM, RootCAs: vc.RootCAs, BaseURL: vc.BaseURL, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	c, err := transfer.New(transfer.Config{AppID: w.host.AppID, Transport: tr, BillnoKey: w.key, Retry: retry, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.Rail(transfer.RailConfig{NotifyURL: w.notify.srv.URL + "/hongbao/notify"})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

type railReplica struct {
	srv  *httptest.Server
	h    *claim.Handler
	rail rail.Rail
}

// replica starts a service instance: its own rail, its own Store on the
// world's Redis prefix, the handler behind a JWT Authenticator.
func (w *railWorld) replica(t *testing.T) *railReplica {
	t.Helper()
	r := &railReplica{rail: w.newRail(t)}
	h, err := claim.NewHandler(claim.HandlerConfig{
		Rail:      r.rail,
		Policy:    claim.PolicyFunc(func(context.Context, jwtauth.User, []byte) (claim.Grant, error) { return w.grant, nil }),
		Store:     newStore(t, w.prefix),
		RateLimit: -1,
		Budgets:   w.budgets,
	})
	if err != nil {
		t.Fatal(err)
	}
	r.h = h
	// A capped campaign's account is opened once, at the campaign's
	// first configuration (the first replica), never by a restart.
	if !w.opened.Swap(true) {
		for _, c := range h.Campaigns() {
			if _, err := h.OpenBudget(context.Background(), c); err != nil {
				t.Fatal(err)
			}
		}
	}
	key, err := jwtauth.HMACKey("", w.secret)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := jwtauth.NewAuthenticator(jwtauth.Config{Keys: []jwtauth.Key{key}, Issuer: testIssuer, Audience: testAudience})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	claim.Mount(mux, "/hongbao/send", auth, h)
	r.srv = httptest.NewServer(mux)
	t.Cleanup(r.srv.Close)
	if w.kind == transfer.RailName {
		nh, err := h.NotificationHandler()
		if err != nil {
			t.Fatal(err)
		}
		w.notify.mu.Lock()
		w.notify.h = nh
		w.notify.mu.Unlock()
	}
	return r
}

func (w *railWorld) token(t testing.TB, openID string) string {
	t.Helper()
	now := time.Now()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": openID, "iss": testIssuer, "aud": testAudience, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}).SignedString(w.secret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type railAnswer struct {
	status int
	code   string
	pkg    string
	body   string
	err    error
}

func (w *railWorld) tap(r *railReplica, token string) railAnswer {
	req, err := http.NewRequest(http.MethodPost, r.srv.URL+"/hongbao/send", strings.NewReader(`{"scene":1047}`))
	if err != nil {
		return railAnswer{err: err}
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := r.srv.Client().Do(req)
	if err != nil {
		return railAnswer{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return railAnswer{err: err}
	}
	var v struct {
		Code    string `json:"code"`
		Rail    string `json:"rail"`
		Package string `json:"package"`
	}
	a := railAnswer{status: resp.StatusCode, body: string(b)}
	if err := json.Unmarshal(b, &v); err != nil {
		a.err = err
	}
	if a.status == http.StatusOK && v.Rail != w.kind {
		a.err = fmt.Errorf("the answer names rail %q: %s", v.Rail, b)
	}
	a.code, a.pkg = v.Code, v.Package
	return a
}

func (w *railWorld) billno(t testing.TB, r *railReplica, openID string, attempt int) string {
	t.Helper()
	n, err := r.rail.Billno(w.grant.Key, openID, attempt)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// platformPackage is the package the platform holds for billno, as the
// page's answer carries it.
func (w *railWorld) platformPackage(t testing.TB, billno string) string {
	t.Helper()
	if w.kind == transfer.RailName {
		b, ok := w.host.Bill(billno)
		if !ok || b.PackageInfo == "" {
			t.Fatalf("no bill %s waiting: %+v", billno, b)
		}
		return b.PackageInfo
	}
	p, ok := w.host.Packet(billno)
	if !ok {
		t.Fatalf("no red packet %s", billno)
	}
	return signer.EncodeURIComponent(p.Package)
}

// payouts counts what the platform pays openID.
func (w *railWorld) payouts(openID string) int {
	if w.kind == transfer.RailName {
		return len(w.host.BillsOf(openID))
	}
	n := 0
	for _, p := range w.host.PacketsOf(openID) {
		if p.ErrCode == "" {
			n++
		}
	}
	return n
}

// confirm is the user opening the payout of a 200 answer: Open for the red
// packet; for the transfer, the confirmation and then its notification.
func (w *railWorld) confirm(t *testing.T, a railAnswer, billno, openID string) {
	t.Helper()
	if w.kind == hongbao.RailName {
		var p signer.BizRedPacket
		if err := json.Unmarshal([]byte(a.body), &p); err != nil {
			t.Fatal(err)
		}
		if _, err := w.host.Open(p, 1047); err != nil {
			t.Fatal(err)
		}
		return
	}
	var p wxpaytest.TransferPage
	if err := json.Unmarshal([]byte(a.body), &p); err != nil {
		t.Fatal(err)
	}
	p.OpenID = openID
	if _, err := w.host.ConfirmTransfer(p); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if d, err := w.host.WaitDelivered(ctx, billno); err != nil || !d.Delivered {
		t.Fatalf("the notification of %s: %+v %v", billno, d, err)
	}
}

// tapUntilAnswered taps until the handler answers something other than
// 503 (a send in progress, paced), as a page would.
func (w *railWorld) tapUntilAnswered(t *testing.T, r *railReplica, token string) railAnswer {
	t.Helper()
	for range 50 {
		a := w.tap(r, token)
		if a.err != nil {
			t.Fatal(a.err)
		}
		if a.status != http.StatusServiceUnavailable {
			return a
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("still 503 after 50 taps")
	return railAnswer{}
}

// 50 users tap at once, three times each, on two replicas sharing Redis:
// one payout each (the transfer: the host's count of bills equals the
// users), and every answer a user gets carries the platform's package.
func TestRailsFiftyUsersTwoReplicas(t *testing.T) {
	for _, kind := range bothRails {
		t.Run(kind, func(t *testing.T) {
			w := newRailWorld(t, kind, wxpaytest.Options{}, nil)
			a, b := w.replica(t), w.replica(t)
			const users, taps = 50, 3
			answers := make([][]railAnswer, users)
			tokens := make([]string, users)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range users {
				tokens[i] = w.token(t, fmt.Sprintf("oFifty%02d_%s", i, rand.Text()[:8]))
				answers[i] = make([]railAnswer, taps)
				for j := range taps {
					wg.Go(func() {
						<-start
						answers[i][j] = w.tap([]*railReplica{a, b}[(i+j)%2], tokens[i])
					})
				}
			}
			close(start)
			wg.Wait()
			var ok, busy, packages atomic.Int64
			for i := range users {
				openID := openIDOf(t, tokens[i])
				billno := w.billno(t, a, openID, 0)
				seen := map[string]bool{}
				for _, ans := range answers[i] {
					switch {
					case ans.err != nil:
						t.Fatalf("user %d: %v", i, ans.err)
					case ans.status == http.StatusOK:
						ok.Add(1)
						seen[ans.pkg] = true
					case ans.status == http.StatusServiceUnavailable:
						busy.Add(1)
					default:
						t.Fatalf("user %d: %d %s", i, ans.status, ans.body)
					}
				}
				for _, r := range []*railReplica{a, b} {
					ans := w.tapUntilAnswered(t, r, tokens[i])
					if ans.status != http.StatusOK {
						t.Fatalf("user %d: %d %s", i, ans.status, ans.body)
					}
					seen[ans.pkg] = true
				}
				want := w.platformPackage(t, billno)
				if len(seen) != 1 || !seen[want] {
					t.Errorf("user %d got packages %v, the platform holds %q", i, seen, want)
				}
				packages.Add(int64(len(seen)))
				if n := w.payouts(openID); n != 1 {
					t.Errorf("user %d: %d payouts", i, n)
				}
			}
			if kind == transfer.RailName && w.host.BillsCreated() != users {
				t.Errorf("%d bills created for %d users", w.host.BillsCreated(), users)
			}
			t.Logf("%s on Redis: %d users x %d concurrent taps over 2 replicas: %d x 200, %d x 503 (then answered); %d payouts, %d distinct packages",
				kind, users, taps, ok.Load(), busy.Load(), users, packages.Load())
		})
	}
}

// openIDOf reads the subject of a token the test signed.
func openIDOf(t *testing.T, token string) string {
	t.Helper()
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(token, claims); err != nil {
		t.Fatal(err)
	}
	sub, _ := claims["sub"].(string)
	return sub
}

// A budget of N packets on two replicas sharing Redis, more users than
// packets at once: exactly N payouts, and once opened (for the transfer:
// confirmed and notified) exactly N committed and none reserved.
func TestRailsBudgetOnRedis(t *testing.T) {
	for _, kind := range bothRails {
		t.Run(kind, func(t *testing.T) {
			const packets, users = 10, 30
			campaign := "budget-" + rand.Text()[:8]
			w := newRailWorld(t, kind, wxpaytest.Options{}, map[string]store.Budget{campaign: {Packets: packets}})
			w.grant.Campaign = campaign
			a, b := w.replica(t), w.replica(t)
			tokens := make([]string, users)
			answers := make([]railAnswer, users)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range users {
				tokens[i] = w.token(t, fmt.Sprintf("oBudget%02d_%s", i, rand.Text()[:8]))
				wg.Go(func() {
					<-start
					answers[i] = w.tap([]*railReplica{a, b}[i%2], tokens[i])
				})
			}
			close(start)
			wg.Wait()
			offered, _, err := a.h.Budget(context.Background(), campaign)
			if err != nil {
				t.Fatal(err)
			}
			paid, refused, total := 0, 0, 0
			for i, ans := range answers {
				if ans.status == http.StatusServiceUnavailable {
					ans = w.tapUntilAnswered(t, a, tokens[i])
				}
				openID := openIDOf(t, tokens[i])
				switch {
				case ans.err != nil:
					t.Fatal(ans.err)
				case ans.status == http.StatusOK:
					paid++
					w.confirm(t, ans, w.billno(t, a, openID, 0), openID)
				case ans.status == http.StatusForbidden && ans.code == "budget_exhausted":
					refused++
				default:
					t.Fatalf("user %d: %d %s", i, ans.status, ans.body)
				}
				total += w.payouts(openID)
			}
			st, _, err := a.h.Budget(context.Background(), campaign)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s on Redis: budget %d packets, %d users on 2 replicas: %d paid, %d refused, %d payouts; account after the taps %+v, after the confirmations %+v",
				kind, packets, users, paid, refused, total, offered, st)
			// The red packet's money leaves at the send; the transfer's
			// only once the user confirmed.
			if kind == transfer.RailName && (offered.CommittedPackets != 0 || offered.ReservedPackets == 0) ||
				kind == hongbao.RailName && (offered.ReservedPackets != 0 || offered.CommittedPackets == 0) {
				t.Errorf("account after the taps %+v", offered)
			}
			if paid != packets || total != packets || refused != users-packets {
				t.Errorf("%d paid, %d payouts, %d refused", paid, total, refused)
			}
			if kind == transfer.RailName && w.host.BillsCreated() != packets {
				t.Errorf("%d bills created", w.host.BillsCreated())
			}
			if st.CommittedPackets != packets || st.ReservedPackets != 0 || st.CommittedFen != packets*100 {
				t.Errorf("account %+v", st)
			}
		})
	}
}

// A reply lost after the platform paid, on every retry; the replica
// restarts (a new handler and a new Store connection on the same Redis):
// the same number, the platform's package.
func TestRailsLostReplyRestartOnRedis(t *testing.T) {
	for _, kind := range bothRails {
		t.Run(kind, func(t *testing.T) {
			w := newRailWorld(t, kind, wxpaytest.Options{}, nil)
			if kind == transfer.RailName {
				w.host.InjectV3(wxpaytest.V3Fault{Times: 3, DropAfter: true,
					Match: func(r wxpaytest.V3Request) bool { return r.URI == wxpaytest.PathTransferBills }})
			} else {
				w.host.Inject(wxpaytest.Fault{Times: 3, DropAfter: true,
					Match: func(path string, _ map[string]string) bool { return path == wxpaytest.PathSendMiniProgramHB }})
			}
			first := w.replica(t)
			openID := "oLost_" + rand.Text()[:8]
			tok := w.token(t, openID)
			if ans := w.tap(first, tok); ans.status != http.StatusServiceUnavailable || ans.code != "outcome_unknown" {
				t.Fatalf("%d %s", ans.status, ans.body)
			}
			restarted := w.replica(t)
			ans := w.tap(restarted, tok)
			billno := w.billno(t, restarted, openID, 0)
			if ans.status != http.StatusOK || ans.pkg != w.platformPackage(t, billno) {
				t.Fatalf("after the restart: %d %s", ans.status, ans.body)
			}
			if n := w.payouts(openID); n != 1 {
				t.Errorf("%d payouts", n)
			}
		})
	}
}

// Notifications on Redis: delivered, repeated and late, the number's
// state is stored once and forward only.
func TestTransferNotificationsOnRedis(t *testing.T) {
	campaign := "notify-" + rand.Text()[:8]
	w := newRailWorld(t, transfer.RailName, wxpaytest.Options{V3: wxpaytest.V3Options{ProbeNotifications: true}},
		map[string]store.Budget{campaign: {Packets: 5}})
	w.grant.Campaign = campaign
	a, b := w.replica(t), w.replica(t)
	openID := "oNotify_" + rand.Text()[:8]
	tok := w.token(t, openID)
	ans := w.tap(a, tok)
	if ans.status != http.StatusOK {
		t.Fatalf("%d %s", ans.status, ans.body)
	}
	billno := w.billno(t, a, openID, 0)
	w.confirm(t, ans, billno, openID)
	if err := w.host.Renotify(billno); err != nil {
		t.Fatal(err)
	}
	late, err := w.host.CraftNotification(wxpaytest.NotificationSpec{Resource: fmt.Appendf(nil,
		`{"out_bill_no":%q,"transfer_bill_no":"1","state":"FAIL","mch_id":%q,"transfer_amount":100,"openid":%q,"fail_reason":"BLOCK","create_time":"2026-01-01T10:00:00+08:00","update_time":"2026-01-01T10:00:00+08:00"}`,
		billno, w.host.MchID, openID)})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.h.HandleNotification(context.Background(), late.Header, late.Body); err != nil {
		t.Fatal(err)
	}
	for _, r := range []*railReplica{a, b} {
		if ans := w.tap(r, tok); ans.status != http.StatusGone || ans.code != "already_received" {
			t.Errorf("%d %s", ans.status, ans.body)
		}
	}
	st, _, err := b.h.Budget(context.Background(), campaign)
	if err != nil || st.CommittedPackets != 1 || st.ReservedPackets != 0 {
		t.Errorf("budget %+v %v", st, err)
	}
	r, ok, err := newStore(t, w.prefix).Result(context.Background(), billno)
	if err != nil || !ok || r.Closed != rail.Paid || r.Campaign != campaign || r.Rail != a.rail.Name() {
		t.Errorf("stored %+v %v %v", r, ok, err)
	}
	if w.host.BillsCreated() != 1 {
		t.Errorf("%d bills", w.host.BillsCreated())
	}
}

// The account is lost on Redis (its key gone, the grants' records kept)
// while an offer is out: its SUCCESS notification is stored and counted
// into the missing account, which stays closed; a new user is refused on
// both replicas instead of paid from a fresh count, until the rebuild
// from the platform, after which the cap holds.
func TestTransferNotificationIntoALostAccountOnRedis(t *testing.T) {
	campaign := "lost-" + rand.Text()[:8]
	w := newRailWorld(t, transfer.RailName, wxpaytest.Options{}, map[string]store.Budget{campaign: {Packets: 2}})
	w.grant.Campaign = campaign
	a, b := w.replica(t), w.replica(t)
	ctx := context.Background()
	openIDs := map[string]string{}
	offers := map[string]railAnswer{}
	for _, u := range []string{"A", "C"} {
		openIDs[u] = "oLost" + u + "_" + rand.Text()[:8]
		offers[u] = w.tap(a, w.token(t, openIDs[u]))
		if offers[u].status != http.StatusOK {
			t.Fatalf("%d %s", offers[u].status, offers[u].body)
		}
	}
	w.confirm(t, offers["C"], w.billno(t, a, openIDs["C"], 0), openIDs["C"])
	st := newStore(t, w.prefix)
	if err := st.Client().Del(ctx, w.prefix+"budget:"+campaign).Err(); err != nil {
		t.Fatal(err)
	}
	w.confirm(t, offers["A"], w.billno(t, a, openIDs["A"], 0), openIDs["A"])
	acct, _, err := b.h.Budget(ctx, campaign)
	if err != nil || acct.Open || acct.CommittedPackets != 1 {
		t.Fatalf("the account after the notification %+v %v: it must stay missing", acct, err)
	}
	userB := "oLostB_" + rand.Text()[:8]
	for _, r := range []*railReplica{a, b} {
		if ans := w.tap(r, w.token(t, userB)); ans.status != http.StatusServiceUnavailable || ans.code != "budget_unavailable" {
			t.Fatalf("a new user: %d %s", ans.status, ans.body)
		}
	}
	if n := w.payouts(userB); n != 0 || w.host.BillsCreated() != 2 {
		t.Fatalf("paid from a fresh count: %d, %d bills", n, w.host.BillsCreated())
	}
	rep, err := store.RebuildBudget(ctx, store.RebuildConfig{Platform: a.rail, Store: st, Campaign: campaign,
		Grants: []store.RebuildGrant{{Key: w.grant.Key, OpenID: openIDs["A"]}, {Key: w.grant.Key, OpenID: openIDs["C"]}, {Key: w.grant.Key, OpenID: userB}}})
	if err != nil || rep.Committed != 2 || !rep.State.Open || rep.State.CommittedPackets != 2 {
		t.Fatalf("rebuild %+v %v", rep, err)
	}
	if ans := w.tap(b, w.token(t, userB)); ans.status != http.StatusForbidden || ans.code != "budget_exhausted" {
		t.Errorf("after the rebuild: %d %s", ans.status, ans.body)
	}
}
