package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hongbao-go/hongbao"
	"github.com/hongbao-go/hongbao/rail"
	"github.com/hongbao-go/hongbao/store"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

// cancelRows parses cancel's table into the columns of each bill, by
// out_bill_no.
func cancelRows(t *testing.T, r result) map[string][]string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) == 0 || strings.Join(strings.Fields(lines[0]), " ") != "OPENID ATTEMPT OUT_BILL_NO FOUND NOW YUAN BUDGET DETAIL" {
		t.Fatalf("no header:\n%s", r)
	}
	rows := make(map[string][]string)
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) < 8 {
			t.Fatalf("row %q", l)
		}
		rows[f[2]] = f
	}
	return rows
}

// wantBill checks a row: found, now and budget columns.
func wantBill(t *testing.T, rows map[string][]string, n, found, now, budget string) {
	t.Helper()
	f := rows[n]
	if f == nil {
		t.Errorf("no row for %s", n)
		return
	}
	if f[3] != found || f[4] != now || f[6] != budget {
		t.Errorf("%s: found %s, now %s, budget %s; want %s, %s, %s (row %q)", n, f[3], f[4], f[6], found, now, budget, f)
	}
}

// billState is the fake's state of bill n.
func (tc *transferCampaign) billState(n string) string {
	tc.t.Helper()
	b, ok := tc.srv.Bill(n)
	if !ok {
		tc.t.Fatalf("no bill %s", n)
	}
	return b.State
}

// At a campaign's end, every bill still waiting for its user is
// cancelled, the platform's CANCELLED recorded and its amount released;
// paid bills, confirmed ones, closed ones, and other campaigns' bills are
// left as they are. A second run finds nothing to do.
func TestCancel(t *testing.T) {
	tc := newTransferCampaign(t, wxpaytest.V3Options{})
	ctx := context.Background()
	tc.openBudget()
	n := tc.n

	// Waiting, the Store holding the offer.
	for _, u := range []string{"oWait1", "oWait2"} {
		tc.grant(u)
		tc.offer(u, 0, true)
	}
	// Waiting, the create's answer lost: reserved, no result.
	tc.grant("oLost")
	tc.reserve(n("oLost", 0))
	tc.offer("oLost", 0, false)
	// Paid and recorded; confirmed, the notification not received yet.
	tc.grant("oPaid")
	tc.confirm(tc.c, tc.offer("oPaid", 0, true))
	res, _, _ := tc.store.Result(ctx, n("oPaid", 0))
	res.Closed, res.Package = rail.Paid, ""
	tc.save(res)
	if _, _, err := tc.store.Budget(ctx, testCampaign, store.BudgetOp{Step: store.BudgetCommit, Billno: res.Billno, Amount: 100, Limit: budgetLimit}); err != nil {
		t.Fatal(err)
	}
	tc.grant("oConfirmed")
	tc.confirm(tc.c, tc.offer("oConfirmed", 0, true))
	// Closed a day later (the Store does not know yet); attempt 0 failed
	// and recorded, attempt 1 waiting.
	tc.grant("oOverdue")
	tc.offer("oOverdue", 0, true)
	if _, err := tc.srv.FailTransfer(n("oOverdue", 0), wxpaytest.FailOverdueClose); err != nil {
		t.Fatal(err)
	}
	tc.grant("oSecond")
	tc.offer("oSecond", 0, false)
	if _, err := tc.srv.FailTransfer(n("oSecond", 0), "RISK_CONTROL"); err != nil {
		t.Fatal(err)
	}
	tc.save(store.Result{Billno: n("oSecond", 0), OpenID: "oSecond", Rail: tc.railName(), Amount: 100, Closed: rail.Closed, At: time.Now()})
	tc.offer("oSecond", 1, true)
	// Terms, nothing created.
	tc.grant("oNever")
	// Another campaign's waiting bill, and a red packet.
	other, _ := tc.c.OutBillNo("autumn", "oAutumn", 0)
	if _, _, err := tc.store.AddTerms(ctx, other, store.Terms{Payout: rail.Payout{Amount: 100}, DecidedAt: time.Now(), Key: "autumn", OpenID: "oAutumn"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	tc.createBill(tc.c, other, "oAutumn", 100)
	packet, _ := hongbao.DeriveBillno([]byte(testBillnoKey), tc.srv.MchID, testCampaign, "oPacket")
	tc.pay(packet, "oPacket", 100)
	if _, _, err := tc.store.AddTerms(ctx, packet, store.Terms{Payout: rail.Payout{Amount: 100}, DecidedAt: time.Now(), Key: testCampaign, OpenID: "oPacket"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	waiting := []string{n("oWait1", 0), n("oWait2", 0), n("oLost", 0), n("oSecond", 1)}
	if st := tc.account(); st.ReservedPackets != 6 || st.CommittedPackets != 1 {
		t.Fatalf("the account before: %+v", st)
	}

	// -dry-run lists the waiting bills and changes nothing.
	r := runWith(t, tc.env, "cancel", "-prefix", tc.prefix, "-rate", "1000", "-dry-run")
	r.wantCode(t, exitOK)
	rows := cancelRows(t, r)
	for _, w := range waiting {
		wantBill(t, rows, w, "WAIT_USER_CONFIRM", "-", "-")
	}
	if len(rows) != 4 {
		t.Errorf("%d rows, want 4:\n%s", len(rows), r)
	}
	r.wantErr(t, "hongbao: cancel: 8 grants of campaign spring", "-dry-run: 4 bills waiting for confirmation, nothing cancelled; 4 grants paid, closed or never created")
	for _, w := range waiting {
		if s := tc.billState(w); s != wxpaytest.BillWaitUserConfirm {
			t.Errorf("%s is %s after -dry-run", w, s)
		}
	}
	if st := tc.account(); st.ReservedPackets != 6 {
		t.Errorf("the account after -dry-run: %+v", st)
	}

	// The cancel.
	cancels := func() int {
		k := 0
		for _, q := range tc.srv.V3Requests() {
			if strings.HasSuffix(q.URI, "/cancel") {
				k++
			}
		}
		return k
	}
	r = runWith(t, tc.env, "cancel", "-prefix", tc.prefix, "-rate", "1000")
	r.wantCode(t, exitOK)
	rows = cancelRows(t, r)
	for _, w := range waiting {
		wantBill(t, rows, w, "WAIT_USER_CONFIRM", "CANCELLED", "released")
		if s := tc.billState(w); s != wxpaytest.BillCancelled {
			t.Errorf("%s is %s", w, s)
		}
		s, ok, err := tc.store.Result(ctx, w)
		if err != nil || !ok || s.Closed != rail.Cancelled || s.Paid() {
			t.Errorf("%s stored %+v %v %v", w, s, ok, err)
		}
	}
	if len(rows) != 4 || cancels() != 4 {
		t.Errorf("%d rows, %d cancels, want 4:\n%s", len(rows), cancels(), r)
	}
	r.wantErr(t, "hongbao: cancel: 4 cancelled (4.00 yuan released), 0 confirmed by the user first, 0 still cancelling, 0 errors; 4 grants paid, closed or never created, left as they are")
	// Paid and confirmed bills untouched at the platform; what the
	// platform reported of the others recorded on the way.
	for _, p := range []string{n("oPaid", 0), n("oConfirmed", 0)} {
		if s := tc.billState(p); s != wxpaytest.BillSuccess {
			t.Errorf("%s is %s", p, s)
		}
	}
	if s := tc.billState(other); s != wxpaytest.BillWaitUserConfirm {
		t.Errorf("the other campaign's bill is %s", s)
	}
	if s, _, _ := tc.store.Result(ctx, n("oConfirmed", 0)); s.Closed != rail.Paid {
		t.Errorf("oConfirmed stored %+v", s)
	}
	if s, _, _ := tc.store.Result(ctx, n("oOverdue", 0)); s.Closed != rail.Returned {
		t.Errorf("oOverdue stored %+v", s)
	}
	// Every reservation released, the two paid committed.
	if st := tc.account(); st.ReservedPackets != 0 || st.ReservedFen != 0 || st.CommittedPackets != 2 || st.CommittedFen != 200 {
		t.Errorf("the account after: %+v", st)
	}

	// Again: nothing waits, nothing is cancelled.
	r = runWith(t, tc.env, "cancel", "-prefix", tc.prefix, "-rate", "1000")
	r.wantCode(t, exitOK)
	if rows := cancelRows(t, r); len(rows) != 0 || cancels() != 4 {
		t.Errorf("second run: %d rows, %d cancels\n%s", len(rows), cancels(), r)
	}
	r.wantErr(t, "0 cancelled (0.00 yuan released)")
}

// A cancel the platform has not confirmed (CANCELING) keeps its amount
// reserved, and the run says so; a bill the user confirmed (TRANSFERING)
// is not cancelled. Once the platform reports CANCELLED, the next run
// records it and releases the amount.
func TestCancelAwaitsTheConfirmation(t *testing.T) {
	tc := newTransferCampaign(t, wxpaytest.V3Options{ManualSettle: true})
	ctx := context.Background()
	tc.openBudget()
	tc.grant("oWait")
	tc.offer("oWait", 0, true)
	tc.grant("oConfirming")
	tc.confirm(tc.c, tc.offer("oConfirming", 0, true))
	wait, confirming := tc.n("oWait", 0), tc.n("oConfirming", 0)

	r := runWith(t, tc.env, "cancel", "-prefix", tc.prefix, "-rate", "1000", "-wait", "300ms")
	r.wantCode(t, exitProblems)
	rows := cancelRows(t, r)
	wantBill(t, rows, wait, "WAIT_USER_CONFIRM", "CANCELING", "reserved")
	if rows[confirming] != nil {
		t.Errorf("the confirmed bill was cancelled: %v", rows[confirming])
	}
	r.wantErr(t, "1 still cancelling", "the platform has not confirmed 1 cancel yet (CANCELING): its amount stays reserved until it does")
	if st := tc.account(); st.ReservedPackets != 2 {
		t.Errorf("the account while cancelling: %+v", st)
	}
	if s, _, _ := tc.store.Result(ctx, wait); !s.Paid() {
		t.Errorf("recorded before the platform confirmed: %+v", s)
	}
	if s := tc.billState(confirming); s != wxpaytest.BillTransfering {
		t.Errorf("the confirmed bill is %s", s)
	}

	if _, err := tc.srv.Settle(wait); err != nil {
		t.Fatal(err)
	}
	r = runWith(t, tc.env, "cancel", "-prefix", tc.prefix, "-rate", "1000", "-wait", "300ms")
	r.wantCode(t, exitOK)
	if s, _, _ := tc.store.Result(ctx, wait); s.Closed != rail.Cancelled {
		t.Errorf("stored %+v", s)
	}
	if st := tc.account(); st.ReservedPackets != 1 {
		t.Errorf("the account after the platform confirmed: %+v", st)
	}
}

// With -openids and no Store, the bills are cancelled through the rail
// alone; nothing is recorded, and the run says so.
func TestCancelOpenIDsWithoutStore(t *testing.T) {
	tc := newTransferCampaign(t, wxpaytest.V3Options{})
	tc.offer("oWait", 0, false)
	tc.confirm(tc.c, tc.offer("oPaid", 0, false))
	file := tc.file("openids.txt", []byte("oWait\noPaid\noNever\n"))
	env := tc.with(envRedisURL, "")
	r := runWith(t, env, "cancel", "-openids", file, "-rate", "1000")
	r.wantCode(t, exitOK)
	rows := cancelRows(t, r)
	wantBill(t, rows, tc.n("oWait", 0), "WAIT_USER_CONFIRM", "CANCELLED", "not")
	r.wantErr(t, "without HONGBAO_REDIS_URL nothing is recorded", "3 grants of campaign spring", "1 cancelled")
	if s := tc.billState(tc.n("oWait", 0)); s != wxpaytest.BillCancelled {
		t.Errorf("oWait is %s", s)
	}
	if s := tc.billState(tc.n("oPaid", 0)); s != wxpaytest.BillSuccess {
		t.Errorf("oPaid is %s", s)
	}
}

func TestCancelErrors(t *testing.T) {
	tc := newTransferCampaign(t, wxpaytest.V3Options{})
	file := tc.file("openids.txt", []byte("oWait\n"))
	for _, c := range []struct {
		env  map[string]string
		args []string
		code int
		want string
	}{
		{tc.with(envRedisURL, ""), nil, exitUsage, "set HONGBAO_REDIS_URL to cancel the bills of the Store's grants, or name the openids with -openids FILE"},
		{tc.env, []string{"-key", "x"}, exitUsage, "-key goes with -openids"},
		{tc.env, []string{"extra"}, exitUsage, "no arguments expected"},
		{tc.with(envAPIv3Key, "", envPublicKeyID, "", envPublicKeyFile, ""), nil, exitProblems, "cancel works on transfer bills: set the APIv3 variables"},
		{tc.with(envBillnoKey, ""), []string{"-openids", file}, exitProblems, "cancel derives the grants' bill numbers: HONGBAO_BILLNO_KEY is not set"},
		{tc.with(envPublicKeyFile, "/no/such/pub_key.pem"), []string{"-openids", file}, exitProblems, "HONGBAO_PUBLIC_KEY_FILE"},
	} {
		r := runWith(t, c.env, append([]string{"cancel", "-prefix", tc.prefix}, c.args...)...)
		r.wantCode(t, c.code)
		r.wantErr(t, c.want)
	}
}
