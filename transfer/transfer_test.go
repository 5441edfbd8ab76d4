package transfer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/hongbao-go/hongbao"
	"github.com/hongbao-go/hongbao/apiv3"
	"github.com/hongbao-go/hongbao/transfer"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

var ctx = context.Background()

// TestCreateConfirmQuery: a bill from creation to SUCCESS, in each trust
// mode.
func TestCreateConfirmQuery(t *testing.T) {
	for _, trust := range []wxpaytest.Trust{wxpaytest.TrustPublicKey, wxpaytest.TrustCertificates, wxpaytest.TrustBoth} {
		t.Run(trust.String(), func(t *testing.T) {
			srv := wxpaytest.Start(t, wxpaytest.Options{V3: wxpaytest.V3Options{Trust: trust}})
			c := newClient(t, srv, nil)
			r := request(t, c, "spring-2026", "oUser0000000000000000000001")
			b, err := c.Create(ctx, r)
			if err != nil {
				t.Fatal(err)
			}
			if b.State != transfer.StateWaitUserConfirm || b.PackageInfo == "" || b.OutBillNo != r.OutBillNo || b.TransferBillNo == "" ||
				b.CreateTime.IsZero() || b.Amount != 188 || b.OpenID != r.OpenID || b.AppID != srv.AppID || b.MchID != srv.MchID {
				t.Fatalf("created %+v", b)
			}
			// The body as the platform documents it.
			var sent map[string]any
			if err := json.Unmarshal(creates(srv)[0].Body, &sent); err != nil {
				t.Fatal(err)
			}
			want := fmt.Sprintf(`{"appid":%q,"openid":"oUser0000000000000000000001","out_bill_no":%q,"transfer_amount":188,"transfer_remark":"新春红包","transfer_scene_id":"1000","transfer_scene_report_infos":[{"info_content":"猜灯谜抢红包活动","info_type":"活动名称"},{"info_content":"答对灯谜奖励","info_type":"奖励说明"}],"user_recv_perception":"现金奖励","user_recv_style":{"type":"RED_PACKET"}}`, srv.AppID, r.OutBillNo)
			if got, _ := json.Marshal(sent); string(got) != want {
				t.Errorf("body\n got %s\nwant %s", got, want)
			}

			page, err := c.PageParams(b)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := srv.ConfirmTransfer(wxpaytest.TransferPage{MchID: page.MchID, AppID: page.AppID, Package: page.Package, OpenID: page.OpenID}); err != nil {
				t.Fatal(err)
			}
			q, err := c.QueryByOutBillNo(ctx, r.OutBillNo)
			if err != nil {
				t.Fatal(err)
			}
			if q.State != transfer.StateSuccess || !q.State.Final() || q.State.Closed() || q.Amount != 188 || q.OpenID != r.OpenID ||
				q.TransferBillNo != b.TransferBillNo || q.UpdateTime.IsZero() || q.CreateTime.IsZero() || q.Remark != "新春红包" {
				t.Errorf("queried %+v", q)
			}
			q2, err := c.QueryByTransferBillNo(ctx, b.TransferBillNo)
			if err != nil || q2.OutBillNo != r.OutBillNo || q2.State != transfer.StateSuccess {
				t.Errorf("by transfer_bill_no: %+v, %v", q2, err)
			}
			// Creating again is idempotent: the same bill, nothing paid twice.
			again, err := c.Create(ctx, r)
			if err != nil || again.TransferBillNo != b.TransferBillNo || again.State != transfer.StateSuccess {
				t.Errorf("again: %+v, %v", again, err)
			}
			if n := srv.BillsCreated(); n != 1 {
				t.Errorf("%d bills", n)
			}
		})
	}
}

func TestCreateValidation(t *testing.T) {
	srv := wxpaytest.Start(t, wxpaytest.Options{})
	c := newClient(t, srv, nil)
	cases := map[string]func(r *transfer.CreateRequest){
		"no out_bill_no":      func(r *transfer.CreateRequest) { r.OutBillNo = "" },
		"out_bill_no 33":      func(r *transfer.CreateRequest) { r.OutBillNo = "123456789012345678901234567890123" },
		"out_bill_no dash":    func(r *transfer.CreateRequest) { r.OutBillNo = "abc-123" },
		"no openid":           func(r *transfer.CreateRequest) { r.OpenID = "" },
		"openid with a space": func(r *transfer.CreateRequest) { r.OpenID = "o user" },
		"9 fen":               func(r *transfer.CreateRequest) { r.Amount = 9 },
		"negative":            func(r *transfer.CreateRequest) { r.Amount = -100 },
		"2000 yuan":           func(r *transfer.CreateRequest) { r.Amount = 200000 },
		"no remark":           func(r *transfer.CreateRequest) { r.Remark = "" },
		"remark 33 characters": func(r *transfer.CreateRequest) {
			r.Remark = "一二三四五六七八九十一二三四五六七八九十一二三四五六七八九十一二三"
		},
		"remark control":        func(r *transfer.CreateRequest) { r.Remark = "a\nb" },
		"remark invalid UTF-8":  func(r *transfer.CreateRequest) { r.Remark = "\xff" },
		"no activity name":      func(r *transfer.CreateRequest) { r.ActivityName = "" },
		"blank activity name":   func(r *transfer.CreateRequest) { r.ActivityName = "   " },
		"reward note 33":        func(r *transfer.CreateRequest) { r.RewardNote = "123456789012345678901234567890123" },
		"no reward note":        func(r *transfer.CreateRequest) { r.RewardNote = "" },
		"perception of another": func(r *transfer.CreateRequest) { r.Perception = "佣金报酬" },
		"style":                 func(r *transfer.CreateRequest) { r.Style = "POPUP" },
		"notify http":           func(r *transfer.CreateRequest) { r.NotifyURL = "http://example.com/notify" },
		"notify query":          func(r *transfer.CreateRequest) { r.NotifyURL = "https://example.com/notify?a=b" },
	}
	for name, change := range cases {
		r := request(t, c, "g", "oUser1")
		change(r)
		_, err := c.Create(ctx, r)
		var ve *transfer.ValidationError
		if !errors.As(err, &ve) || !errors.Is(err, hongbao.ErrInvalidRequest) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// The limits themselves pass.
	r := request(t, c, "g", "oUser1")
	r.Amount, r.Remark, r.ActivityName, r.RewardNote = 10, "一二三四五六七八九十一二三四五六七八九十一二三四五六七八九十一二", "12345678901234567890123456789012", "x"
	r.Perception, r.Style = transfer.PerceptionActivity, transfer.StyleConfirmPage
	if err := r.Validate(); err != nil {
		t.Errorf("limits: %v", err)
	}
	if n := len(srv.V3Requests()); n != 0 {
		t.Errorf("%d calls reached the platform", n)
	}
	for _, n := range []string{"", "a-b", "123456789012345678901234567890123"} {
		if _, err := c.QueryByOutBillNo(ctx, n); !errors.Is(err, hongbao.ErrInvalidRequest) {
			t.Errorf("query %q: %v", n, err)
		}
		if _, err := c.Cancel(ctx, n); !errors.Is(err, hongbao.ErrInvalidRequest) {
			t.Errorf("cancel %q: %v", n, err)
		}
	}
	if _, err := c.QueryByTransferBillNo(ctx, "13/30"); !errors.Is(err, hongbao.ErrInvalidRequest) {
		t.Errorf("query by transfer_bill_no: %v", err)
	}
}

// TestCreateRetries: 429 and 500 are sent again with the byte-identical
// body and the same out_bill_no; one bill results.
func TestCreateRetries(t *testing.T) {
	srv := wxpaytest.Start(t, wxpaytest.Options{})
	c := newClient(t, srv, nil)
	before := c.RequestsPerMinute()
	srv.InjectV3(wxpaytest.V3Fault{Code: "FREQUENCY_LIMITED"})
	srv.InjectV3(wxpaytest.V3Fault{Code: "SYSTEM_ERROR"})
	srv.InjectV3(wxpaytest.V3Fault{Status: 502, HTML: true})
	r := request(t, c, "g", "oUser1")
	b, err := c.Create(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	if b.State != transfer.StateWaitUserConfirm || b.PackageInfo == "" {
		t.Errorf("%+v", b)
	}
	if n := sameBodies(t, creates(srv)); n != 4 {
		t.Errorf("%d creates", n)
	}
	if srv.BillsCreated() != 1 {
		t.Errorf("%d bills", srv.BillsCreated())
	}
	if after := c.RequestsPerMinute(); after >= before {
		t.Errorf("the rate stayed %v after a 429 (was %v)", after, before)
	}
}

// TestCreateLostReply: the bill is created but the answer is lost; the
// same body again gets the bill.
func TestCreateLostReply(t *testing.T) {
	srv := wxpaytest.Start(t, wxpaytest.Options{})
	c := newClient(t, srv, nil)
	srv.InjectV3(wxpaytest.V3Fault{DropAfter: true})
	r := request(t, c, "g", "oUser1")
	b, err := c.Create(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	if b.PackageInfo == "" || srv.BillsCreated() != 1 || srv.Creates(r.OutBillNo) != 2 {
		t.Errorf("%+v, %d bills, %d creates", b, srv.BillsCreated(), srv.Creates(r.OutBillNo))
	}
	sameBodies(t, creates(srv))

	// Every reply lost: outcome unknown, and it says so.
	r2 := request(t, c, "g", "oUser2")
	srv.InjectV3(wxpaytest.V3Fault{DropAfter: true, Times: 4})
	_, err = c.Create(ctx, r2)
	var e *transfer.Error
	if !errors.As(err, &e) || !e.Unknown || !errors.Is(err, hongbao.ErrOutcomeUnknown) || !errors.Is(err, apiv3.ErrOutcomeUnknown) || !contains(err.Error(), "outcome unknown") {
		t.Fatalf("%v", err)
	}
	if _, ok := srv.Bill(r2.OutBillNo); !ok {
		t.Error("the bill is not at the platform")
	}
	// The same number later: the bill, not a second one.
	b2, err := c.Create(ctx, r2)
	if err != nil || b2.PackageInfo == "" || srv.BillsCreated() != 2 {
		t.Errorf("%+v, %v, %d bills", b2, err, srv.BillsCreated())
	}
}

// TestCreateTimeout: an attempt that times out is sent again.
func TestCreateTimeout(t *testing.T) {
	srv := wxpaytest.Start(t, wxpaytest.Options{})
	retry := fastRetry
	retry.AttemptTimeout = 200 * time.Millisecond
	c := newClient(t, srv, func(cfg *transfer.Config) { cfg.Retry = retry })
	srv.InjectV3(wxpaytest.V3Fault{Delay: 2 * time.Second})
	r := request(t, c, "g", "oUser1")
	b, err := c.Create(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	if b.PackageInfo == "" || srv.BillsCreated() != 1 {
		t.Errorf("%+v, %d bills", b, srv.BillsCreated())
	}
	sameBodies(t, creates(srv))
}

// TestCreateUnverifiedAnswers: a forged, probe-signed, unsigned, altered,
// stale or unknown-serial answer is never taken; it is outcome unknown,
// and the next genuine answer gives the bill.
func TestCreateUnverifiedAnswers(t *testing.T) {
	for _, sig := range []wxpaytest.Signature{wxpaytest.SignProbe, wxpaytest.SignForged, wxpaytest.SignUnsigned,
		wxpaytest.SignTampered, wxpaytest.SignStale, wxpaytest.SignUnknownSerial} {
		t.Run(sig.String(), func(t *testing.T) {
			srv := wxpaytest.Start(t, wxpaytest.Options{})
			c := newClient(t, srv, nil)
			r := request(t, c, "g", "oUser1")
			srv.InjectV3(wxpaytest.V3Fault{Signature: sig, Times: fastRetry.Attempts})
			b, err := c.Create(ctx, r)
			var e *transfer.Error
			if !errors.As(err, &e) || b != nil {
				t.Fatalf("%+v, %v", b, err)
			}
			if !e.Unknown || !errors.Is(err, apiv3.ErrUnverified) || !errors.Is(err, hongbao.ErrOutcomeUnknown) || e.Status != 200 {
				t.Errorf("%v: unknown %v, status %d", err, e.Unknown, e.Status)
			}
			if len(creates(srv)) != fastRetry.Attempts {
				t.Errorf("%d attempts", len(creates(srv)))
			}
			// Once the platform answers genuinely: the same bill.
			b, err = c.Create(ctx, r)
			if err != nil || b.PackageInfo == "" || srv.BillsCreated() != 1 {
				t.Errorf("%+v, %v, %d bills", b, err, srv.BillsCreated())
			}
			sameBodies(t, creates(srv))
		})
	}
}

// TestNotEnough: not retried, not unknown; after a top-up the same request
// pays.
func TestNotEnough(t *testing.T) {
	srv := wxpaytest.Start(t, wxpaytest.Options{Balance: 100})
	c := newClient(t, srv, nil)
	r := request(t, c, "g", "oUser1")
	_, err := c.Create(ctx, r)
	var e *transfer.Error
	if !errors.As(err, &e) || e.Unknown || e.Retryable || e.Status != 403 || e.Code != "NOT_ENOUGH" ||
		!errors.Is(err, apiv3.ErrNotEnough) || !errors.Is(err, hongbao.ErrNotEnough) || errors.Is(err, hongbao.ErrOutcomeUnknown) {
		t.Fatalf("%v", err)
	}
	if n := len(creates(srv)); n != 1 {
		t.Errorf("NOT_ENOUGH sent %d times", n)
	}
	srv.TopUp(1000)
	b, err := c.Create(ctx, r)
	if err != nil || b.State != transfer.StateWaitUserConfirm {
		t.Fatalf("after the top-up: %+v, %v", b, err)
	}
	sameBodies(t, creates(srv))
}

// TestDefinitiveErrors: error answers other than 429 and 5xx are not sent
// again.
func TestDefinitiveErrors(t *testing.T) {
	srv := wxpaytest.Start(t, wxpaytest.Options{})
	c := newClient(t, srv, nil)
	r := request(t, c, "g", "oUser1")
	if _, err := c.Create(ctx, r); err != nil {
		t.Fatal(err)
	}
	// The same number with another amount.
	other := *r
	other.Amount = 200
	_, err := c.Create(ctx, &other)
	var e *transfer.Error
	if !errors.As(err, &e) || e.Code != "INVALID_REQUEST" || e.Unknown || !errors.Is(err, apiv3.ErrInvalidRequest) {
		t.Fatalf("%v", err)
	}
	for _, code := range []string{"PARAM_ERROR", "NO_AUTH", "SIGN_ERROR"} {
		srv.Reset()
		srv.InjectV3(wxpaytest.V3Fault{Code: code})
		_, err := c.Create(ctx, request(t, c, "g", "oUser-"+code))
		if !errors.As(err, &e) || e.Code != code || e.Unknown || e.Retryable || len(creates(srv)) != 1 {
			t.Errorf("%s: %v after %d creates", code, err, len(creates(srv)))
		}
	}
	// A definitive answer after an unknown attempt leaves the call
	// unknown.
	srv.Reset()
	srv.InjectV3(wxpaytest.V3Fault{Code: "SYSTEM_ERROR"})
	srv.InjectV3(wxpaytest.V3Fault{Code: "PARAM_ERROR"})
	_, err = c.Create(ctx, request(t, c, "g", "oUser3"))
	if !errors.As(err, &e) || e.Code != "PARAM_ERROR" || !e.Unknown || !errors.Is(err, hongbao.ErrOutcomeUnknown) {
		t.Errorf("%v", err)
	}
}

// TestAccepted: an ACCEPTED answer without package_info is followed by the
// same create, which finds the bill waiting for the user.
func TestAccepted(t *testing.T) {
	srv := wxpaytest.Start(t, wxpaytest.Options{})
	c := newClient(t, srv, nil)
	srv.InjectV3(wxpaytest.V3Fault{Accepted: true})
	r := request(t, c, "g", "oUser1")
	b, err := c.Create(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	if b.State != transfer.StateWaitUserConfirm || b.PackageInfo == "" || srv.Creates(r.OutBillNo) != 2 || srv.BillsCreated() != 1 {
		t.Errorf("%+v after %d creates", b, srv.Creates(r.OutBillNo))
	}
	sameBodies(t, creates(srv))
}

// TestSigningRefused: a clock off by more than 5 minutes, or a serial_no
// that is not the merchant certificate's, is 401 SIGN_ERROR: definitive.
func TestSigningRefused(t *testing.T) {
	srv := wxpaytest.Start(t, wxpaytest.Options{})
	skewed := v3Config(srv)
	skewed.Now = func() time.Time { return time.Now().Add(-6 * time.Minute) }
	wrongSerial := v3Config(srv)
	wrongSerial.CertPEM, wrongSerial.CertSerial = nil, "0123456789ABCDEF"
	for name, cfg := range map[string]func() *apiv3.Transport{
		"skewed clock": func() *apiv3.Transport { return newTransport(t, skewed) },
		"wrong serial": func() *apiv3.Transport { return newTransport(t, wrongSerial) },
	} {
		srv.Reset()
		tr := cfg()
		c, err := transfer.New(transfer.Config{AppID: srv.AppID, Transport: tr, BillnoKey: testBillnoKey, Retry: fastRetry, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Create(ctx, request(t, c, "g", "oUser1"))
		var e *transfer.Error
		if !errors.As(err, &e) || e.Status != 401 || e.Code != "SIGN_ERROR" || e.Unknown || !errors.Is(err, apiv3.ErrSignError) || len(creates(srv)) != 1 {
			t.Errorf("%s: %v", name, err)
		}
	}
	if srv.BillsCreated() != 0 {
		t.Errorf("%d bills", srv.BillsCreated())
	}
}

func TestCancel(t *testing.T) {
	srv := wxpaytest.Start(t, wxpaytest.Options{})
	c := newClient(t, srv, nil)
	r := request(t, c, "g", "oUser1")
	b, err := c.Create(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	x, err := c.Cancel(ctx, r.OutBillNo)
	if err != nil {
		t.Fatal(err)
	}
	if x.OutBillNo != r.OutBillNo || x.TransferBillNo != b.TransferBillNo || (x.State != transfer.StateCanceling && x.State != transfer.StateCancelled) || x.UpdateTime.IsZero() {
		t.Errorf("%+v", x)
	}
	q, err := c.QueryByOutBillNo(ctx, r.OutBillNo)
	if err != nil || q.State != transfer.StateCancelled || !q.State.Closed() {
		t.Fatalf("%+v, %v", q, err)
	}
	// Closed: the grant's next attempt has a new number.
	n1, _ := c.OutBillNo("g", "oUser1", 1)
	if n1 == r.OutBillNo {
		t.Error("attempt 1 has attempt 0's number")
	}
	// A cancel of a bill that is gone is the platform's answer, not retried.
	if _, err := c.Cancel(ctx, "NoSuchBill"); !errors.Is(err, apiv3.ErrNotFound) {
		t.Errorf("%v", err)
	}
}

// TestOverdueClose: a bill not confirmed within 24 hours ends FAIL
// OVERDUE_CLOSE.
func TestOverdueClose(t *testing.T) {
	var mu sync.Mutex
	offset := time.Duration(0)
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return time.Now().Add(offset) }
	srv := wxpaytest.Start(t, wxpaytest.Options{Now: now})
	c := newClient(t, srv, func(cfg *transfer.Config) {
		tc := v3Config(srv)
		tc.Now = now
		cfg.Transport = newTransport(t, tc)
	})
	r := request(t, c, "g", "oUser1")
	if _, err := c.Create(ctx, r); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	offset = 25 * time.Hour
	mu.Unlock()
	q, err := c.QueryByOutBillNo(ctx, r.OutBillNo)
	if err != nil || q.State != transfer.StateFail || q.FailReason != transfer.FailOverdueClose || !q.State.Closed() {
		t.Fatalf("%+v, %v", q, err)
	}
}

func TestQueryNotFound(t *testing.T) {
	srv := wxpaytest.Start(t, wxpaytest.Options{})
	c := newClient(t, srv, nil)
	_, err := c.QueryByOutBillNo(ctx, "NoSuchBill")
	var e *transfer.Error
	if !errors.As(err, &e) || e.Status != 404 || e.Unknown || !errors.Is(err, apiv3.ErrNotFound) || !errors.Is(err, hongbao.ErrNotFound) {
		t.Fatalf("%v", err)
	}
	if n := len(srv.V3Requests()); n != 1 {
		t.Errorf("NOT_FOUND asked %d times", n)
	}
	// A query is retried like a create.
	srv.InjectV3(wxpaytest.V3Fault{Code: "SYSTEM_ERROR"})
	srv.InjectV3(wxpaytest.V3Fault{DropBefore: true})
	if _, err := c.QueryByOutBillNo(ctx, "NoSuchBill"); !errors.Is(err, apiv3.ErrNotFound) {
		t.Errorf("%v", err)
	}
}

// recordingLimiter grants every slot and records the budgets asked for.
type recordingLimiter struct {
	mu   sync.Mutex
	keys map[string]int
}

func (l *recordingLimiter) Reserve(_ context.Context, key string, _ float64, _ int, _ time.Duration) (time.Duration, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.keys[key]++
	return 0, true, nil
}

// TestFlowShared: creates and cancels take from "transfer:", queries from
// "transfer-query:", beside the red packets' "send:".
func TestFlowShared(t *testing.T) {
	srv := wxpaytest.Start(t, wxpaytest.Options{})
	shared := &recordingLimiter{keys: map[string]int{}}
	c := newClient(t, srv, func(cfg *transfer.Config) { cfg.Flow.Shared = shared })
	r := request(t, c, "g", "oUser1")
	if _, err := c.Create(ctx, r); err != nil {
		t.Fatal(err)
	}
	if _, err := c.QueryByOutBillNo(ctx, r.OutBillNo); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Cancel(ctx, r.OutBillNo); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"transfer:" + srv.MchID: 2, "transfer-query:" + srv.MchID: 1}
	if fmt.Sprint(shared.keys) != fmt.Sprint(want) {
		t.Errorf("budgets %v, want %v", shared.keys, want)
	}
}

// TestFlowThrottles: beyond the rate, a create is held back without being
// sent, with a RetryAfter.
func TestFlowThrottles(t *testing.T) {
	srv := wxpaytest.Start(t, wxpaytest.Options{})
	c := newClient(t, srv, func(cfg *transfer.Config) {
		cfg.Flow = hongbao.FlowControl{SendsPerMinute: 6, Headroom: -1, MaxWait: -1}
	})
	if _, err := c.Create(ctx, request(t, c, "g", "oUser1")); err != nil {
		t.Fatal(err)
	}
	_, err := c.Create(ctx, request(t, c, "g", "oUser2"))
	var e *transfer.Error
	if !errors.As(err, &e) || !errors.Is(err, hongbao.ErrThrottled) || e.RetryAfter <= 0 || e.Unknown || !e.Retryable {
		t.Fatalf("%v", err)
	}
	if n := len(creates(srv)); n != 1 {
		t.Errorf("%d creates sent", n)
	}
}

func TestPageParams(t *testing.T) {
	srv := wxpaytest.Start(t, wxpaytest.Options{})
	c := newClient(t, srv, nil)
	if _, err := c.PageParams(&transfer.Bill{State: transfer.StateAccepted}); err == nil {
		t.Error("a bill without package_info")
	}
	if _, err := c.PageParams(&transfer.Bill{PackageInfo: "p", AppID: "wxother"}); err == nil {
		t.Error("another app's bill")
	}
	p, err := c.PageParams(&transfer.Bill{PackageInfo: "p", OpenID: "o1"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(p)
	if want := fmt.Sprintf(`{"mchId":%q,"appId":%q,"package":"p","openId":"o1"}`, srv.MchID, srv.AppID); string(b) != want {
		t.Errorf("%s, want %s", b, want)
	}
}

func TestNewErrors(t *testing.T) {
	srv := wxpaytest.Start(t, wxpaytest.Options{})
	tr := newTransport(t, v3Config(srv))
	for name, cfg := range map[string]transfer.Config{
		"no AppID":     {Transport: tr, BillnoKey: testBillnoKey},
		"no Transport": {AppID: srv.AppID, BillnoKey: testBillnoKey},
		"short key":    {AppID: srv.AppID, Transport: tr, BillnoKey: []byte("short")},
		"bad retry":    {AppID: srv.AppID, Transport: tr, BillnoKey: testBillnoKey, Retry: hongbao.RetryPolicy{Attempts: -1}},
		"bad flow":     {AppID: srv.AppID, Transport: tr, BillnoKey: testBillnoKey, Flow: hongbao.FlowControl{Burst: -1}},
	} {
		if _, err := transfer.New(cfg); err == nil || !contains(err.Error(), "transfer: ") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestOutBillNo: the client's numbers are DeriveTransferBillno's.
func TestOutBillNo(t *testing.T) {
	srv := wxpaytest.Start(t, wxpaytest.Options{})
	c := newClient(t, srv, nil)
	for attempt := range 3 {
		got, err := c.OutBillNo("grant", "oUser1", attempt)
		want, _ := hongbao.DeriveTransferBillno(testBillnoKey, srv.MchID, "grant", "oUser1", attempt)
		if err != nil || got != want || len(got) != 32 {
			t.Errorf("attempt %d: %s, %v", attempt, got, err)
		}
	}
}

// TestLogs: one record per attempt, with what an operator needs, and no
// secret.
func TestLogs(t *testing.T) {
	srv := wxpaytest.Start(t, wxpaytest.Options{})
	var buf syncBuffer
	c := newClient(t, srv, func(cfg *transfer.Config) { cfg.Logger = slog.New(slog.NewTextHandler(&buf, nil)) })
	srv.InjectV3(wxpaytest.V3Fault{Code: "SYSTEM_ERROR"})
	r := request(t, c, "g", "oUser1")
	if _, err := c.Create(ctx, r); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"transfer: create attempt", "out_bill_no=" + r.OutBillNo, "attempt=1", "status=500", "code=SYSTEM_ERROR", "outcome_unknown=true", "attempt=2"} {
		if !contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
	vc := srv.V3Config()
	for _, secret := range []string{vc.APIv3Key, "PRIVATE KEY", "signature="} {
		if contains(out, secret) {
			t.Errorf("%q logged", secret)
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
