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

// The budget command's rebuild on the transfer rail, and on both: a host
// speaking APIv2 and APIv3, the Store on the tests' Redis.

// transferSpent gives testCampaign's transfer grants in every state, the
// Store recording them as the services do, on an open account:
//
//   - oPaid: offered and confirmed (SUCCESS), 100 fen;
//   - oWaiting: offered, not confirmed yet (WAIT_USER_CONFIRM), 100 fen;
//   - oClosed: offered and closed unconfirmed (FAIL), nothing after it;
//   - oSecond: attempt 0 closed (FAIL), attempt 1 confirmed (SUCCESS);
//   - oNever: terms recorded, nothing created;
//
// and another campaign's offer. A rebuild counts 200 fen committed in 2
// numbers, 100 reserved in 1, 2 numbers released, from 5 grants.
func transferSpent(t *testing.T) *transferCampaign {
	tc := newTransferCampaign(t, wxpaytest.V3Options{})
	tc.openBudget()
	tc.grant("oPaid")
	tc.confirm(tc.c, tc.offer("oPaid", 0, true))
	tc.grant("oWaiting")
	tc.offer("oWaiting", 0, true)
	tc.grant("oClosed")
	tc.offer("oClosed", 0, true)
	if _, err := tc.srv.FailTransfer(tc.n("oClosed", 0), wxpaytest.FailOverdueClose); err != nil {
		t.Fatal(err)
	}
	tc.grant("oSecond")
	tc.offer("oSecond", 0, false)
	if _, err := tc.srv.FailTransfer(tc.n("oSecond", 0), "RISK_CONTROL"); err != nil {
		t.Fatal(err)
	}
	tc.confirm(tc.c, tc.offer("oSecond", 1, true))
	tc.grant("oNever")
	other, _ := tc.c.OutBillNo("autumn", "oAutumn", 0)
	if _, _, err := tc.store.AddTerms(context.Background(), other, store.Terms{Payout: rail.Payout{Amount: 100}, DecidedAt: time.Now(), Key: "autumn", OpenID: "oAutumn"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	tc.createBill(tc.c, other, "oAutumn", 100)
	return tc
}

// transferOpenIDs are transferSpent's users of testCampaign.
var transferOpenIDs = []string{"oPaid", "oWaiting", "oClosed", "oSecond", "oNever"}

// forget deletes the Store's keys under the prefix that match pattern:
// "budget:*" loses the accounts (claimtest.Backend.ForgetBudgets), "*"
// everything (Flush).
func (tc *transferCampaign) forget(pattern string) {
	tc.t.Helper()
	ctx := context.Background()
	var keys []string
	if err := scanKeys(ctx, tc.store.Client(), tc.prefix+pattern, func(k string) { keys = append(keys, k) }); err != nil {
		tc.t.Fatal(err)
	}
	for _, k := range keys {
		if err := tc.store.Client().Del(ctx, k).Err(); err != nil {
			tc.t.Fatal(err)
		}
	}
	if st := tc.account(); st.Open || st.ReservedPackets != 0 || st.CommittedPackets != 0 {
		tc.t.Fatalf("the account after the loss: %+v", st)
	}
}

// rebuild runs budget -rebuild for testCampaign with env.
func (tc *transferCampaign) rebuild(env map[string]string, args ...string) result {
	tc.t.Helper()
	return runWith(tc.t, env, append([]string{"budget", "-rebuild", "-prefix", tc.prefix, "-rate", "1000"}, args...)...)
}

// gethbinfos counts the red-packet queries the host answered.
func (tc *transferCampaign) gethbinfos() int {
	k := 0
	for _, r := range tc.srv.Requests() {
		if r.Path == wxpaytest.PathGetHBInfo {
			k++
		}
	}
	return k
}

// wantRebuilt checks the account transferSpent's rebuild leaves.
func (tc *transferCampaign) wantRebuilt(r result) {
	tc.t.Helper()
	r.wantCode(tc.t, exitOK)
	r.wantOut(tc.t, "budget spring: rebuilt from 5 grants: committed 200 fen in 2 numbers, reserved 100 fen in 1 number, released 2 numbers",
		"budget spring: open since ", "reserved 100 fen in 1 packet, committed 200 fen in 2 packets")
	if st := tc.account(); !st.Open || st.CommittedPackets != 2 || st.CommittedFen != 200 || st.ReservedPackets != 1 || st.ReservedFen != 100 {
		tc.t.Errorf("the account after the rebuild: %+v", st)
	}
	if n := tc.gethbinfos(); n != 0 {
		tc.t.Errorf("%d red-packet queries of transfer grants", n)
	}
}

// wantClosed checks that a refused rebuild left the account as it was:
// missing.
func (tc *transferCampaign) wantClosed() {
	tc.t.Helper()
	if st := tc.account(); st.Open || st.ReservedPackets != 0 || st.CommittedPackets != 0 {
		tc.t.Errorf("the account after a refused rebuild: %+v", st)
	}
}

// A transfer campaign's account is lost (its keys alone); the merchant has
// only the APIv3 variables. The rebuild reads each grant's rail from its
// number: paid bills committed, the offer waiting for its user reserved,
// the closed ones released, the account opened; no red packet asked about.
// A second run counts the same.
func TestBudgetRebuildTransfer(t *testing.T) {
	tc := transferSpent(t)
	tc.forget("budget:*")
	v3only := tc.with(envAPIKey, "")
	r := tc.rebuild(v3only)
	t.Logf("hongbao budget -rebuild:\n%s", r)
	tc.wantRebuilt(r)
	r.wantErr(t, "rebuilding spring from the platform: 5 grants (0 on the red-packet rail, 5 on the transfer rail)")
	// -rail transfer agrees with the Store; the run is idempotent.
	tc.wantRebuilt(tc.rebuild(v3only, "-rail", "transfer"))
}

// Redis flushed: the grants' records are gone too. The operator names the
// openids and the rail (-rail, else HONGBAO_RAIL): the same account.
func TestBudgetRebuildTransferOpenIDs(t *testing.T) {
	tc := transferSpent(t)
	file := writeOpenIDs(t, transferOpenIDs)
	tc.forget("*")
	r := tc.rebuild(tc.env, "-openids", file, "-rail", "transfer")
	t.Logf("hongbao budget -rebuild -openids FILE -rail transfer:\n%s", r)
	tc.wantRebuilt(r)
	r.wantErr(t, "5 grants (0 on the red-packet rail, 5 on the transfer rail)")

	tc.forget("*")
	tc.wantRebuilt(tc.rebuild(tc.with(envRail, "transfer", envAPIKey, ""), "-openids", file))
}

// The wrong rail is refused, and the account stays missing: -rail
// contradicting the Store's grants; with -openids, a rail (given, from
// HONGBAO_RAIL or the default) under whose numbers the Store holds
// nothing while it holds terms under the other rail's; a rail the
// campaign's Store shows to be the other one.
func TestBudgetRebuildWrongRail(t *testing.T) {
	tc := transferSpent(t)
	tc.forget("budget:*")
	r := tc.rebuild(tc.env, "-rail", "redpacket")
	r.wantCode(t, exitProblems)
	r.wantErr(t, "-rail redpacket, but the Store holds 5 grants of campaign spring on the transfer rail",
		"would open with a fresh count", "Run it without -rail")
	tc.wantClosed()
	// With -openids, the Store's grants of the campaign contradict it
	// too.
	file := writeOpenIDs(t, transferOpenIDs)
	r = tc.rebuild(tc.env, "-openids", file)
	r.wantCode(t, exitProblems)
	r.wantErr(t, "the default rail, redpacket (set -rail to choose), but the Store holds 5 grants of campaign spring on the transfer rail")
	tc.wantClosed()

	// Flushed; one user's terms survive, of an older version (no grant
	// named, so not the campaign's by a scan), under the transfer number.
	tc.forget("*")
	if err := tc.store.Client().Set(context.Background(), tc.prefix+"terms:"+tc.n("oWaiting", 0), `{"amount":100}`, time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{tc.env, []string{"-rail", "redpacket"}, "-rail redpacket, but the Store holds terms of 1 openid of grant \"spring\" on the transfer rail: oWaiting (terms " + tc.n("oWaiting", 0) + ")"},
		{tc.with(envRail, "redpacket"), nil, "HONGBAO_RAIL=redpacket, but the Store holds terms of 1 openid"},
		{tc.env, nil, "the default rail, redpacket (set -rail to choose), but the Store holds terms of 1 openid"},
	} {
		r = tc.rebuild(c.env, append([]string{"-openids", file}, c.args...)...)
		r.wantCode(t, exitProblems)
		r.wantErr(t, c.want, "the account is left as it is", "Give the rail the openids were paid on with -rail")
		tc.wantClosed()
	}
	if n := tc.gethbinfos(); n != 0 {
		t.Errorf("%d red-packet queries", n)
	}
	// The rail they were paid on.
	tc.wantRebuilt(tc.rebuild(tc.env, "-openids", file, "-rail", "transfer"))

	// Flags and variables.
	for _, bad := range [][]string{{"-rail", "wechat"}, {"-rail", "TRANSFER"}} {
		tc.rebuild(tc.env, bad...).wantCode(t, exitUsage)
	}
	runWith(t, tc.env, "budget", "-rail", "transfer").wantCode(t, exitUsage)
	tc.forget("*")
	r = tc.rebuild(tc.with(envRail, "wechat"), "-openids", file)
	r.wantCode(t, exitProblems)
	r.wantErr(t, `HONGBAO_RAIL is redpacket or transfer, not "wechat"`)
	tc.wantClosed()
}

// A rail the grants need whose variables are missing is an error naming
// them, before anything is written: the transfer's APIv3 variables for
// the Store's transfer grants or -rail transfer, HONGBAO_API_KEY for the
// red packet's. Terms whose number another HONGBAO_BILLNO_KEY derived are
// refused too.
func TestBudgetRebuildRailNotConfigured(t *testing.T) {
	tc := transferSpent(t)
	tc.forget("budget:*")
	v2only := tc.with(envAPIv3Key, "", envPublicKeyID, "", envPublicKeyFile, "")
	r := tc.rebuild(v2only)
	r.wantCode(t, exitProblems)
	r.wantErr(t, "the transfer rail, for 5 grants of campaign spring: the APIv3 variables are not set: set HONGBAO_PUBLIC_KEY_ID and HONGBAO_PUBLIC_KEY_FILE",
		"HONGBAO_APIV3_KEY", "the account is left as it is")
	tc.wantClosed()
	file := writeOpenIDs(t, transferOpenIDs)
	r = tc.rebuild(v2only, "-openids", file, "-rail", "transfer")
	r.wantCode(t, exitProblems)
	r.wantErr(t, "the transfer rail, for -rail transfer: the APIv3 variables are not set")
	tc.wantClosed()

	// A red packet of the campaign beside the transfers; neither rail
	// configured: both named.
	packet, _ := hongbao.DeriveBillno([]byte(testBillnoKey), tc.srv.MchID, testCampaign, "oPacket")
	if _, _, err := tc.store.AddTerms(context.Background(), packet, store.Terms{Payout: rail.Payout{Amount: 100}, DecidedAt: time.Now(), Key: testCampaign, OpenID: "oPacket"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	r = tc.rebuild(tc.with(envAPIv3Key, "", envPublicKeyID, "", envPublicKeyFile, "", envAPIKey, ""))
	r.wantCode(t, exitProblems)
	r.wantErr(t, "the red-packet rail, for 1 grant of campaign spring: HONGBAO_API_KEY (the APIv2 key from the merchant console) is not set",
		"the transfer rail, for 5 grants of campaign spring: the APIv3 variables are not set")
	tc.wantClosed()

	// Another bill number key: the Store's numbers are not this key's.
	r = tc.rebuild(tc.with(envBillnoKey, strings.Repeat("k", 32)))
	r.wantCode(t, exitProblems)
	r.wantErr(t, "the services derived another", "HONGBAO_BILLNO_KEY")
	tc.wantClosed()

	// Terms under a number of neither rail: their grant's rail is
	// unknown.
	odd := tc.srv.MchID + "spring0000000000001x"
	if _, _, err := tc.store.AddTerms(context.Background(), odd, store.Terms{Payout: rail.Payout{Amount: 100}, DecidedAt: time.Now(), Key: testCampaign, OpenID: "oOdd"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	r = tc.rebuild(tc.env)
	r.wantCode(t, exitProblems)
	r.wantErr(t, "the Store holds terms of campaign spring under "+odd+", a number of neither rail (28 characters for a red packet, 32 for a transfer)")
	tc.wantClosed()
}

// A campaign moving from the red packet to the transfer: its grants on
// both rails, the account lost. The rebuild builds both rails and counts
// each grant on its own; -rail of either is refused.
func TestBudgetRebuildBothRails(t *testing.T) {
	tc := transferSpent(t)
	ctx := context.Background()
	packets := map[string]string{}
	for _, o := range []string{"oPacketSent", "oPacketAgain"} {
		packets[o], _ = hongbao.DeriveBillno([]byte(testBillnoKey), tc.srv.MchID, testCampaign, o)
		if _, _, err := tc.store.AddTerms(ctx, packets[o], store.Terms{Payout: rail.Payout{Amount: 150}, DecidedAt: time.Now(), Key: testCampaign, OpenID: o}, time.Hour); err != nil {
			t.Fatal(err)
		}
		tc.pay(packets[o], o, 150)
	}
	// oPacketAgain: attempt 0 failed, attempt 1 opened.
	if err := tc.srv.SetStatus(packets["oPacketAgain"], wxpaytest.StatusFailed); err != nil {
		t.Fatal(err)
	}
	again, _ := hongbao.DeriveAttemptBillno([]byte(testBillnoKey), tc.srv.MchID, testCampaign, "oPacketAgain", 1)
	tc.pay(again, "oPacketAgain", 150)
	if err := tc.srv.MarkReceived(again); err != nil {
		t.Fatal(err)
	}
	tc.forget("budget:*")

	for _, wrong := range []string{"redpacket", "transfer"} {
		r := tc.rebuild(tc.env, "-rail", wrong)
		r.wantCode(t, exitProblems)
		r.wantErr(t, "-rail "+wrong+", but the Store holds")
		tc.wantClosed()
	}
	r := tc.rebuild(tc.env)
	t.Logf("hongbao budget -rebuild:\n%s", r)
	r.wantCode(t, exitOK)
	r.wantErr(t, "7 grants (2 on the red-packet rail, 5 on the transfer rail)")
	r.wantOut(t, "budget spring: rebuilt from 7 grants: committed 500 fen in 4 numbers, reserved 100 fen in 1 number, released 3 numbers")
	if st := tc.account(); !st.Open || st.CommittedPackets != 4 || st.CommittedFen != 500 || st.ReservedPackets != 1 || st.ReservedFen != 100 {
		t.Errorf("the account after the rebuild: %+v", st)
	}
}
