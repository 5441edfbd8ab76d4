package wxpaytest_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

// TestV3CreateValidation: the create checks of the platform, each answered
// with its status, code and, for PARAM_ERROR, the field at fault; none
// creates a bill.
func TestV3CreateValidation(t *testing.T) {
	h := newV3(t, wxpaytest.Options{V3: wxpaytest.V3Options{MaxAmount: 15000}})
	set := func(kv ...any) func(map[string]any) {
		return func(m map[string]any) {
			for i := 0; i < len(kv); i += 2 {
				m[kv[i].(string)] = kv[i+1]
			}
		}
	}
	del := func(k string) func(map[string]any) { return func(m map[string]any) { delete(m, k) } }
	infos := func(pairs ...string) []map[string]string {
		var out []map[string]string
		for i := 0; i < len(pairs); i += 2 {
			out = append(out, map[string]string{"info_type": pairs[i], "info_content": pairs[i+1]})
		}
		return out
	}
	long := strings.Repeat("长", 33)
	cases := []struct {
		name   string
		change func(map[string]any)
		status int
		code   string
		field  string
	}{
		{"no appid", del("appid"), 400, "PARAM_ERROR", "appid"},
		{"other appid", set("appid", "wx0000000000000000"), 400, "INVALID_REQUEST", ""},
		{"no out_bill_no", del("out_bill_no"), 400, "PARAM_ERROR", "out_bill_no"},
		{"out_bill_no 33", set("out_bill_no", strings.Repeat("A", 33)), 400, "PARAM_ERROR", "out_bill_no"},
		{"out_bill_no dash", set("out_bill_no", "A-1"), 400, "PARAM_ERROR", "out_bill_no"},
		{"out_bill_no underscore", set("out_bill_no", "A_1"), 400, "PARAM_ERROR", "out_bill_no"},
		{"no openid", del("openid"), 400, "PARAM_ERROR", "openid"},
		{"no amount", del("transfer_amount"), 400, "PARAM_ERROR", "transfer_amount"},
		{"amount as text", set("transfer_amount", "100"), 400, "PARAM_ERROR", "transfer_amount"},
		{"amount fractional", set("transfer_amount", 100.5), 400, "PARAM_ERROR", "transfer_amount"},
		{"amount negative", set("transfer_amount", -100), 400, "PARAM_ERROR", "transfer_amount"},
		{"amount zero", set("transfer_amount", 0), 400, "PARAM_ERROR", "transfer_amount"},
		{"amount 9 fen", set("transfer_amount", 9), 400, "INVALID_REQUEST", ""},
		{"red packet 200.01 yuan", set("transfer_amount", 20001), 400, "INVALID_REQUEST", ""},
		{"no remark", del("transfer_remark"), 400, "PARAM_ERROR", "transfer_remark"},
		{"remark 33", set("transfer_remark", long), 400, "PARAM_ERROR", "transfer_remark"},
		{"notify_url with query", set("notify_url", "https://example.com/n?a=b"), 400, "PARAM_ERROR", "notify_url"},
		{"notify_url relative", set("notify_url", "/notify"), 400, "PARAM_ERROR", "notify_url"},
		{"notify_url ftp", set("notify_url", "ftp://example.com/n"), 400, "PARAM_ERROR", "notify_url"},
		{"no scene", del("transfer_scene_id"), 400, "PARAM_ERROR", "transfer_scene_id"},
		{"scene not opened", set("transfer_scene_id", "1005"), 403, "NO_AUTH", ""},
		{"no report infos", del("transfer_scene_report_infos"), 400, "PARAM_ERROR", "transfer_scene_report_infos"},
		{"one report info", set("transfer_scene_report_infos", infos("活动名称", "x")), 400, "PARAM_ERROR", "transfer_scene_report_infos"},
		{"report info twice", set("transfer_scene_report_infos", infos("活动名称", "x", "活动名称", "y")), 400, "PARAM_ERROR", "transfer_scene_report_infos.info_type"},
		{"report info other type", set("transfer_scene_report_infos", infos("活动名称", "x", "奖品说明", "y")), 400, "PARAM_ERROR", "transfer_scene_report_infos.info_type"},
		{"report info empty", set("transfer_scene_report_infos", infos("活动名称", "", "奖励说明", "y")), 400, "PARAM_ERROR", "transfer_scene_report_infos.info_content"},
		{"report info 33", set("transfer_scene_report_infos", infos("活动名称", "x", "奖励说明", long)), 400, "PARAM_ERROR", "transfer_scene_report_infos.info_content"},
		{"perception other", set("user_recv_perception", "佣金报酬"), 400, "INVALID_REQUEST", ""},
		{"style other", set("user_recv_style", map[string]string{"type": "POPUP"}), 400, "PARAM_ERROR", "user_recv_style.type"},
		{"over the scene limit", set("user_recv_style", map[string]string{"type": "CONFIRM_PAGE"}, "transfer_amount", 15001), 400, "INVALID_REQUEST", ""},
		{"array body", func(m map[string]any) { clear(m); m["_array"] = true }, 400, "PARAM_ERROR", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := billFields(h.srv.AppID, "V1", 100)
			c.change(m)
			body := jsonBody(t, m)
			if m["_array"] == true {
				body = []byte(`[1,2]`)
			}
			r := h.c.fail(http.MethodPost, wxpaytest.PathTransferBills, body, c.status, c.code)
			detail, _ := r.fields["detail"].(map[string]any)
			if c.field != "" && (detail == nil || detail["field"] != c.field || detail["issue"] == "" || detail["location"] != "body") {
				t.Errorf("detail %v, want field %s", detail, c.field)
			}
		})
	}
	if h.srv.BillsCreated() != 0 {
		t.Fatal("a refused create made a bill")
	}
	// The bounds themselves pass: 10 fen, 200 yuan as a red packet, the
	// scene limit on the page, 32 characters, no perception or style.
	ok := []func(map[string]any){
		set("transfer_amount", 10, "out_bill_no", strings.Repeat("Z", 32)),
		set("transfer_amount", 15000, "out_bill_no", "B2", "transfer_remark", strings.Repeat("长", 32)),
		set("out_bill_no", "B3", "user_recv_perception", "现金奖励", "notify_url", "https://example.com/notify"),
		func(m map[string]any) {
			m["out_bill_no"] = "B4"
			delete(m, "user_recv_perception")
			delete(m, "user_recv_style")
		},
	}
	for i, change := range ok {
		m := billFields(h.srv.AppID, "V1", 100)
		change(m)
		if r := h.c.do(http.MethodPost, wxpaytest.PathTransferBills, jsonBody(t, m)); r.status != 200 {
			t.Errorf("valid create %d: %d %s", i, r.status, r.body)
		}
	}
	b, _ := h.srv.Bill("B4")
	if b.Perception != "" || b.RecvStyle != "" || b.SceneID != "1000" || len(b.ReportInfos) != 2 {
		t.Errorf("bill without optional fields: %+v", b)
	}
}

// TestV3RedPacketLimitDefault: without MaxAmount, the page takes more than
// a red packet, up to the amount that needs user_name.
func TestV3RedPacketLimitDefault(t *testing.T) {
	h := newV3(t, wxpaytest.Options{})
	m := billFields(h.srv.AppID, "L1", 20000)
	h.c.ok(http.MethodPost, wxpaytest.PathTransferBills, jsonBody(t, m))
	m["out_bill_no"], m["transfer_amount"] = "L2", 20001
	h.c.fail(http.MethodPost, wxpaytest.PathTransferBills, jsonBody(t, m), 400, "INVALID_REQUEST")
	m["user_recv_style"] = map[string]string{"type": "CONFIRM_PAGE"}
	h.c.ok(http.MethodPost, wxpaytest.PathTransferBills, jsonBody(t, m))
	m["out_bill_no"], m["transfer_amount"] = "L3", 200000
	r := h.c.fail(http.MethodPost, wxpaytest.PathTransferBills, jsonBody(t, m), 400, "PARAM_ERROR")
	if d, _ := r.fields["detail"].(map[string]any); d["field"] != "user_name" {
		t.Errorf("detail %v", d)
	}
}

// TestV3UserName: an encrypted user_name decrypts with the key that
// Wechatpay-Serial names; another key or none is PARAM_ERROR.
func TestV3UserName(t *testing.T) {
	h := newV3(t, wxpaytest.Options{})
	pub := parsePublicKey(t, h.srv.PublicKeyPEM())
	ct, err := rsa.EncryptOAEP(sha1.New(), rand.Reader, pub, []byte("张三"), nil)
	if err != nil {
		t.Fatal(err)
	}
	m := billFields(h.srv.AppID, "UN1", 200000)
	m["user_recv_style"] = map[string]string{"type": "CONFIRM_PAGE"}
	m["user_name"] = base64.StdEncoding.EncodeToString(ct)
	h.c.fail(http.MethodPost, wxpaytest.PathTransferBills, jsonBody(t, m), 400, "PARAM_ERROR") // no Wechatpay-Serial
	h.c.wechatpaySerial = "PUB_KEY_ID_0000"
	h.c.fail(http.MethodPost, wxpaytest.PathTransferBills, jsonBody(t, m), 400, "PARAM_ERROR")
	h.c.wechatpaySerial = h.srv.PublicKeyID()
	h.c.ok(http.MethodPost, wxpaytest.PathTransferBills, jsonBody(t, m))
	if b, _ := h.srv.Bill("UN1"); b.UserName != "张三" {
		t.Errorf("UserName %q", b.UserName)
	}
	m["out_bill_no"], m["user_name"] = "UN2", base64.StdEncoding.EncodeToString([]byte("plain"))
	h.c.fail(http.MethodPost, wxpaytest.PathTransferBills, jsonBody(t, m), 400, "PARAM_ERROR")
}

// TestV3Idempotency: out_bill_no is the key. An identical resubmission
// answers the existing bill; other parameters are INVALID_REQUEST; either
// way one bill, one amount taken.
func TestV3Idempotency(t *testing.T) {
	h := newV3(t, wxpaytest.Options{Balance: 1000})
	first := h.create("ID1", 100)
	again := h.create("ID1", 100)
	for _, k := range []string{"transfer_bill_no", "create_time", "package_info", "state"} {
		if first.str(k) != again.str(k) {
			t.Errorf("%s: %q then %q", k, first.str(k), again.str(k))
		}
	}
	for name, change := range map[string]func(map[string]any){
		"amount":     func(m map[string]any) { m["transfer_amount"] = 101 },
		"openid":     func(m map[string]any) { m["openid"] = "oOther" },
		"remark":     func(m map[string]any) { m["transfer_remark"] = "另一个" },
		"style":      func(m map[string]any) { m["user_recv_style"] = map[string]string{"type": "CONFIRM_PAGE"} },
		"perception": func(m map[string]any) { m["user_recv_perception"] = "现金奖励" },
		"infos": func(m map[string]any) {
			m["transfer_scene_report_infos"] = []map[string]string{{"info_type": "活动名称", "info_content": "别的"}, {"info_type": "奖励说明", "info_content": "注册有礼"}}
		},
	} {
		m := billFields(h.srv.AppID, "ID1", 100)
		change(m)
		r := h.c.fail(http.MethodPost, wxpaytest.PathTransferBills, jsonBody(t, m), 400, "INVALID_REQUEST")
		if !strings.Contains(r.str("message"), "单号已存在但信息不一致") {
			t.Errorf("%s: message %q", name, r.str("message"))
		}
	}
	// The same body with its fields in another order is the same request.
	reordered := []byte(`{"user_recv_style":{"type":"RED_PACKET"},"user_recv_perception":"活动奖励","transfer_scene_report_infos":[{"info_type":"活动名称","info_content":"新年活动"},{"info_type":"奖励说明","info_content":"注册有礼"}],"transfer_scene_id":"1000","transfer_remark":"新年红包","transfer_amount":100,"openid":"` + v3OpenID + `","out_bill_no":"ID1","appid":"` + h.srv.AppID + `"}`)
	if r := h.c.ok(http.MethodPost, wxpaytest.PathTransferBills, reordered); r.str("transfer_bill_no") != first.str("transfer_bill_no") {
		t.Errorf("reordered body: %s", r.body)
	}
	// Resubmitted after success, it answers the final state.
	if _, err := h.srv.ConfirmTransfer(h.page(first)); err != nil {
		t.Fatal(err)
	}
	done := h.create("ID1", 100)
	wantState(t, done, wxpaytest.BillSuccess)
	if done.str("package_info") != "" {
		t.Errorf("package_info after success: %s", done.body)
	}
	if h.srv.BillsCreated() != 1 || h.srv.Balance() != 900 || h.srv.Creates("ID1") != 10 {
		t.Errorf("BillsCreated %d, Balance %d, Creates %d", h.srv.BillsCreated(), h.srv.Balance(), h.srv.Creates("ID1"))
	}
}

// TestV3ConcurrentCreates: many identical creates at once make one bill.
func TestV3ConcurrentCreates(t *testing.T) {
	h := newV3(t, wxpaytest.Options{Balance: 100})
	const n = 20
	nos := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { nos[i] = h.create("CC1", 100).str("transfer_bill_no") })
	}
	wg.Wait()
	for _, no := range nos {
		if no != nos[0] {
			t.Fatalf("two bill numbers for one out_bill_no: %v", nos)
		}
	}
	if h.srv.BillsCreated() != 1 || h.srv.Balance() != 0 {
		t.Errorf("BillsCreated %d, Balance %d", h.srv.BillsCreated(), h.srv.Balance())
	}
}

// TestV3NotEnough: a short balance is 403 NOT_ENOUGH and records nothing;
// after a top-up the same out_bill_no goes through.
func TestV3NotEnough(t *testing.T) {
	h := newV3(t, wxpaytest.Options{Balance: 150})
	h.create("NE1", 100)
	body := jsonBody(t, billFields(h.srv.AppID, "NE2", 100))
	r := h.c.fail(http.MethodPost, wxpaytest.PathTransferBills, body, 403, "NOT_ENOUGH")
	if !strings.Contains(r.str("message"), "same out_bill_no") {
		t.Errorf("message %q", r.str("message"))
	}
	h.c.fail(http.MethodGet, uriOut("NE2"), nil, 404, "NOT_FOUND")
	if h.srv.BillsCreated() != 1 || h.srv.Creates("NE2") != 1 {
		t.Errorf("BillsCreated %d, Creates %d", h.srv.BillsCreated(), h.srv.Creates("NE2"))
	}
	h.srv.TopUp(50)
	wantState(t, h.c.ok(http.MethodPost, wxpaytest.PathTransferBills, body), wxpaytest.BillWaitUserConfirm)
	if h.srv.Balance() != 0 {
		t.Errorf("balance %d", h.srv.Balance())
	}
	// A cancelled bill gives its amount back.
	wantState(t, h.c.ok(http.MethodPost, uriCancel("NE1"), nil), wxpaytest.BillCanceling)
	if h.srv.Balance() != 100 {
		t.Errorf("balance %d after the cancel", h.srv.Balance())
	}
}

// TestV3Cancel: before the user confirms, cancel → CANCELING → CANCELLED;
// afterwards it is refused; the page cannot confirm a cancelled bill.
func TestV3Cancel(t *testing.T) {
	h := newV3(t, wxpaytest.Options{})
	r := h.create("CA1", 100)
	c := h.c.ok(http.MethodPost, uriCancel("CA1"), nil)
	wantState(t, c, wxpaytest.BillCanceling)
	if c.str("out_bill_no") != "CA1" || c.str("transfer_bill_no") != r.str("transfer_bill_no") || !beijingTimeForm.MatchString(c.str("update_time")) {
		t.Errorf("cancel answer %s", c.body)
	}
	wantState(t, h.query("CA1"), wxpaytest.BillCancelled)
	wantState(t, h.c.ok(http.MethodPost, uriCancel("CA1"), nil), wxpaytest.BillCancelled)
	if _, err := h.srv.ConfirmTransfer(h.page(r)); !errors.Is(err, wxpaytest.ErrNotConfirmable) {
		t.Errorf("confirming a cancelled bill: %v", err)
	}
	wantState(t, h.create("CA1", 100), wxpaytest.BillCancelled)

	r2 := h.create("CA2", 100)
	if _, err := h.srv.ConfirmTransfer(h.page(r2)); err != nil {
		t.Fatal(err)
	}
	h.c.fail(http.MethodPost, uriCancel("CA2"), nil, 400, "INVALID_REQUEST")
	h.c.fail(http.MethodPost, uriCancel("CA3"), nil, 404, "NOT_FOUND")
	h.c.fail(http.MethodPost, uriCancel("C-3"), nil, 400, "PARAM_ERROR")
}

// TestV3NotFound: unknown bills are 404 NOT_FOUND, malformed numbers
// PARAM_ERROR, unknown paths and methods answered apart.
func TestV3NotFound(t *testing.T) {
	h := newV3(t, wxpaytest.Options{})
	h.c.fail(http.MethodGet, uriOut("NOPE1"), nil, 404, "NOT_FOUND")
	h.c.fail(http.MethodGet, uriNo("1330000000000000000000000000000000000001"), nil, 404, "NOT_FOUND")
	h.c.fail(http.MethodGet, uriOut("bad-no"), nil, 400, "PARAM_ERROR")
	h.c.fail(http.MethodGet, uriNo("12ab"), nil, 400, "PARAM_ERROR")
	h.c.fail(http.MethodGet, wxpaytest.PathTransferBills+"/elsewhere/x", nil, 404, "RESOURCE_NOT_EXISTS")
	h.c.fail(http.MethodGet, wxpaytest.PathTransferBills, nil, 405, "METHOD_NOT_ALLOWED")
	h.c.fail(http.MethodPost, uriOut("NOPE1"), nil, 405, "METHOD_NOT_ALLOWED")
	h.c.fail(http.MethodGet, "/v3/certificates?algorithm_type=SM2", nil, 400, "PARAM_ERROR")
}

// TestV3OverdueClose: a bill not confirmed within 24 hours on the server
// clock ends FAIL OVERDUE_CLOSE and gives its amount back, with no call
// needed to notice.
func TestV3OverdueClose(t *testing.T) {
	h := newV3(t, wxpaytest.Options{Balance: 500})
	r := h.create("OC1", 100)
	h.clock.Add(24*time.Hour - time.Second)
	wantState(t, h.query("OC1"), wxpaytest.BillWaitUserConfirm)
	h.clock.Add(time.Second)
	// The sweeper closes it without a call.
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, _ := h.srv.Bill("OC1")
		if b.State == wxpaytest.BillFail || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	q := h.query("OC1")
	if q.str("state") != wxpaytest.BillFail || q.str("fail_reason") != wxpaytest.FailOverdueClose {
		t.Fatalf("after 24 h: %s", q.body)
	}
	if h.srv.Balance() != 500 {
		t.Errorf("balance %d", h.srv.Balance())
	}
	if _, err := h.srv.ConfirmTransfer(h.page(r)); !errors.Is(err, wxpaytest.ErrNotConfirmable) {
		t.Errorf("confirming a closed bill: %v", err)
	}
	h.c.fail(http.MethodPost, uriCancel("OC1"), nil, 400, "INVALID_REQUEST")

	// CloseAfter moves the close; a query notices it at once too.
	h2 := newV3(t, wxpaytest.Options{V3: wxpaytest.V3Options{CloseAfter: 26 * time.Hour}})
	h2.create("OC2", 100)
	h2.clock.Add(25 * time.Hour)
	wantState(t, h2.query("OC2"), wxpaytest.BillWaitUserConfirm)
	h2.clock.Add(time.Hour)
	if q := h2.query("OC2"); q.str("fail_reason") != wxpaytest.FailOverdueClose {
		t.Errorf("after CloseAfter: %s", q.body)
	}
}

// TestV3Faults: injected errors answer unprocessed; a dropped reply after
// processing leaves the bill created, found by a query or an identical
// resubmission.
func TestV3Faults(t *testing.T) {
	h := newV3(t, wxpaytest.Options{})
	body := jsonBody(t, billFields(h.srv.AppID, "F1", 100))
	creates := func(r wxpaytest.V3Request) bool {
		return r.Method == http.MethodPost && r.URI == wxpaytest.PathTransferBills
	}

	h.srv.InjectV3(wxpaytest.V3Fault{Code: "FREQUENCY_LIMITED", Match: creates})
	h.srv.InjectV3(wxpaytest.V3Fault{Code: "SYSTEM_ERROR", Match: creates})
	h.srv.InjectV3(wxpaytest.V3Fault{Code: "SYSTEM_ERROR", Status: 503, Message: "busy", Match: creates})
	h.srv.InjectV3(wxpaytest.V3Fault{Status: 502, HTML: true, Match: creates})
	h.c.fail(http.MethodPost, wxpaytest.PathTransferBills, body, 429, "FREQUENCY_LIMITED")
	h.c.fail(http.MethodPost, wxpaytest.PathTransferBills, body, 500, "SYSTEM_ERROR")
	if r := h.c.fail(http.MethodPost, wxpaytest.PathTransferBills, body, 503, "SYSTEM_ERROR"); r.str("message") != "busy" {
		t.Errorf("message %q", r.str("message"))
	}
	if r := h.c.do(http.MethodPost, wxpaytest.PathTransferBills, body); r.status != 502 || !strings.Contains(string(r.body), "<html>") {
		t.Errorf("502: %d %s", r.status, r.body)
	}
	if h.srv.BillsCreated() != 0 || h.srv.Creates("F1") != 0 {
		t.Fatal("an injected error processed the call")
	}

	// Dropped before processing: nothing happened.
	h.srv.InjectV3(wxpaytest.V3Fault{DropBefore: true})
	if _, err := h.c.send(context.Background(), http.MethodPost, wxpaytest.PathTransferBills, body, ""); err == nil {
		t.Fatal("DropBefore answered")
	}
	h.c.fail(http.MethodGet, uriOut("F1"), nil, 404, "NOT_FOUND")

	// A lost reply after the bill was created.
	h.srv.InjectV3(wxpaytest.V3Fault{DropAfter: true, Match: creates})
	if _, err := h.c.send(context.Background(), http.MethodPost, wxpaytest.PathTransferBills, body, ""); err == nil {
		t.Fatal("DropAfter answered")
	}
	recs := h.srv.V3Requests()
	if last := recs[len(recs)-1]; last.Status != 200 || last.Code != "" {
		t.Errorf("the dropped call's record: %+v", last)
	}
	wantState(t, h.query("F1"), wxpaytest.BillWaitUserConfirm)
	again := h.c.ok(http.MethodPost, wxpaytest.PathTransferBills, body)
	if again.str("package_info") == "" || h.srv.BillsCreated() != 1 {
		t.Errorf("resubmission after a lost reply: %s, %d bills", again.body, h.srv.BillsCreated())
	}

	// A delay the client does not wait for: dropped unprocessed.
	h.srv.InjectV3(wxpaytest.V3Fault{Delay: 2 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := h.c.send(ctx, http.MethodPost, wxpaytest.PathTransferBills, jsonBody(t, billFields(h.srv.AppID, "F2", 100)), ""); err == nil {
		t.Fatal("the delayed call answered")
	}
	h.c.fail(http.MethodGet, uriOut("F2"), nil, 404, "NOT_FOUND")

	// Times and Match.
	h.srv.InjectV3(wxpaytest.V3Fault{Code: "SYSTEM_ERROR", Times: 2, Match: func(r wxpaytest.V3Request) bool { return r.Method == http.MethodGet }})
	h.c.fail(http.MethodGet, uriOut("F1"), nil, 500, "SYSTEM_ERROR")
	h.create("F3", 100)
	h.c.fail(http.MethodGet, uriOut("F1"), nil, 500, "SYSTEM_ERROR")
	h.query("F1")
	h.srv.InjectV3(wxpaytest.V3Fault{Code: "NO_AUTH"})
	h.srv.Reset()
	h.query("F1")
	if n := len(h.srv.V3Requests()); n != 1 || h.srv.Creates("F1") != 0 || h.srv.BillsCreated() != 2 {
		t.Errorf("after Reset: %d requests, Creates %d, BillsCreated %d", n, h.srv.Creates("F1"), h.srv.BillsCreated())
	}
}

// TestV3Accepted: a creation answered ACCEPTED carries no package_info;
// the bill is reported ACCEPTED once, then waits for the user.
func TestV3Accepted(t *testing.T) {
	h := newV3(t, wxpaytest.Options{})
	h.srv.InjectV3(wxpaytest.V3Fault{Accepted: true})
	r := h.create("AC1", 100)
	wantState(t, r, wxpaytest.BillAccepted)
	if r.str("package_info") != "" {
		t.Errorf("package_info while ACCEPTED: %s", r.body)
	}
	b, _ := h.srv.Bill("AC1")
	if _, err := h.srv.ConfirmTransfer(wxpaytest.TransferPage{MchID: h.srv.MchID, AppID: h.srv.AppID, Package: b.PackageInfo}); !errors.Is(err, wxpaytest.ErrNotConfirmable) {
		t.Errorf("confirming an ACCEPTED bill: %v", err)
	}
	wantState(t, h.query("AC1"), wxpaytest.BillAccepted)
	wantState(t, h.query("AC1"), wxpaytest.BillWaitUserConfirm)

	h.srv.InjectV3(wxpaytest.V3Fault{Accepted: true})
	wantState(t, h.create("AC2", 100), wxpaytest.BillAccepted)
	again := h.create("AC2", 100)
	wantState(t, again, wxpaytest.BillWaitUserConfirm)
	if again.str("package_info") == "" {
		t.Error("no package_info on the resubmission")
	}
	if _, err := h.srv.ConfirmTransfer(h.page(again)); err != nil {
		t.Error(err)
	}
}

// TestV3RequestsPerSecond: calls beyond the rate are 429 unprocessed.
func TestV3RequestsPerSecond(t *testing.T) {
	h := newV3(t, wxpaytest.Options{V3: wxpaytest.V3Options{RequestsPerSecond: 3}})
	statuses := map[int]int{}
	start := time.Now()
	for i := range 6 {
		r := h.c.do(http.MethodPost, wxpaytest.PathTransferBills, jsonBody(t, billFields(h.srv.AppID, "RL"+string(rune('A'+i)), 100)))
		statuses[r.status]++
		if r.status == 429 && r.code() != "FREQUENCY_LIMITED" {
			t.Errorf("429 with %s", r.body)
		}
	}
	elapsed := time.Since(start)
	if statuses[200]+statuses[429] != 6 || h.srv.BillsCreated() != statuses[200] || h.srv.FrequencyLimited() != int64(statuses[429]) {
		t.Errorf("statuses %v, bills %d, limited %d", statuses, h.srv.BillsCreated(), h.srv.FrequencyLimited())
	}
	// Within one second only three go through; on a machine so slow that
	// the six calls took longer, more may.
	if elapsed < time.Second && statuses[200] != 3 {
		t.Errorf("%d calls went through within %v, want 3", statuses[200], elapsed)
	}
	if statuses[200] < 3 {
		t.Errorf("only %d calls went through", statuses[200])
	}
}

// TestV3DropAfterRefusal: a refusal whose reply is lost is recorded with
// the status and code it would have had; an oversized body is refused.
func TestV3DropAfterRefusal(t *testing.T) {
	h := newV3(t, wxpaytest.Options{Balance: 50})
	h.srv.InjectV3(wxpaytest.V3Fault{DropAfter: true})
	if _, err := h.c.send(context.Background(), http.MethodPost, wxpaytest.PathTransferBills, jsonBody(t, billFields(h.srv.AppID, "DR1", 100)), ""); err == nil {
		t.Fatal("DropAfter answered")
	}
	recs := h.srv.V3Requests()
	if last := recs[len(recs)-1]; last.Status != 403 || last.Code != "NOT_ENOUGH" {
		t.Errorf("record %+v", last)
	}
	big := append([]byte(`{"appid":"`), strings.Repeat("x", 1<<20)...)
	h.c.fail(http.MethodPost, wxpaytest.PathTransferBills, append(big, `"}`...), 400, "PARAM_ERROR")
}
