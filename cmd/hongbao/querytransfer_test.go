package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hongbao-go/hongbao"
	"github.com/hongbao-go/hongbao/transfer"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

// transferClient is a transfer.Client of the fixture's merchant, keyed
// with the fixture's HONGBAO_BILLNO_KEY: numbers as query -grants derives
// them.
func (f *fixture) transferClient() *transfer.Client {
	f.t.Helper()
	tr, _, err := newV3Transport(context.Background(), getenvOf(f.env), time.Now, 10*time.Second)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { tr.Close() })
	c, err := transfer.New(transfer.Config{AppID: f.srv.AppID, Transport: tr, BillnoKey: []byte(testBillnoKey),
		Retry: hongbao.RetryPolicy{Attempts: 1}})
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

// createBill creates a transfer bill of amount fen to openid under n.
func (f *fixture) createBill(c *transfer.Client, n, openid string, amount int64) *transfer.Bill {
	f.t.Helper()
	b, err := c.Create(context.Background(), &transfer.CreateRequest{OutBillNo: n, OpenID: openid, Amount: amount,
		Remark: "new year", ActivityName: "lantern riddles", RewardNote: "a right answer"})
	if err != nil {
		f.t.Fatalf("creating %s: %v", n, err)
	}
	return b
}

// confirm stands for the user confirming b in the page.
func (f *fixture) confirm(c *transfer.Client, b *transfer.Bill) {
	f.t.Helper()
	page, err := c.PageParams(b)
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.srv.ConfirmTransfer(wxpaytest.TransferPage{MchID: page.MchID, AppID: page.AppID, Package: page.Package, OpenID: page.OpenID}); err != nil {
		f.t.Fatal(err)
	}
}

// transferBills creates bills in every kind of state and returns their
// out_bill_no by state (NOT_FOUND: never created), and the SUCCESS bill's
// transfer_bill_no.
func (f *fixture) transferBills(c *transfer.Client) (map[string]string, string) {
	f.t.Helper()
	n := map[string]string{
		"WAIT_USER_CONFIRM": "QueryWaiting",
		"SUCCESS":           "QuerySuccess",
		"FAIL":              "QueryClosed",
		"CANCELLED":         "QueryCancelled",
		"NOT_FOUND":         "QueryNever",
	}
	f.createBill(c, n["WAIT_USER_CONFIRM"], "oWaiting", 100)
	ok := f.createBill(c, n["SUCCESS"], "oSuccess", 188)
	f.confirm(c, ok)
	f.createBill(c, n["FAIL"], "oClosed", 200)
	if _, err := f.srv.FailTransfer(n["FAIL"], wxpaytest.FailOverdueClose); err != nil {
		f.t.Fatal(err)
	}
	f.createBill(c, n["CANCELLED"], "oCancelled", 300)
	if _, err := c.Cancel(context.Background(), n["CANCELLED"]); err != nil {
		f.t.Fatal(err)
	}
	return n, ok.TransferBillNo
}

func TestQueryTransferTable(t *testing.T) {
	for _, trust := range []wxpaytest.Trust{wxpaytest.TrustPublicKey, wxpaytest.TrustCertificates} {
		t.Run(trust.String(), func(t *testing.T) {
			f := newV3Fixture(t, trust)
			n, _ := f.transferBills(f.transferClient())
			before := len(f.srv.V3Requests())
			r := runWith(t, f.env, "query", "-transfer", n["WAIT_USER_CONFIRM"], n["SUCCESS"], n["FAIL"], n["CANCELLED"], n["NOT_FOUND"])
			r.wantCode(t, exitOK)
			lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
			if len(lines) != 6 || strings.Join(strings.Fields(lines[0]), " ") != "OUT_BILL_NO TRANSFER_BILL_NO STATE YUAN OPENID CREATED UPDATED DETAIL" {
				t.Fatalf("%s", r)
			}
			row := func(i int) []string { return strings.Fields(lines[i]) }
			if c := row(1); c[0] != n["WAIT_USER_CONFIRM"] || c[2] != "WAIT_USER_CONFIRM" || c[3] != "1.00" || c[4] != "oWaiting" {
				t.Errorf("waiting row: %q", lines[1])
			}
			if c := row(2); c[2] != "SUCCESS" || c[3] != "1.88" || c[4] != "oSuccess" || c[len(c)-1] != "-" {
				t.Errorf("success row: %q", lines[2])
			}
			if c := row(3); c[2] != "FAIL" || c[len(c)-1] != "OVERDUE_CLOSE" {
				t.Errorf("closed row: %q", lines[3])
			}
			if c := row(4); c[2] != "CANCELLED" || c[3] != "3.00" {
				t.Errorf("cancelled row: %q", lines[4])
			}
			if c := row(5); c[0] != n["NOT_FOUND"] || c[1] != "-" || c[2] != "NOT_FOUND" {
				t.Errorf("not-found row: %q", lines[5])
			}
			// Five signed queries, each answer verified (the transport
			// hands on no other); in certificate mode one download first.
			var queries int
			for _, q := range f.srv.V3Requests()[before:] {
				if strings.HasPrefix(q.URI, wxpaytest.PathTransferBillByOutBillNo) {
					queries++
				}
			}
			if queries != 5 {
				t.Errorf("%d queries", queries)
			}
		})
	}
}

func TestQueryTransferBillNo(t *testing.T) {
	f := newV3Fixture(t, wxpaytest.TrustPublicKey)
	n, no := f.transferBills(f.transferClient())
	r := runWith(t, f.env, "query", "-transfer-bill-no", "-json", no, "1330000071100999991182020050700019480001")
	r.wantCode(t, exitOK)
	var got []billState
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("%v\n%s", err, r)
	}
	if len(got) != 2 {
		t.Fatalf("%s", r)
	}
	if s := got[0]; s.OutBillNo != n["SUCCESS"] || s.TransferBillNo != no || s.State != "SUCCESS" || s.Amount != 188 ||
		s.OpenID != "oSuccess" || s.CreateTime.IsZero() || s.UpdateTime.IsZero() || s.Remark != "new year" {
		t.Errorf("SUCCESS: %+v", s)
	}
	if s := got[1]; s.State != "NOT_FOUND" || s.TransferBillNo != "1330000071100999991182020050700019480001" || s.Error != "" {
		t.Errorf("NOT_FOUND: %+v", s)
	}
	for _, name := range []string{`"out_bill_no"`, `"transfer_bill_no"`, `"state"`, `"amount"`, `"openid"`, `"create_time"`, `"update_time"`} {
		if !strings.Contains(r.stdout, name) {
			t.Errorf("no %s in the JSON:\n%s", name, r.stdout)
		}
	}
}

func TestQueryTransferGrants(t *testing.T) {
	f := newV3Fixture(t, wxpaytest.TrustPublicKey)
	f.env[envCampaign] = "spring-2026"
	c := f.transferClient()
	// oRetried: attempt 0 closed overdue, attempt 1 paid. oWaiting: attempt
	// 0 waits for the user. oNever: nothing.
	n0, err := c.OutBillNo("spring-2026", "oRetried", 0)
	if err != nil {
		t.Fatal(err)
	}
	n1, _ := c.OutBillNo("spring-2026", "oRetried", 1)
	nw, _ := c.OutBillNo("spring-2026", "oWaiting", 0)
	f.createBill(c, n0, "oRetried", 100)
	if _, err := f.srv.FailTransfer(n0, wxpaytest.FailOverdueClose); err != nil {
		t.Fatal(err)
	}
	f.confirm(c, f.createBill(c, n1, "oRetried", 100))
	f.createBill(c, nw, "oWaiting", 100)

	r := runWith(t, f.env, "query", "-grants", "oRetried", "oWaiting", "oNever")
	r.wantCode(t, exitOK)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 5 || strings.Join(strings.Fields(lines[0]), " ") != "OPENID ATTEMPT OUT_BILL_NO TRANSFER_BILL_NO STATE YUAN CREATED UPDATED DETAIL" {
		t.Fatalf("%s", r)
	}
	want := [][]string{
		{"oRetried", "0", n0, "FAIL"},
		{"oRetried", "1", n1, "SUCCESS"},
		{"oWaiting", "0", nw, "WAIT_USER_CONFIRM"},
		{"oNever", "0", "", "NOT_FOUND"},
	}
	for i, w := range want {
		c := strings.Fields(lines[i+1])
		if c[0] != w[0] || c[1] != w[1] || (w[2] != "" && c[2] != w[2]) || c[4] != w[3] {
			t.Errorf("row %d: %q, want %q", i+1, lines[i+1], w)
		}
	}
	if len(n0) != 32 || n0 == n1 {
		t.Errorf("numbers %q %q", n0, n1)
	}

	// -attempts 1 stops at attempt 0; another campaign finds nothing.
	r = runWith(t, f.env, "query", "-grants", "-attempts", "1", "oRetried")
	r.wantCode(t, exitOK)
	if n := strings.Count(r.stdout, "oRetried"); n != 1 {
		t.Errorf("%s", r)
	}
	r = runWith(t, f.env, "query", "-grants", "-campaign", "other", "oRetried")
	r.wantCode(t, exitOK)
	r.wantOut(t, "NOT_FOUND")

	r = runWith(t, f.with(envBillnoKey, ""), "query", "-grants", "oRetried")
	r.wantCode(t, exitProblems)
	r.wantErr(t, "HONGBAO_BILLNO_KEY is not set")
}

func TestQueryTransferProblems(t *testing.T) {
	f := newV3Fixture(t, wxpaytest.TrustPublicKey)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-transfer"}, "name at least one bill number"},
		{[]string{"-grants"}, "name at least one openid"},
		{[]string{"-transfer", "-grants", "x"}, "use one of -transfer, -transfer-bill-no and -grants"},
		{[]string{"-campaign", "c", "x"}, "-campaign and -attempts go with -grants"},
	} {
		r := runWith(t, f.env, append([]string{"query"}, c.args...)...)
		r.wantCode(t, exitUsage)
		r.wantErr(t, c.want)
	}

	// A number that is not one fails alone; the others are reported.
	r := runWith(t, f.env, "query", "-transfer", "not-a-number!", "QueryNever")
	r.wantCode(t, exitProblems)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[1], "not-a-number!") || !strings.Contains(lines[1], "ERROR") || !strings.Contains(lines[1], "out_bill_no") ||
		strings.Join(strings.Fields(lines[2])[:3], " ") != "QueryNever - NOT_FOUND" {
		t.Errorf("%s", r)
	}
	r.wantErr(t, "1 of 2 transfer bills could not be queried")

	// The configuration is checked first, naming the variable.
	r = runWith(t, f.with(envPublicKeyID, "PUB_KEY_ID_x"), "query", "-transfer", "QueryNever")
	r.wantCode(t, exitProblems)
	r.wantErr(t, `HONGBAO_PUBLIC_KEY_ID="PUB_KEY_ID_x" is not a WeChat Pay public key id`)
	r = runWith(t, f.with(envAPIv3Key, "", envPublicKeyID, "", envPublicKeyFile, ""), "query", "-transfer", "QueryNever")
	r.wantCode(t, exitProblems)
	r.wantErr(t, "the APIv3 variables are not set")

	// Certificate mode with a wrong APIv3 key: the download names it.
	fc := newV3Fixture(t, wxpaytest.TrustCertificates)
	r = runWith(t, fc.with(envAPIv3Key, strings.Repeat("k", 32)), "query", "-transfer", "QueryNever")
	r.wantCode(t, exitProblems)
	r.wantErr(t, "downloading the platform certificates: the platform certificates do not decrypt with HONGBAO_APIV3_KEY")

	// A forged answer is never printed as a state.
	f.createBill(f.transferClient(), "QueryForged", "oForged", 100)
	f.srv.InjectV3(wxpaytest.V3Fault{Signature: wxpaytest.SignForged, Times: 3})
	r = runWith(t, f.env, "query", "-transfer", "QueryForged")
	r.wantCode(t, exitProblems)
	r.wantOut(t, "ERROR", "signature")
	if strings.Contains(r.stdout, "WAIT_USER_CONFIRM") || strings.Contains(r.stdout, "oForged") {
		t.Errorf("%s", r)
	}
}
