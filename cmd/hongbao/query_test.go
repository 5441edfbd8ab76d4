package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/hongbao-go/hongbao"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

// packets pays red packets in every state the platform reports and
// returns their bill numbers by state, with one never sent (NOT_FOUND).
func (f *fixture) packets() map[string]string {
	f.t.Helper()
	b := map[string]string{
		"SENT":      "1900000109QuerySent",
		"RECEIVED":  "1900000109QueryReceived",
		"REFUND":    "1900000109QueryRefund",
		"FAILED":    "1900000109QueryFailed",
		"NOT_FOUND": "1900000109QueryNever",
	}
	f.pay(b["SENT"], "oSent", 100)
	f.pay(b["RECEIVED"], "oReceived", 150)
	if err := f.srv.MarkReceived(b["RECEIVED"]); err != nil {
		f.t.Fatal(err)
	}
	f.pay(b["REFUND"], "oRefund", 200)
	if err := f.srv.MarkRefunded(b["REFUND"]); err != nil {
		f.t.Fatal(err)
	}
	f.srv.Inject(wxpaytest.Fault{ErrCode: "SEND_FAILED", ErrCodeDes: "the send failed", Record: true})
	_, err := f.client().SendMiniProgramHB(context.Background(), &hongbao.SendRequest{
		Billno: b["FAILED"], OpenID: "oFailed", Amount: 100,
		SendName: "shop", Wishing: "happy new year", ActName: "new year", Remark: "thanks",
	})
	if err == nil {
		f.t.Fatal("the recorded failure paid")
	}
	return b
}

func TestQueryTable(t *testing.T) {
	f := newFixture(t, wxpaytest.Options{})
	b := f.packets()
	r := runWith(t, f.env, "query", b["SENT"], b["RECEIVED"], b["REFUND"], b["FAILED"], b["NOT_FOUND"])
	r.wantCode(t, exitOK)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 6 || strings.Join(strings.Fields(lines[0]), " ") != "BILLNO STATUS YUAN SENT RECEIVED REFUNDED DETAIL" {
		t.Fatalf("%s", r)
	}
	row := func(i int) []string { return strings.Fields(lines[i]) }
	if c := row(1); c[0] != b["SENT"] || c[1] != "SENT" || c[2] != "1.00" {
		t.Errorf("SENT row: %q", lines[1])
	}
	if c := row(2); c[0] != b["RECEIVED"] || c[1] != "RECEIVED" || c[2] != "1.50" || !strings.Contains(lines[2], "oReceived ") {
		t.Errorf("RECEIVED row: %q", lines[2])
	}
	if c := row(3); c[1] != "REFUND" || c[2] != "2.00" || !strings.HasSuffix(strings.TrimSpace(lines[3]), "2.00  -") {
		t.Errorf("REFUND row: %q", lines[3])
	}
	if c := row(4); c[1] != "FAILED" || !strings.HasSuffix(lines[4], "the send failed") {
		t.Errorf("FAILED row: %q", lines[4])
	}
	if c := row(5); c[1] != "NOT_FOUND" || c[2] != "-" {
		t.Errorf("NOT_FOUND row: %q", lines[5])
	}
}

func TestQueryJSON(t *testing.T) {
	f := newFixture(t, wxpaytest.Options{})
	b := f.packets()
	r := runWith(t, f.env, "query", b["RECEIVED"], b["REFUND"], b["FAILED"], b["NOT_FOUND"], "-json")
	r.wantCode(t, exitOK)
	var got []packetState
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("%v\n%s", err, r)
	}
	if len(got) != 4 {
		t.Fatalf("%d states: %s", len(got), r)
	}
	rec := got[0]
	if rec.Status != "RECEIVED" || rec.Amount != 150 || rec.SendTime.IsZero() || rec.DetailID == "" ||
		len(rec.Received) != 1 || rec.Received[0].OpenID != "oReceived" || rec.Received[0].Amount != 150 || rec.Received[0].ReceivedAt.IsZero() {
		t.Errorf("RECEIVED: %+v", rec)
	}
	if ref := got[1]; ref.Status != "REFUND" || ref.RefundAmount != 200 || ref.RefundTime.IsZero() {
		t.Errorf("REFUND: %+v", ref)
	}
	if fail := got[2]; fail.Status != "FAILED" || fail.Reason != "the send failed" {
		t.Errorf("FAILED: %+v", fail)
	}
	if nf := got[3]; nf.Billno != b["NOT_FOUND"] || nf.Status != "NOT_FOUND" || nf.Error != "" {
		t.Errorf("NOT_FOUND: %+v", nf)
	}
	// JSON field names are part of the output's contract.
	for _, name := range []string{`"billno"`, `"status"`, `"amount"`, `"send_time"`, `"received"`, `"openid"`, `"received_at"`, `"refund_amount"`, `"reason"`} {
		if !strings.Contains(r.stdout, name) {
			t.Errorf("no %s in the JSON:\n%s", name, r.stdout)
		}
	}
}

func TestQueryProblems(t *testing.T) {
	f := newFixture(t, wxpaytest.Options{})
	r := runWith(t, f.env, "query")
	r.wantCode(t, exitUsage)
	r.wantErr(t, "name at least one bill number")

	// A number that is not one fails alone; the others are reported.
	r = runWith(t, f.env, "query", "not-a-billno!", "1900000109QueryNever")
	r.wantCode(t, exitProblems)
	r.wantOut(t, "must be made of 0-9, a-z and A-Z only", "1900000109QueryNever  NOT_FOUND")
	r.wantErr(t, "1 of 2 bill numbers could not be queried")

	r = runWith(t, f.with(envAPIKey, ""), "query", "1900000109QueryNever")
	r.wantCode(t, exitProblems)
	r.wantErr(t, "HONGBAO_API_KEY (the APIv2 key from the merchant console) is not set")

	cert, key, err := f.srv.IssueClientCert("1234567890", f.srv.ClientCertificate().Leaf.NotAfter)
	if err != nil {
		t.Fatal(err)
	}
	r = runWith(t, f.with(envCertFile, f.file("other.pem", cert), envKeyFile, f.file("other.key", key)), "query", "1900000109QueryNever")
	r.wantCode(t, exitProblems)
	r.wantErr(t, "the merchant certificate belongs to another merchant than HONGBAO_MCH_ID=1900000109")
}
