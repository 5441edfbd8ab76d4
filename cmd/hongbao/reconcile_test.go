package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"strings"
	"testing"
	"time"

	"github.com/hongbao-go/hongbao"
	"github.com/hongbao-go/hongbao/rail"
	"github.com/hongbao-go/hongbao/store"
	"github.com/hongbao-go/hongbao/store/redisstore"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

const testCampaign = "spring"

// campaignFixture is a host and a Store holding grants of testCampaign in
// every state reconcile tells apart.
type campaignFixture struct {
	*fixture
	store  *redisstore.Store
	prefix string
	ttl    time.Duration
}

func newCampaignFixture(t *testing.T) *campaignFixture {
	store, prefix := needRedis(t)
	return &campaignFixture{fixture: newFixture(t, wxpaytest.Options{}), store: store, prefix: prefix, ttl: time.Hour}
}

// env is the fixture's environment with the Store.
func (c *campaignFixture) env() map[string]string {
	return c.with(envRedisURL, testRedisURL, envCampaign, testCampaign)
}

// billno is the number of attempt n of openid's grant in campaign.
func (c *campaignFixture) billno(campaign, openid string, n int) string {
	c.t.Helper()
	b, err := hongbao.DeriveAttemptBillno([]byte(testBillnoKey), c.srv.MchID, campaign, openid, n)
	if err != nil {
		c.t.Fatal(err)
	}
	return b
}

// terms records the terms of openid's grant, as the handler does before
// its first send.
func (c *campaignFixture) terms(openid string) string {
	c.t.Helper()
	id := c.billno(testCampaign, openid, 0)
	_, _, err := c.store.AddTerms(context.Background(), id, store.Terms{
		Payout:    rail.Payout{Amount: 100, SendName: "shop", Wishing: "happy new year", ActName: "new year", Remark: "thanks"},
		DecidedAt: time.Now(),
	}, c.ttl)
	if err != nil {
		c.t.Fatal(err)
	}
	return id
}

func (c *campaignFixture) save(r store.Result) {
	c.t.Helper()
	if err := c.store.SaveResult(context.Background(), r.Billno, r, c.ttl); err != nil {
		c.t.Fatal(err)
	}
}

// paid pays billno and saves the result, as the handler does.
func (c *campaignFixture) paid(billno, openid string) {
	c.t.Helper()
	res := c.pay(billno, openid, 100)
	c.save(store.Result{Billno: billno, OpenID: openid, Package: res.Package, SendListID: res.SendListID, Amount: 100, PaidAt: time.Now()})
}

// refused makes the platform refuse billno with code, recording the
// refusal (gethbinfo then reports it FAILED).
func (c *campaignFixture) refused(billno, openid, code string) {
	c.t.Helper()
	c.srv.Inject(wxpaytest.Fault{ErrCode: code, Record: true, Match: func(_ string, p map[string]string) bool { return p["mch_billno"] == billno }})
	_, err := c.client().SendMiniProgramHB(context.Background(), &hongbao.SendRequest{
		Billno: billno, OpenID: openid, Amount: 100,
		SendName: "shop", Wishing: "happy new year", ActName: "new year", Remark: "thanks",
	})
	if err == nil {
		c.t.Fatalf("%s paid", billno)
	}
}

// csvRows parses reconcile's CSV into rows by bill number.
func csvRows(t *testing.T, r result) map[string]map[string]string {
	t.Helper()
	recs, err := csv.NewReader(strings.NewReader(r.stdout)).ReadAll()
	if err != nil {
		t.Fatalf("%v\n%s", err, r)
	}
	if len(recs) == 0 || strings.Join(recs[0], ",") != strings.Join(csvHeader, ",") {
		t.Fatalf("no header:\n%s", r)
	}
	rows := make(map[string]map[string]string)
	for _, rec := range recs[1:] {
		m := make(map[string]string)
		for i, h := range csvHeader {
			m[h] = rec[i]
		}
		if rows[m["billno"]] != nil {
			t.Errorf("bill number %s reported twice", m["billno"])
		}
		rows[m["billno"]] = m
	}
	return rows
}

// wantRow checks the columns of billno's row (name, value pairs).
func wantRow(t *testing.T, rows map[string]map[string]string, billno string, kv ...string) {
	t.Helper()
	row := rows[billno]
	if row == nil {
		t.Errorf("no row for %s", billno)
		return
	}
	for i := 0; i < len(kv); i += 2 {
		if got := row[kv[i]]; got != kv[i+1] {
			t.Errorf("%s: %s = %q, want %q (row %v)", billno, kv[i], got, kv[i+1], row)
		}
	}
}

func TestReconcileStore(t *testing.T) {
	c := newCampaignFixture(t)
	ctx := context.Background()
	b := func(openid string, n int) string { return c.billno(testCampaign, openid, n) }

	// Paid and recorded.
	c.terms("oPaid")
	c.paid(b("oPaid", 0), "oPaid")
	// Paid, but the outcome never reached the Store (a timeout).
	c.terms("oUnrecorded")
	c.pay(b("oUnrecorded", 0), "oUnrecorded", 100)
	// Refused and recorded FAILED by the platform; the Store knows nothing
	// but the budget reserved before the send.
	c.terms("oFailed")
	budget := store.Budget{Fen: 1000}
	if _, ok, err := c.store.Budget(ctx, testCampaign, store.BudgetOp{Step: store.BudgetReserve, Billno: b("oFailed", 0), Amount: 100, Limit: budget}); err != nil || !ok {
		t.Fatal(ok, err)
	}
	if _, ok, err := c.store.Budget(ctx, testCampaign, store.BudgetOp{Step: store.BudgetCommit, Billno: b("oPaid", 0), Amount: 100, Limit: budget}); err != nil || !ok {
		t.Fatal(ok, err)
	}
	c.refused(b("oFailed", 0), "oFailed", "SEND_FAILED")
	// Refused, the refusal remembered, the number closed since.
	c.terms("oRefused")
	c.refused(b("oRefused", 0), "oRefused", "NOTENOUGH")
	c.save(store.Result{Billno: b("oRefused", 0), OpenID: "oRefused", Amount: 100, Refused: "NOTENOUGH", At: time.Now()})
	// Terms recorded, nothing sent.
	c.terms("oNever")
	// Attempt 0 closed, attempt 1 paid: both recorded.
	c.terms("oSecond")
	c.refused(b("oSecond", 0), "oSecond", "SEND_FAILED")
	c.save(store.Result{Billno: b("oSecond", 0), OpenID: "oSecond", Amount: 100, Closed: rail.Closed, At: time.Now()})
	c.paid(b("oSecond", 1), "oSecond")
	// Attempt 0 closed, attempt 1 paid but not recorded.
	c.terms("oLater")
	c.refused(b("oLater", 0), "oLater", "SEND_FAILED")
	c.save(store.Result{Billno: b("oLater", 0), OpenID: "oLater", Amount: 100, Closed: rail.Closed, At: time.Now()})
	c.pay(b("oLater", 1), "oLater", 100)
	// Paid, recorded, then refunded unopened.
	c.terms("oRefunded")
	c.paid(b("oRefunded", 0), "oRefunded")
	if err := c.srv.MarkRefunded(b("oRefunded", 0)); err != nil {
		t.Fatal(err)
	}
	// Paid and refunded; the Store knows nothing.
	c.terms("oExpired")
	c.pay(b("oExpired", 0), "oExpired", 100)
	if err := c.srv.MarkRefunded(b("oExpired", 0)); err != nil {
		t.Fatal(err)
	}
	// Received.
	c.terms("oOpened")
	c.paid(b("oOpened", 0), "oOpened")
	if err := c.srv.MarkReceived(b("oOpened", 0)); err != nil {
		t.Fatal(err)
	}
	// Recorded paid, unknown to the platform.
	c.terms("oGhost")
	c.save(store.Result{Billno: b("oGhost", 0), OpenID: "oGhost", Package: "sendid=x", Amount: 100, PaidAt: time.Now()})
	// A result no grant's walk reaches: attempt 1 of another campaign.
	orphan := c.billno("autumn", "oOrphan", 1)
	c.paid(orphan, "oOrphan")
	// A grant of another merchant.
	foreign, _ := hongbao.DeriveBillno([]byte(testBillnoKey), "1234567890", testCampaign, "oForeign")
	if _, _, err := c.store.AddTerms(ctx, foreign, store.Terms{Payout: rail.Payout{Amount: 100}, DecidedAt: time.Now()}, c.ttl); err != nil {
		t.Fatal(err)
	}
	before := len(c.srv.Requests())

	r := runWith(t, c.env(), "reconcile", "-prefix", c.prefix, "-rate", "1000")
	r.wantCode(t, exitOK)
	rows := csvRows(t, r)
	wantRow(t, rows, b("oPaid", 0), "grant", b("oPaid", 0), "attempt", "0", "openid", "oPaid", "stored", "paid", "platform", "SENT", "verdict", "ok",
		"stored_amount", "100", "platform_amount", "100")
	if rows[b("oPaid", 0)]["send_time"] == "" {
		t.Errorf("no send_time: %v", rows[b("oPaid", 0)])
	}
	wantRow(t, rows, b("oUnrecorded", 0), "stored", "none", "platform", "SENT", "verdict", "paid_unrecorded", "openid", "")
	wantRow(t, rows, b("oFailed", 0), "stored", "none", "platform", "FAILED", "verdict", "closed")
	wantRow(t, rows, b("oRefused", 0), "stored", "refused:NOTENOUGH", "platform", "FAILED", "verdict", "closed", "openid", "oRefused")
	wantRow(t, rows, b("oNever", 0), "stored", "none", "platform", "NOT_FOUND", "verdict", "not_sent")
	wantRow(t, rows, b("oSecond", 0), "attempt", "0", "stored", "closed:FAILED", "platform", "FAILED", "verdict", "ok")
	wantRow(t, rows, b("oSecond", 1), "grant", b("oSecond", 0), "attempt", "1", "openid", "oSecond", "stored", "paid", "platform", "SENT", "verdict", "ok")
	wantRow(t, rows, b("oLater", 1), "grant", b("oLater", 0), "attempt", "1", "stored", "none", "platform", "SENT", "verdict", "paid_unrecorded")
	wantRow(t, rows, b("oRefunded", 0), "stored", "paid", "platform", "REFUND", "verdict", "ok")
	wantRow(t, rows, b("oExpired", 0), "stored", "none", "platform", "REFUND", "verdict", "closed")
	wantRow(t, rows, b("oOpened", 0), "stored", "paid", "platform", "RECEIVED", "verdict", "ok")
	wantRow(t, rows, b("oGhost", 0), "stored", "paid", "platform", "NOT_FOUND", "verdict", "mismatch")
	wantRow(t, rows, orphan, "grant", "", "attempt", "", "openid", "oOrphan", "stored", "paid", "platform", "SENT", "verdict", "ok")
	wantRow(t, rows, foreign, "verdict", "skipped", "platform", "")
	// The recorded failure's reason, and why oFailed's next attempt is
	// not followed (no openid: nothing recorded it).
	if d := rows[b("oFailed", 0)]["detail"]; !strings.Contains(d, "platform: ") || !strings.Contains(d, "attempt 1 not followed: the openid is unknown") {
		t.Errorf("oFailed detail: %q", d)
	}
	// Attempt 1 of a closed attempt 0 that was never sent gets no row.
	if rows[b("oRefused", 1)] != nil {
		t.Errorf("a row for a number never used: %v", rows[b("oRefused", 1)])
	}
	if len(rows) != 15 {
		t.Errorf("%d rows, want 15:\n%s", len(rows), r)
	}
	r.wantErr(t, "hongbao: reconcile: 15 bill numbers: ok 7, not_sent 1, paid_unrecorded 2, closed 3, mismatch 1, skipped 1",
		"run with -resolve to write the 3 closed numbers")
	// Without -resolve, nothing was written; the platform was only asked.
	if res, _, _ := c.store.Result(ctx, b("oRefused", 0)); res.Refused != "NOTENOUGH" || res.Closed != "" {
		t.Errorf("written without -resolve: %+v", res)
	}
	for _, req := range c.srv.Requests()[before:] {
		if req.Path != wxpaytest.PathGetHBInfo {
			t.Errorf("reconcile called %s", req.Path)
		}
	}

	// -resolve writes the closed numbers, and only those.
	r = runWith(t, c.env(), "reconcile", "-prefix", c.prefix, "-rate", "1000", "-resolve")
	r.wantCode(t, exitOK)
	rows = csvRows(t, r)
	for _, openid := range []string{"oFailed", "oRefused", "oExpired"} {
		wantRow(t, rows, b(openid, 0), "verdict", "resolved")
	}
	r.wantErr(t, "resolved 3")
	res, ok, err := c.store.Result(ctx, b("oRefused", 0))
	if err != nil || !ok || res.Closed != rail.Closed || res.OpenID != "oRefused" || res.Amount != 100 || res.Paid() || res.At.IsZero() {
		t.Errorf("oRefused after -resolve: %+v %v %v", res, ok, err)
	}
	res, ok, _ = c.store.Result(ctx, b("oFailed", 0))
	if !ok || res.Closed != rail.Closed || res.Amount != 100 {
		t.Errorf("oFailed after -resolve: %+v", res)
	}
	res, ok, _ = c.store.Result(ctx, b("oExpired", 0))
	if !ok || res.Closed != rail.Returned {
		t.Errorf("oExpired after -resolve: %+v", res)
	}
	// The closed number's reservation went back to the budget, as the
	// handler gives it back; the paid one stays committed.
	st, _, err := c.store.Budget(ctx, testCampaign, store.BudgetOp{Step: store.BudgetRead, Limit: budget})
	if err != nil || st.ReservedFen != 0 || st.ReservedPackets != 0 || st.CommittedFen != 100 || st.CommittedPackets != 1 {
		t.Errorf("budget after -resolve: %+v %v", st, err)
	}
	r.wantErr(t, "budget "+testCampaign+": reserved 0 fen in 0 packets, committed 100 fen in 1 packet")
	if d := rows[b("oFailed", 0)]["detail"]; !strings.Contains(d, "-resolve: released from the budget of "+testCampaign) {
		t.Errorf("oFailed detail: %q", d)
	}
	// The written results live as long as the grant's keys.
	ttl, err := c.store.Client().PTTL(ctx, c.prefix+"result:"+b("oFailed", 0)).Result()
	if err != nil || ttl <= 0 || ttl > c.ttl {
		t.Errorf("TTL of a written result: %v %v", ttl, err)
	}
	// Nothing else changed: paid_unrecorded has no package to write.
	if _, ok, _ := c.store.Result(ctx, b("oUnrecorded", 0)); ok {
		t.Error("a result was written for a paid number")
	}

	// Now the Store agrees.
	r = runWith(t, c.env(), "reconcile", "-prefix", c.prefix, "-rate", "1000")
	r.wantCode(t, exitOK)
	rows = csvRows(t, r)
	wantRow(t, rows, b("oFailed", 0), "stored", "closed:FAILED", "verdict", "ok")
	wantRow(t, rows, b("oRefused", 0), "stored", "closed:FAILED", "verdict", "ok")
	wantRow(t, rows, b("oExpired", 0), "stored", "closed:REFUND", "verdict", "ok")
}

func TestReconcileResolveBusy(t *testing.T) {
	c := newCampaignFixture(t)
	id := c.terms("oBusy")
	c.refused(id, "oBusy", "SEND_FAILED")
	// A send of the number holds its lock.
	release, ok, err := c.store.TryLock(context.Background(), id, time.Minute)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	defer release()
	r := runWith(t, c.env(), "reconcile", "-prefix", c.prefix, "-resolve")
	r.wantCode(t, exitOK)
	wantRow(t, csvRows(t, r), id, "verdict", "busy")
	if _, ok, _ := c.store.Result(context.Background(), id); ok {
		t.Error("written under another holder's lock")
	}
}

func TestReconcileOpenIDs(t *testing.T) {
	c := newCampaignFixture(t)
	b := func(openid string, n int) string { return c.billno(testCampaign, openid, n) }
	c.terms("oPaid")
	c.paid(b("oPaid", 0), "oPaid")
	c.terms("oSecond")
	c.refused(b("oSecond", 0), "oSecond", "SEND_FAILED")
	c.save(store.Result{Billno: b("oSecond", 0), OpenID: "oSecond", Amount: 100, Closed: rail.Closed, At: time.Now()})
	c.paid(b("oSecond", 1), "oSecond")
	// A grant in the Store that the file does not name.
	c.terms("oOther")

	file := c.file("openids.csv", []byte("openid,name\noPaid,Ann\n\n# a comment\noNever, Bob\noSecond\noPaid\n"))
	r := runWith(t, c.env(), "reconcile", "-openids", file, "-rate", "1000", "-prefix", c.prefix)
	r.wantCode(t, exitOK)
	rows := csvRows(t, r)
	wantRow(t, rows, b("oPaid", 0), "openid", "oPaid", "stored", "paid", "platform", "SENT", "verdict", "ok")
	wantRow(t, rows, b("oNever", 0), "grant", b("oNever", 0), "attempt", "0", "openid", "oNever", "stored", "none", "platform", "NOT_FOUND", "verdict", "not_sent")
	wantRow(t, rows, b("oSecond", 0), "verdict", "ok")
	wantRow(t, rows, b("oSecond", 1), "attempt", "1", "verdict", "ok")
	if len(rows) != 4 {
		t.Errorf("%d rows, want 4:\n%s", len(rows), r)
	}

	// Without a Store: the platform's side alone, with the campaign flag.
	env := c.with(envCampaign, "")
	r = runWith(t, env, "reconcile", "-openids", file, "-campaign", testCampaign, "-rate", "1000")
	r.wantCode(t, exitOK)
	rows = csvRows(t, r)
	wantRow(t, rows, b("oPaid", 0), "stored", "no_store", "platform", "SENT", "verdict", "paid")
	wantRow(t, rows, b("oNever", 0), "stored", "no_store", "verdict", "not_sent")
	wantRow(t, rows, b("oSecond", 0), "platform", "FAILED", "verdict", "closed")
	wantRow(t, rows, b("oSecond", 1), "platform", "SENT", "verdict", "paid")
}

func TestReconcilePacing(t *testing.T) {
	f := newFixture(t, wxpaytest.Options{})
	var ids []string
	for i := range 6 {
		ids = append(ids, "oPace"+string(rune('A'+i)))
	}
	file := f.file("openids.txt", []byte(strings.Join(ids, "\n")))
	start := time.Now()
	r := runWith(t, f.env, "reconcile", "-openids", file, "-rate", "10", "-progress", "20ms")
	r.wantCode(t, exitOK)
	// Six queries at ten a second: the last one 0.5s after the first.
	if d := time.Since(start); d < 450*time.Millisecond {
		t.Errorf("6 queries at -rate 10 took %v", d)
	}
	if n := len(csvRows(t, r)); n != 6 {
		t.Errorf("%d rows", n)
	}
	r.wantErr(t, "hongbao: reconcile: openids ", "/6 (", "hongbao: reconcile: 6 bill numbers: not_sent 6")
}

func TestReconcileErrors(t *testing.T) {
	f := newFixture(t, wxpaytest.Options{})
	file := f.file("openids.txt", []byte("oOne\noTwo\n"))
	two, _ := hongbao.DeriveBillno([]byte(testBillnoKey), f.srv.MchID, defaultCampaign, "oTwo")
	f.srv.Inject(wxpaytest.Fault{Status: 502, Times: 3, Match: func(_ string, p map[string]string) bool { return p["mch_billno"] == two }})
	r := runWith(t, f.env, "reconcile", "-openids", file, "-rate", "1000")
	r.wantCode(t, exitProblems)
	rows := csvRows(t, r)
	wantRow(t, rows, two, "platform", "error", "verdict", "error")
	if !strings.Contains(rows[two]["detail"], "gethbinfo: ") {
		t.Errorf("detail: %v", rows[two])
	}
	r.wantErr(t, "1 bill number could not be reconciled")

	// Interrupted: the CSV is incomplete and says so.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var stdout, stderr bytes.Buffer
	if code := run(ctx, []string{"reconcile", "-openids", file}, getenvOf(f.env), &stdout, &stderr); code != exitProblems ||
		!strings.Contains(stderr.String(), "reconcile interrupted: the CSV is incomplete") {
		t.Errorf("interrupted: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}

	for _, tc := range []struct {
		env  map[string]string
		args []string
		code int
		want string
	}{
		{f.env, nil, exitUsage, "set HONGBAO_REDIS_URL to reconcile the grants of the Store, or name the openids with -openids FILE"},
		{f.env, []string{"-openids", file, "-resolve"}, exitUsage, "-resolve writes to the Store: set HONGBAO_REDIS_URL"},
		{f.env, []string{"-openids", file, "-rate", "0"}, exitUsage, "-rate must be positive"},
		{f.env, []string{"-openids", f.file("empty.txt", []byte("# none\n"))}, exitProblems, "lists no openid"},
		{f.env, []string{"-openids", f.file("bad.txt", []byte("oGood\nbad!openid\n"))}, exitProblems, `bad.txt:2: "bad!openid" is not an openid`},
		{f.env, []string{"-openids", "/no/such/file"}, exitProblems, "no such file"},
		{f.with(envBillnoKey, ""), []string{"-openids", file}, exitProblems, "-openids: HONGBAO_BILLNO_KEY is not set"},
		{f.with(envAPIKey, ""), []string{"-openids", file}, exitProblems, "HONGBAO_API_KEY (the APIv2 key from the merchant console) is not set"},
		{f.with(envRedisURL, "redis://127.0.0.1:1/0"), nil, exitProblems, "HONGBAO_REDIS_URL: Redis at 127.0.0.1:1/0 does not answer"},
	} {
		r := runWith(t, tc.env, append([]string{"reconcile"}, tc.args...)...)
		r.wantCode(t, tc.code)
		r.wantErr(t, tc.want)
	}
}

// TestReconcileFollowsTermsOfAnyCampaign: terms that name their grant (key
// and openid, as the handler records them) let reconcile follow the later
// attempts of a campaign other than -campaign, with no result stored.
func TestReconcileFollowsTermsOfAnyCampaign(t *testing.T) {
	c := newCampaignFixture(t)
	const other = "other-campaign"
	openid := "oTermsNameTheirGrant000000001"
	id := c.billno(other, openid, 0)
	if _, _, err := c.store.AddTerms(context.Background(), id, store.Terms{
		Payout:    rail.Payout{Amount: 100, SendName: "shop", Wishing: "happy new year", ActName: "new year", Remark: "thanks"},
		DecidedAt: time.Now(), Key: other, OpenID: openid,
	}, c.ttl); err != nil {
		t.Fatal(err)
	}
	c.refused(id, openid, "SEND_FAILED")
	next := c.billno(other, openid, 1)
	c.pay(next, openid, 100)
	rows := csvRows(t, runWith(t, c.env(), "reconcile", "-prefix", c.prefix, "-rate", "1000"))
	wantRow(t, rows, id, "attempt", "0", "platform", "FAILED")
	wantRow(t, rows, next, "attempt", "1", "openid", openid)
}
