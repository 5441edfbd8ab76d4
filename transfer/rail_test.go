package transfer_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hongbao-go/hongbao"
	"github.com/hongbao-go/hongbao/apiv3"
	"github.com/hongbao-go/hongbao/rail"
	"github.com/hongbao-go/hongbao/transfer"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

// offsetClock is the real clock moved forward by Advance, shared by the
// host, the transport and the client.
type offsetClock struct{ offset atomic.Int64 }

func (c *offsetClock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *offsetClock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// railEnv is a transfer rail of a host over TLS, on one clock.
type railEnv struct {
	srv   *wxpaytest.Server
	c     *transfer.Client
	r     *transfer.Rail
	clock *offsetClock
}

func newRailEnv(t *testing.T, opts wxpaytest.Options, cfg transfer.RailConfig) *railEnv {
	t.Helper()
	e := &railEnv{clock: &offsetClock{}}
	opts.Now = e.clock.Now
	e.srv = wxpaytest.Start(t, opts)
	e.c = newClient(t, e.srv, func(c *transfer.Config) {
		tc := v3Config(e.srv)
		tc.Now = e.clock.Now
		c.Transport, c.Now = newTransport(t, tc), e.clock.Now
	})
	var err error
	if e.r, err = e.c.Rail(cfg); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *railEnv) billno(t *testing.T, openID string, attempt int) string {
	t.Helper()
	n, err := e.r.Billno("autumn-2026", openID, attempt)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func railPayout() rail.Payout {
	return rail.Payout{Amount: 88, SendName: "天虹百货", Wishing: "中秋快乐", ActName: "中秋猜灯谜", Remark: "答对灯谜奖励", Scene: "PRODUCT_1"}
}

// pageAnswer is the page's answer, decoded strictly.
type pageAnswer struct {
	Rail    string `json:"rail"`
	MchID   string `json:"mchId"`
	AppID   string `json:"appId"`
	Package string `json:"package"`
}

func decodeAnswer(t *testing.T, out []byte) pageAnswer {
	t.Helper()
	var a pageAnswer
	dec := json.NewDecoder(strings.NewReader(string(out)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil || dec.More() {
		t.Fatalf("answer %s: %v", out, err)
	}
	return a
}

// A payout becomes a bill with each field where the rail's documentation
// says; the page's answer opens it at the host; a query says where it
// stands at each step.
func TestRailSendsAndAnswers(t *testing.T) {
	e := newRailEnv(t, wxpaytest.Options{}, transfer.RailConfig{NotifyURL: "https://hongbao.example/notify"})
	const openID = "oRailUser0000000000000000001"
	if e.r.Name() != "transfer:"+e.srv.MchID {
		t.Errorf("Name %q", e.r.Name())
	}
	var _ rail.Notifier = e.r
	var _ rail.Canceller = e.r
	if !rail.PaidOnConfirmation(e.r) {
		t.Error("the transfer rail must pay on confirmation")
	}
	billno := e.billno(t, openID, 0)
	if want, _ := e.c.OutBillNo("autumn-2026", openID, 0); billno != want || billno == e.billno(t, openID, 1) {
		t.Fatalf("Billno %q, OutBillNo %q", billno, want)
	}
	if b, err := e.r.Query(ctx, billno); err != nil || b.State != rail.NotFound {
		t.Fatalf("before the send: %+v %v", b, err)
	}
	sent, err := e.r.Send(ctx, billno, openID, railPayout())
	if err != nil {
		t.Fatal(err)
	}
	bill, ok := e.srv.Bill(billno)
	if !ok {
		t.Fatal("no bill at the host")
	}
	wantInfos := []wxpaytest.ReportInfo{{InfoType: "活动名称", InfoContent: "中秋猜灯谜"}, {InfoType: "奖励说明", InfoContent: "答对灯谜奖励"}}
	if bill.Amount != 88 || bill.Remark != "中秋快乐" || bill.SceneID != "1000" || !slices.Equal(bill.ReportInfos, wantInfos) ||
		bill.Perception != "活动奖励" || bill.RecvStyle != "RED_PACKET" || bill.NotifyURL != "https://hongbao.example/notify" ||
		bill.OpenID != openID || bill.AppID != e.srv.AppID {
		t.Errorf("bill %+v", bill)
	}
	if sent.Answer != bill.PackageInfo || sent.Order != bill.TransferBillNo || !sent.At.Equal(bill.CreatedAt.Truncate(time.Second)) {
		t.Errorf("sent %+v, bill %+v", sent, bill)
	}
	q, err := e.r.Query(ctx, billno)
	if err != nil || q.State != rail.Waiting || q.Status != "WAIT_USER_CONFIRM" || q.Payout != (rail.Payout{Amount: 88, Wishing: "中秋快乐"}) || q.At.IsZero() {
		t.Fatalf("waiting: %+v %v", q, err)
	}
	// The same send again is the same bill, the same package.
	again, err := e.r.Send(ctx, billno, openID, railPayout())
	if err != nil || again != sent || e.srv.BillsCreated() != 1 {
		t.Fatalf("again: %+v %v, %d bills", again, err, e.srv.BillsCreated())
	}

	out, err := e.r.AppendAnswer([]byte("x:"), sent.Answer)
	if err != nil || !strings.HasPrefix(string(out), "x:") {
		t.Fatalf("%s %v", out, err)
	}
	a := decodeAnswer(t, out[2:])
	if a != (pageAnswer{Rail: "transfer", MchID: e.srv.MchID, AppID: e.srv.AppID, Package: bill.PackageInfo}) {
		t.Fatalf("answer %+v", a)
	}
	if _, err := e.srv.ConfirmTransfer(wxpaytest.TransferPage{MchID: a.MchID, AppID: a.AppID, Package: a.Package, OpenID: openID}); err != nil {
		t.Fatalf("the host refused the answer: %v", err)
	}
	if q, err := e.r.Query(ctx, billno); err != nil || q.State != rail.Paid || q.Status != "SUCCESS" {
		t.Fatalf("confirmed: %+v %v", q, err)
	}
	// Sending a paid number pays nothing and says so.
	_, err = e.r.Send(ctx, billno, openID, railPayout())
	if rail.StateOf(err) != rail.Paid || e.srv.BillsCreated() != 1 {
		t.Fatalf("a paid number sent again: %v", err)
	}
	if _, err := e.r.AppendAnswer(nil, ""); err == nil {
		t.Error("an answer without package_info")
	}
}

// Check names the field a payout breaks; the rail's own settings are
// checked when it is made.
func TestRailCheck(t *testing.T) {
	e := newRailEnv(t, wxpaytest.Options{}, transfer.RailConfig{})
	if err := e.r.Check(railPayout()); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("字", 33)
	for field, edit := range map[string]func(*rail.Payout){
		"transfer_amount": func(p *rail.Payout) { p.Amount = 9 },
		"transfer_remark": func(p *rail.Payout) { p.Wishing = long },
		"活动名称":            func(p *rail.Payout) { p.ActName = "" },
		"奖励说明":            func(p *rail.Payout) { p.Remark = long },
	} {
		p := railPayout()
		edit(&p)
		err := e.r.Check(p)
		var ve *transfer.ValidationError
		if rail.StateOf(err) != rail.Invalid || !errors.As(err, &ve) || !strings.Contains(ve.Field, field) {
			t.Errorf("%s: %v", field, err)
		}
		if _, err := e.r.Send(ctx, e.billno(t, "oCheck", 0), "oCheck", p); rail.StateOf(err) != rail.Invalid {
			t.Errorf("%s: Send: %v", field, err)
		}
	}
	// SendName and Scene are not sent: anything goes.
	p := railPayout()
	p.SendName, p.Scene = strings.Repeat("名", 40), "nonsense"
	if err := e.r.Check(p); err != nil {
		t.Errorf("SendName and Scene checked: %v", err)
	}
	if len(e.srv.V3Requests()) != 0 {
		t.Error("an invalid payout reached the host")
	}
	for _, cfg := range []transfer.RailConfig{{Perception: "奖金"}, {NotifyURL: "http://hongbao.example/notify"}, {NotifyURL: "https://h.example/n?x=1"}} {
		if _, err := e.c.Rail(cfg); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
	if _, err := e.r.Billno("autumn-2026", "o bad", 0); err == nil {
		t.Error("a malformed openid got a number")
	}
	if _, err := e.r.Billno("", "oUser", 0); err == nil {
		t.Error("an empty grant key got a number")
	}
}

// Each answer of the platform to a create, and each state of a bill, maps
// to the state the claim handler acts on; the number never changes.
func TestRailSendStates(t *testing.T) {
	creates := func(r wxpaytest.V3Request) bool {
		return r.Method == http.MethodPost && r.URI == transfer.PathTransferBills
	}
	cases := []struct {
		name  string
		opts  wxpaytest.Options
		setup func(t *testing.T, e *railEnv, billno string)
		state rail.State
		code  string
		// then, when set, checks what follows.
		then func(t *testing.T, e *railEnv, billno string)
	}{
		{name: "not enough, then a top-up pays the same number", opts: wxpaytest.Options{Balance: 50},
			state: rail.RefusedMerchant, code: "NOT_ENOUGH",
			then: func(t *testing.T, e *railEnv, billno string) {
				e.srv.TopUp(100)
				if _, err := e.r.Send(ctx, billno, "oStates", railPayout()); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "no auth", setup: func(t *testing.T, e *railEnv, _ string) {
			e.srv.InjectV3(wxpaytest.V3Fault{Match: creates, Code: "NO_AUTH"})
		}, state: rail.RefusedMerchant, code: "NO_AUTH"},
		{name: "frequency limited", setup: func(t *testing.T, e *railEnv, _ string) {
			e.srv.InjectV3(wxpaytest.V3Fault{Match: creates, Code: "FREQUENCY_LIMITED", Times: 10})
		}, state: rail.Throttled, code: "FREQUENCY_LIMITED"},
		{name: "system error, then the same number", setup: func(t *testing.T, e *railEnv, _ string) {
			e.srv.InjectV3(wxpaytest.V3Fault{Match: creates, Code: "SYSTEM_ERROR", Times: fastRetry.Attempts})
		}, state: rail.Unknown, code: "SYSTEM_ERROR",
			then: func(t *testing.T, e *railEnv, billno string) {
				if _, err := e.r.Send(ctx, billno, "oStates", railPayout()); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "replies lost after the bill was created", setup: func(t *testing.T, e *railEnv, _ string) {
			e.srv.InjectV3(wxpaytest.V3Fault{Match: creates, DropAfter: true, Times: fastRetry.Attempts})
		}, state: rail.Unknown,
			then: func(t *testing.T, e *railEnv, billno string) {
				b, _ := e.srv.Bill(billno)
				sent, err := e.r.Send(ctx, billno, "oStates", railPayout())
				if err != nil || sent.Answer != b.PackageInfo || b.PackageInfo == "" {
					t.Fatalf("%+v %v, bill %+v", sent, err, b)
				}
			}},
		{name: "a forged answer", setup: func(t *testing.T, e *railEnv, _ string) {
			e.srv.InjectV3(wxpaytest.V3Fault{Match: creates, Signature: wxpaytest.SignForged, Times: 10})
		}, state: rail.Unknown},
		{name: "the number reused with other terms", setup: func(t *testing.T, e *railEnv, billno string) {
			p := railPayout()
			p.Amount = 99
			if _, err := e.r.Send(ctx, billno, "oStates", p); err != nil {
				t.Fatal(err)
			}
		}, state: rail.Conflict, code: "INVALID_REQUEST"},
		{name: "terms the platform refuses", opts: wxpaytest.Options{V3: wxpaytest.V3Options{MaxAmount: 50}},
			state: rail.Rejected, code: "INVALID_REQUEST"},
		{name: "param error", setup: func(t *testing.T, e *railEnv, _ string) {
			e.srv.InjectV3(wxpaytest.V3Fault{Match: creates, Code: "PARAM_ERROR"})
		}, state: rail.Rejected, code: "PARAM_ERROR"},
		{name: "an unknown code", setup: func(t *testing.T, e *railEnv, _ string) {
			e.srv.InjectV3(wxpaytest.V3Fault{Match: creates, Code: "SOMETHING_NEW", Status: 403})
		}, state: rail.Unrecognized, code: "SOMETHING_NEW"},
		{name: "closed unconfirmed", setup: func(t *testing.T, e *railEnv, billno string) {
			e.send(t, billno)
			e.clock.Advance(25 * time.Hour)
		}, state: rail.Returned, code: "FAIL OVERDUE_CLOSE"},
		{name: "failed", setup: func(t *testing.T, e *railEnv, billno string) {
			e.send(t, billno)
			if _, err := e.srv.FailTransfer(billno, "RISK_CONTROL"); err != nil {
				t.Fatal(err)
			}
		}, state: rail.Closed, code: "FAIL RISK_CONTROL"},
		{name: "cancelled", setup: func(t *testing.T, e *railEnv, billno string) {
			e.send(t, billno)
			if _, err := e.c.Cancel(ctx, billno); err != nil {
				t.Fatal(err)
			}
		}, state: rail.Cancelled, code: "CANCELLED"},
		{name: "confirmed, transferring", opts: wxpaytest.Options{V3: wxpaytest.V3Options{ManualSettle: true}},
			setup: func(t *testing.T, e *railEnv, billno string) {
				e.confirm(t, billno, e.send(t, billno))
			}, state: rail.Unknown, code: "TRANSFERING",
			then: func(t *testing.T, e *railEnv, billno string) {
				if q, err := e.r.Query(ctx, billno); err != nil || q.State != rail.Pending {
					t.Fatalf("%+v %v", q, err)
				}
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newRailEnv(t, c.opts, transfer.RailConfig{})
			billno := e.billno(t, "oStates", 0)
			if c.setup != nil {
				c.setup(t, e, billno)
			}
			_, err := e.r.Send(ctx, billno, "oStates", railPayout())
			var re *rail.Error
			if !errors.As(err, &re) || re.State != c.state || re.Code != c.code || re.Billno != billno {
				t.Fatalf("%v: %+v, want state %q code %q", err, re, c.state, c.code)
			}
			var te *transfer.Error
			if c.state != rail.Returned && c.state != rail.Closed && c.state != rail.Cancelled && c.code != "TRANSFERING" && !errors.As(err, &te) {
				t.Errorf("the client's error is not reachable: %v", err)
			}
			for _, r := range e.srv.V3Requests() {
				if r.Method == http.MethodPost && r.URI == transfer.PathTransferBills && !strings.Contains(string(r.Body), billno) {
					t.Errorf("a create of another number: %s", r.Body)
				}
			}
			if c.then != nil {
				c.then(t, e, billno)
			}
			if n := len(e.srv.BillsOf("oStates")); n > 1 {
				t.Errorf("%d bills", n)
			}
		})
	}
}

func (e *railEnv) send(t *testing.T, billno string) rail.Sent {
	t.Helper()
	s, err := e.r.Send(ctx, billno, "oStates", railPayout())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (e *railEnv) confirm(t *testing.T, billno string, s rail.Sent) {
	t.Helper()
	out, err := e.r.AppendAnswer(nil, s.Answer)
	if err != nil {
		t.Fatal(err)
	}
	a := decodeAnswer(t, out)
	if _, err := e.srv.ConfirmTransfer(wxpaytest.TransferPage{MchID: a.MchID, AppID: a.AppID, Package: a.Package}); err != nil {
		t.Fatal(err)
	}
}

// Query maps each state of a bill; a forged answer is no answer.
func TestRailQueryStates(t *testing.T) {
	e := newRailEnv(t, wxpaytest.Options{V3: wxpaytest.V3Options{ManualSettle: true}}, transfer.RailConfig{})
	n := func(user string) string { return e.billno(t, user, 0) }
	send := func(user string) rail.Sent {
		s, err := e.r.Send(ctx, n(user), user, railPayout())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	send("oWaiting")
	s := send("oTransfering")
	e.confirm(t, n("oTransfering"), s)
	s = send("oSuccess")
	e.confirm(t, n("oSuccess"), s)
	if _, err := e.srv.Settle(n("oSuccess")); err != nil {
		t.Fatal(err)
	}
	send("oFail")
	if _, err := e.srv.FailTransfer(n("oFail"), "BLOCK"); err != nil {
		t.Fatal(err)
	}
	send("oCanceling")
	if b, err := e.r.Cancel(ctx, n("oCanceling")); err != nil || b.State != rail.Pending || b.Status != "CANCELING" {
		t.Fatalf("cancel: %+v %v", b, err)
	}
	send("oCancelled")
	if _, err := e.r.Cancel(ctx, n("oCancelled")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.srv.Settle(n("oCancelled")); err != nil {
		t.Fatal(err)
	}
	for user, want := range map[string]rail.Bill{
		"oWaiting":     {State: rail.Waiting, Status: "WAIT_USER_CONFIRM"},
		"oTransfering": {State: rail.Pending, Status: "TRANSFERING"},
		"oSuccess":     {State: rail.Paid, Status: "SUCCESS"},
		"oFail":        {State: rail.Closed, Status: "FAIL", Reason: "BLOCK"},
		"oCanceling":   {State: rail.Pending, Status: "CANCELING"},
		"oCancelled":   {State: rail.Cancelled, Status: "CANCELLED"},
		"oNobody":      {State: rail.NotFound, Status: "NOT_FOUND"},
	} {
		got, err := e.r.Query(ctx, n(user))
		if err != nil || got.State != want.State || got.Status != want.Status || got.Reason != want.Reason {
			t.Errorf("%s: %+v %v, want %+v", user, got, err, want)
		}
	}
	// The user confirmed first: the cancel is refused, the bill's state
	// is the answer.
	if b, err := e.r.Cancel(ctx, n("oTransfering")); err != nil || b.State != rail.Pending || b.Status != "TRANSFERING" {
		t.Errorf("cancel of a confirmed bill: %+v %v", b, err)
	}
	e.srv.InjectV3(wxpaytest.V3Fault{Signature: wxpaytest.SignForged, Times: 10})
	if b, err := e.r.Query(ctx, n("oWaiting")); rail.StateOf(err) != rail.Unknown || b.State != rail.Unknown {
		t.Errorf("a forged answer: %+v %v", b, err)
	}
}

// A verified MCHTRANSFER.BILL.FINISHED is a Notice of the bill's final
// state; an unverified one is an error and reaches no function.
func TestRailNotifications(t *testing.T) {
	e := newRailEnv(t, wxpaytest.Options{}, transfer.RailConfig{})
	billno := e.billno(t, "oStates", 0)
	s := e.send(t, billno)
	e.confirm(t, billno, s)
	n, err := e.srv.CraftNotification(wxpaytest.NotificationSpec{OutBillNo: billno, ID: "n-1"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.r.ParseNotification(ctx, n.Header, n.Body)
	if err != nil || got.ID != "n-1" || got.Billno != billno || got.OpenID != "oStates" ||
		got.Bill.State != rail.Paid || got.Bill.Status != "SUCCESS" || got.Bill.Payout.Amount != 88 || got.Bill.At.IsZero() {
		t.Fatalf("%+v %v", got, err)
	}
	overdue := []byte(`{"out_bill_no":"` + billno + `","transfer_bill_no":"1","state":"FAIL","mch_id":"` + e.srv.MchID +
		`","transfer_amount":88,"openid":"oStates","fail_reason":"OVERDUE_CLOSE","create_time":"2026-01-01T10:00:00+08:00","update_time":"2026-01-02T10:00:00+08:00"}`)
	n, err = e.srv.CraftNotification(wxpaytest.NotificationSpec{Resource: overdue})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := e.r.ParseNotification(ctx, n.Header, n.Body); err != nil || got.Bill.State != rail.Returned || got.Bill.Reason != "OVERDUE_CLOSE" {
		t.Fatalf("overdue: %+v %v", got, err)
	}
	for _, sig := range []wxpaytest.Signature{wxpaytest.SignProbe, wxpaytest.SignForged, wxpaytest.SignStale, wxpaytest.SignTampered, wxpaytest.SignUnsigned} {
		n, err := e.srv.CraftNotification(wxpaytest.NotificationSpec{OutBillNo: billno, SignSpec: wxpaytest.SignSpec{Signature: sig}})
		if err != nil {
			t.Fatal(err)
		}
		if got, err := e.r.ParseNotification(ctx, n.Header, n.Body); !errors.Is(err, apiv3.ErrUnverified) || got.Billno != "" {
			t.Errorf("signature %v: %+v %v", sig, got, err)
		}
	}
	var calls atomic.Int64
	h, err := e.r.NotificationHandler(func(_ context.Context, n rail.Notice) error {
		calls.Add(1)
		if n.Billno != billno || n.Bill.State != rail.Paid {
			t.Errorf("notice %+v", n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for sig, status := range map[wxpaytest.Signature]int{wxpaytest.SignGenuine: http.StatusNoContent, wxpaytest.SignForged: http.StatusUnauthorized} {
		n, err := e.srv.CraftNotification(wxpaytest.NotificationSpec{OutBillNo: billno, SignSpec: wxpaytest.SignSpec{Signature: sig}})
		if err != nil {
			t.Fatal(err)
		}
		req, err := n.NewRequest(ctx, "https://hongbao.example/notify")
		if err != nil {
			t.Fatal(err)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != status {
			t.Errorf("signature %v: status %d, want %d", sig, w.Code, status)
		}
	}
	if calls.Load() != 1 {
		t.Errorf("the function was called %d times, want 1", calls.Load())
	}
	if _, err := e.r.NotificationHandler(nil); err == nil {
		t.Error("a handler without a function")
	}
}

// The rail's errors reach the sentinels of both rails.
func TestRailErrorSentinels(t *testing.T) {
	e := newRailEnv(t, wxpaytest.Options{Balance: 10}, transfer.RailConfig{})
	_, err := e.r.Send(ctx, e.billno(t, "oSentinel", 0), "oSentinel", railPayout())
	if !errors.Is(err, hongbao.ErrNotEnough) || !errors.Is(err, apiv3.ErrNotEnough) || rail.StateOf(err) != rail.RefusedMerchant {
		t.Fatalf("%v", err)
	}
}
