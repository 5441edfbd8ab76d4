package main

import (
	"strings"
	"testing"

	"github.com/hongbao-go/hongbao"
)

func TestBillno(t *testing.T) {
	env := map[string]string{envMchID: "1900000109", envBillnoKey: testBillnoKey}
	r := runWith(t, env, "billno", "-campaign", "spring", "oUser1", "oUser2")
	r.wantCode(t, exitOK)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 1+2*3 || strings.Join(strings.Fields(lines[0]), " ") != "OPENID CAMPAIGN ATTEMPT BILLNO" {
		t.Fatalf("%s", r)
	}
	i := 1
	for _, openid := range []string{"oUser1", "oUser2"} {
		for a := range 3 {
			want, err := hongbao.DeriveAttemptBillno([]byte(testBillnoKey), "1900000109", "spring", openid, a)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Fields(lines[i]); len(got) != 4 || got[0] != openid || got[1] != "spring" || got[2] != string(rune('0'+a)) || got[3] != want {
				t.Errorf("line %d: %q, want %s spring %d %s", i, lines[i], openid, a, want)
			}
			i++
		}
	}

	// The campaign and the attempts from the services' variables, flags
	// after the operand.
	env[envCampaign], env[envMaxAttempts] = "summer", "5"
	r = runWith(t, env, "billno", "oUser1", "-attempts", "2")
	r.wantCode(t, exitOK)
	want, _ := hongbao.DeriveAttemptBillno([]byte(testBillnoKey), "1900000109", "summer", "oUser1", 1)
	if n := strings.Count(r.stdout, "\n"); n != 3 || !strings.Contains(r.stdout, want) {
		t.Errorf("-attempts 2 with HONGBAO_CAMPAIGN=summer:\n%s", r)
	}
	r = runWith(t, env, "billno", "oUser1")
	if n := strings.Count(r.stdout, "\n"); n != 6 {
		t.Errorf("HONGBAO_MAX_ATTEMPTS=5: %s", r)
	}
	// The example's default campaign.
	delete(env, envCampaign)
	r = runWith(t, env, "billno", "-attempts", "1", "oUser1")
	first, _ := hongbao.DeriveBillno([]byte(testBillnoKey), "1900000109", "demo-campaign", "oUser1")
	r.wantOut(t, "demo-campaign", first)
}

func TestBillnoProblems(t *testing.T) {
	env := map[string]string{envMchID: "1900000109", envBillnoKey: testBillnoKey}
	r := runWith(t, env, "billno")
	r.wantCode(t, exitUsage)
	r.wantErr(t, "name at least one openid")

	r = runWith(t, env, "billno", "oGood", "bad openid!")
	r.wantCode(t, exitProblems)
	if r.stdout != "" {
		t.Errorf("printed numbers before a bad openid:\n%s", r)
	}
	r.wantErr(t, `openid "bad openid!"`)

	r = runWith(t, map[string]string{envMchID: "1900000109"}, "billno", "oUser1")
	r.wantCode(t, exitProblems)
	r.wantErr(t, "HONGBAO_BILLNO_KEY is not set")
	r = runWith(t, map[string]string{envMchID: "1900000109", envBillnoKey: "short"}, "billno", "oUser1")
	r.wantCode(t, exitProblems)
	r.wantErr(t, "HONGBAO_BILLNO_KEY is 5 bytes")
	r = runWith(t, map[string]string{envBillnoKey: testBillnoKey}, "billno", "oUser1")
	r.wantCode(t, exitProblems)
	r.wantErr(t, "HONGBAO_MCH_ID (the merchant id, 商户号) is not set")
	r = runWith(t, map[string]string{envMchID: "1900000109", envBillnoKey: testBillnoKey, envMaxAttempts: "0"}, "billno", "oUser1")
	r.wantCode(t, exitUsage)
	r.wantErr(t, `HONGBAO_MAX_ATTEMPTS="0" is not a whole number from 1 to 100`)
}

func TestBillnoTransfer(t *testing.T) {
	env := map[string]string{envMchID: "1900000109", envBillnoKey: testBillnoKey}
	r := runWith(t, env, "billno", "-transfer", "-campaign", "spring", "oUser1")
	r.wantCode(t, exitOK)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 1+3 || strings.Join(strings.Fields(lines[0]), " ") != "OPENID CAMPAIGN ATTEMPT OUT_BILL_NO" {
		t.Fatalf("%s", r)
	}
	for a := range 3 {
		want, err := hongbao.DeriveTransferBillno([]byte(testBillnoKey), "1900000109", "spring", "oUser1", a)
		if err != nil {
			t.Fatal(err)
		}
		red, _ := hongbao.DeriveAttemptBillno([]byte(testBillnoKey), "1900000109", "spring", "oUser1", a)
		if got := strings.Fields(lines[1+a]); len(got) != 4 || got[3] != want || want == red {
			t.Errorf("attempt %d: %q, want %s", a, lines[1+a], want)
		}
	}
}
