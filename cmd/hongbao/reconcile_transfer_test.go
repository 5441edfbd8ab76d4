package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hongbao-go/hongbao"
	"github.com/hongbao-go/hongbao/rail"
	"github.com/hongbao-go/hongbao/store"
	"github.com/hongbao-go/hongbao/store/redisstore"
	"github.com/hongbao-go/hongbao/transfer"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

// transferCampaign is a host speaking both rails, the environment of both
// (HONGBAO_API_KEY and the APIv3 variables), and a Store holding grants of
// testCampaign on the transfer rail.
type transferCampaign struct {
	*fixture
	store  *redisstore.Store
	prefix string
	c      *transfer.Client
}

func newTransferCampaign(t *testing.T, opts wxpaytest.V3Options) *transferCampaign {
	t.Helper()
	st, prefix := needRedis(t)
	f := newFixture(t, wxpaytest.Options{V3: opts})
	cfg := f.srv.V3Config()
	f.env[envAPIv3Key] = cfg.APIv3Key
	f.env[envPublicKeyID] = cfg.PublicKeyID
	f.env[envPublicKeyFile] = f.file("pub_key.pem", cfg.PublicKeyPEM)
	f.env[envRedisURL] = testRedisURL
	f.env[envCampaign] = testCampaign
	tc := &transferCampaign{fixture: f, store: st, prefix: prefix}
	tc.c = f.transferClient()
	return tc
}

// n is the out_bill_no of attempt a of openid's grant.
func (tc *transferCampaign) n(openid string, a int) string {
	tc.t.Helper()
	b, err := tc.c.OutBillNo(testCampaign, openid, a)
	if err != nil {
		tc.t.Fatal(err)
	}
	return b
}

// grant records openid's terms, as the handler does before its first
// create.
func (tc *transferCampaign) grant(openid string) {
	tc.t.Helper()
	_, _, err := tc.store.AddTerms(context.Background(), tc.n(openid, 0), store.Terms{
		Payout:    rail.Payout{Amount: 100, Wishing: "new year", ActName: "lantern riddles", Remark: "a right answer"},
		DecidedAt: time.Now(), Key: testCampaign, OpenID: openid,
	}, time.Hour)
	if err != nil {
		tc.t.Fatal(err)
	}
}

// offer creates attempt a of openid's bill; with stored, the Store keeps
// the offer as the handler does (and the budget reserves it).
func (tc *transferCampaign) offer(openid string, a int, stored bool) *transfer.Bill {
	tc.t.Helper()
	n := tc.n(openid, a)
	b := tc.createBill(tc.c, n, openid, 100)
	if stored {
		tc.reserve(n)
		tc.save(store.Result{Billno: n, OpenID: openid, Rail: tc.railName(), Package: b.PackageInfo, SendListID: b.TransferBillNo,
			Amount: 100, PaidAt: b.CreateTime, Exact: true, Campaign: testCampaign})
	}
	return b
}

func (tc *transferCampaign) save(r store.Result) {
	tc.t.Helper()
	if err := tc.store.SaveResult(context.Background(), r.Billno, r, time.Hour); err != nil {
		tc.t.Fatal(err)
	}
}

// budgetLimit is the campaign's cap in the tests.
var budgetLimit = store.Budget{Fen: 100000}

// openBudget opens the campaign's account.
func (tc *transferCampaign) openBudget() {
	tc.t.Helper()
	if _, _, err := tc.store.Budget(context.Background(), testCampaign, store.BudgetOp{Step: store.BudgetOpen, At: time.Now().Add(-time.Hour)}); err != nil {
		tc.t.Fatal(err)
	}
}

// reserve reserves n's 100 fen, as the handler does before the create.
func (tc *transferCampaign) reserve(n string) {
	tc.t.Helper()
	if _, ok, err := tc.store.Budget(context.Background(), testCampaign, store.BudgetOp{Step: store.BudgetReserve, Billno: n, Amount: 100, Limit: budgetLimit}); err != nil || !ok {
		tc.t.Fatal(ok, err)
	}
}

// account reads the campaign's account.
func (tc *transferCampaign) account() store.BudgetState {
	tc.t.Helper()
	st, _, err := tc.store.Budget(context.Background(), testCampaign, store.BudgetOp{Step: store.BudgetRead, Limit: budgetLimit})
	if err != nil {
		tc.t.Fatal(err)
	}
	return st
}

// railName is the Name of the merchant's transfer rail, stored with each
// result.
func (tc *transferCampaign) railName() string { return transfer.RailName + ":" + tc.srv.MchID }

func TestReconcileTransfer(t *testing.T) {
	tc := newTransferCampaign(t, wxpaytest.V3Options{})
	ctx := context.Background()
	tc.openBudget()

	// Offered and waiting; offered, the answer lost (the Store knows
	// nothing).
	tc.grant("oWaiting")
	tc.offer("oWaiting", 0, true)
	tc.grant("oLost")
	tc.offer("oLost", 0, false)
	// Offered, then confirmed: the notification not received yet; and
	// one the Store recorded.
	tc.grant("oConfirmed")
	tc.confirm(tc.c, tc.offer("oConfirmed", 0, true))
	tc.grant("oPaid")
	tc.confirm(tc.c, tc.offer("oPaid", 0, true))
	res, _, _ := tc.store.Result(ctx, tc.n("oPaid", 0))
	res.Closed, res.Package = rail.Paid, ""
	tc.save(res)
	if _, _, err := tc.store.Budget(ctx, testCampaign, store.BudgetOp{Step: store.BudgetCommit, Billno: res.Billno, Amount: 100, Limit: budgetLimit}); err != nil {
		t.Fatal(err)
	}
	// Never confirmed, closed a day later; cancelled by the operator.
	tc.grant("oOverdue")
	tc.offer("oOverdue", 0, true)
	if _, err := tc.srv.FailTransfer(tc.n("oOverdue", 0), wxpaytest.FailOverdueClose); err != nil {
		t.Fatal(err)
	}
	tc.grant("oCancelled")
	tc.offer("oCancelled", 0, true)
	if _, err := tc.c.Cancel(ctx, tc.n("oCancelled", 0)); err != nil {
		t.Fatal(err)
	}
	// Terms recorded, nothing created.
	tc.grant("oNever")
	// Recorded offered, unknown to the platform.
	tc.grant("oGhost")
	tc.save(store.Result{Billno: tc.n("oGhost", 0), OpenID: "oGhost", Rail: tc.railName(), Package: "affffffff", Amount: 100, PaidAt: time.Now()})
	// Attempt 0 failed and recorded so, attempt 1 waiting.
	tc.grant("oSecond")
	tc.offer("oSecond", 0, false)
	if _, err := tc.srv.FailTransfer(tc.n("oSecond", 0), "RISK_CONTROL"); err != nil {
		t.Fatal(err)
	}
	tc.save(store.Result{Billno: tc.n("oSecond", 0), OpenID: "oSecond", Rail: tc.railName(), Amount: 100, Closed: rail.Closed, At: time.Now()})
	tc.offer("oSecond", 1, true)
	// A red packet of another campaign in the same Store, paid.
	packet, _ := hongbao.DeriveBillno([]byte(testBillnoKey), tc.srv.MchID, "autumn", "oPacket")
	tc.pay(packet, "oPacket", 100)
	tc.save(store.Result{Billno: packet, OpenID: "oPacket", Package: "sendid=x", Amount: 100, PaidAt: time.Now()})
	if _, _, err := tc.store.AddTerms(ctx, packet, store.Terms{Payout: rail.Payout{Amount: 100}, DecidedAt: time.Now(), Key: "autumn", OpenID: "oPacket"}, time.Hour); err != nil {
		t.Fatal(err)
	}

	r := runWith(t, tc.env, "reconcile", "-prefix", tc.prefix, "-rate", "1000")
	r.wantCode(t, exitOK)
	rows := csvRows(t, r)
	n := tc.n
	wantRow(t, rows, n("oWaiting", 0), "grant", n("oWaiting", 0), "attempt", "0", "openid", "oWaiting", "stored", "offered",
		"platform", "WAIT_USER_CONFIRM", "verdict", "waiting", "stored_amount", "100", "platform_amount", "100")
	if rows[n("oWaiting", 0)]["send_time"] == "" {
		t.Errorf("no create time: %v", rows[n("oWaiting", 0)])
	}
	wantRow(t, rows, n("oLost", 0), "stored", "none", "platform", "WAIT_USER_CONFIRM", "verdict", "waiting")
	wantRow(t, rows, n("oConfirmed", 0), "stored", "offered", "platform", "SUCCESS", "verdict", "confirmed")
	wantRow(t, rows, n("oPaid", 0), "stored", "closed:SUCCESS", "platform", "SUCCESS", "verdict", "ok")
	wantRow(t, rows, n("oOverdue", 0), "stored", "offered", "platform", "FAIL", "verdict", "closed")
	if d := rows[n("oOverdue", 0)]["detail"]; !strings.Contains(d, "platform: OVERDUE_CLOSE") {
		t.Errorf("oOverdue detail: %q", d)
	}
	wantRow(t, rows, n("oCancelled", 0), "stored", "offered", "platform", "CANCELLED", "verdict", "closed")
	wantRow(t, rows, n("oNever", 0), "stored", "none", "platform", "NOT_FOUND", "verdict", "not_sent")
	wantRow(t, rows, n("oGhost", 0), "stored", "offered", "platform", "NOT_FOUND", "verdict", "mismatch")
	wantRow(t, rows, n("oSecond", 0), "stored", "closed:FAIL", "platform", "FAIL", "verdict", "ok")
	wantRow(t, rows, n("oSecond", 1), "grant", n("oSecond", 0), "attempt", "1", "stored", "offered", "platform", "WAIT_USER_CONFIRM", "verdict", "waiting")
	wantRow(t, rows, packet, "stored", "paid", "platform", "SENT", "verdict", "ok")
	// A closed attempt 0 leads to attempt 1, never created: no row.
	if rows[n("oOverdue", 1)] != nil || rows[n("oCancelled", 1)] != nil {
		t.Errorf("a row for a number never used")
	}
	if len(rows) != 11 {
		t.Errorf("%d rows, want 11:\n%s", len(rows), r)
	}
	r.wantErr(t, "hongbao: reconcile: 11 bill numbers: ok 3, not_sent 1, waiting 3, confirmed 1, closed 2, mismatch 1",
		"run with -resolve to write the 3 closed and confirmed numbers",
		"3 transfer bills wait for the users' confirmation; at the campaign's end, hongbao cancel closes them")
	if st := tc.account(); st.ReservedPackets != 5 || st.CommittedPackets != 1 {
		t.Errorf("the account before -resolve: %+v", st)
	}

	// -resolve records the confirmed and the closed bills as their
	// notifications would have: paid and committed, closed and released.
	r = runWith(t, tc.env, "reconcile", "-prefix", tc.prefix, "-rate", "1000", "-resolve")
	r.wantCode(t, exitOK)
	rows = csvRows(t, r)
	wantRow(t, rows, n("oConfirmed", 0), "stored", "closed:SUCCESS", "verdict", "resolved")
	wantRow(t, rows, n("oOverdue", 0), "stored", "closed:OVERDUE_CLOSE", "verdict", "resolved")
	wantRow(t, rows, n("oCancelled", 0), "stored", "closed:CANCELLED", "verdict", "resolved")
	if d := rows[n("oConfirmed", 0)]["detail"]; !strings.Contains(d, "-resolve: committed to the budget of "+testCampaign) {
		t.Errorf("oConfirmed detail: %q", d)
	}
	if d := rows[n("oOverdue", 0)]["detail"]; !strings.Contains(d, "-resolve: released from the budget of "+testCampaign) {
		t.Errorf("oOverdue detail: %q", d)
	}
	r.wantErr(t, "resolved 3", "budget "+testCampaign+": reserved 200 fen in 2 packets, committed 200 fen in 2 packets")
	if s, _, _ := tc.store.Result(ctx, n("oOverdue", 0)); s.Closed != rail.Returned || s.Paid() || s.OpenID != "oOverdue" {
		t.Errorf("oOverdue stored %+v", s)
	}
	// Nothing else was written: the lost offer's package is the next
	// tap's to learn.
	if _, ok, _ := tc.store.Result(ctx, n("oLost", 0)); ok {
		t.Error("a result was written for a waiting bill")
	}

	// Now the Store agrees.
	r = runWith(t, tc.env, "reconcile", "-prefix", tc.prefix, "-rate", "1000")
	r.wantCode(t, exitOK)
	r.wantErr(t, "ok 6, not_sent 1, waiting 3, mismatch 1")

	// The grants of a file, without a Store: the platform's side alone,
	// on the transfer rail (the only one configured).
	v3 := tc.with(envAPIKey, "", envRedisURL, "")
	file := tc.file("openids.txt", []byte("oWaiting\noConfirmed\noOverdue\noNever\noSecond\n"))
	r = runWith(t, v3, "reconcile", "-openids", file, "-rate", "1000")
	r.wantCode(t, exitOK)
	rows = csvRows(t, r)
	wantRow(t, rows, n("oWaiting", 0), "stored", "no_store", "platform", "WAIT_USER_CONFIRM", "verdict", "waiting")
	wantRow(t, rows, n("oConfirmed", 0), "stored", "no_store", "platform", "SUCCESS", "verdict", "paid")
	wantRow(t, rows, n("oOverdue", 0), "platform", "FAIL", "verdict", "closed")
	wantRow(t, rows, n("oNever", 0), "platform", "NOT_FOUND", "verdict", "not_sent")
	wantRow(t, rows, n("oSecond", 0), "platform", "FAIL", "verdict", "closed")
	wantRow(t, rows, n("oSecond", 1), "attempt", "1", "platform", "WAIT_USER_CONFIRM", "verdict", "waiting")
	if len(rows) != 7 {
		t.Errorf("%d rows, want 7:\n%s", len(rows), r)
	}
	// With both rails configured, -transfer chooses.
	r = runWith(t, tc.with(envRedisURL, ""), "reconcile", "-openids", file, "-transfer", "-rate", "1000")
	r.wantCode(t, exitOK)
	wantRow(t, csvRows(t, r), n("oWaiting", 0), "verdict", "waiting")
}

func TestReconcileTransferNotConfigured(t *testing.T) {
	tc := newTransferCampaign(t, wxpaytest.V3Options{})
	tc.openBudget()
	tc.grant("oWaiting")
	tc.offer("oWaiting", 0, true)
	// The red-packet rail alone: a transfer bill of the Store is an error
	// that names what to set.
	v2 := tc.with(envAPIv3Key, "", envPublicKeyID, "", envPublicKeyFile, "")
	r := runWith(t, v2, "reconcile", "-prefix", tc.prefix, "-rate", "1000")
	r.wantCode(t, exitProblems)
	rows := csvRows(t, r)
	wantRow(t, rows, tc.n("oWaiting", 0), "platform", "error", "verdict", "error")
	if d := rows[tc.n("oWaiting", 0)]["detail"]; !strings.Contains(d, "the transfer rail is not configured: set the APIv3 variables") {
		t.Errorf("detail %q", d)
	}
	file := tc.file("openids.txt", []byte("oWaiting\n"))
	r = runWith(t, v2, "reconcile", "-openids", file, "-transfer")
	r.wantCode(t, exitProblems)
	r.wantErr(t, "-transfer: the transfer rail is not configured")
	r = runWith(t, v2, "reconcile", "-transfer")
	r.wantCode(t, exitUsage)
	r.wantErr(t, "-transfer goes with -openids")
}
