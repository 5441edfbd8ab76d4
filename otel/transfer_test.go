package otelhongbao_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/trace"

	"github.com/hongbao-go/hongbao"
	"github.com/hongbao-go/hongbao/apiv3"
	"github.com/hongbao-go/hongbao/middleware/claim"
	"github.com/hongbao-go/hongbao/middleware/jwtauth"
	otelhongbao "github.com/hongbao-go/hongbao/otel"
	"github.com/hongbao-go/hongbao/rail"
	"github.com/hongbao-go/hongbao/transfer"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

// waits returns the count and sum of hongbao.notification.wait matching
// want.
func waits(t *testing.T, rm metricdata.ResourceMetrics, want map[string]string) (uint64, float64) {
	t.Helper()
	m, ok := find(t, rm, otelhongbao.MetricNotificationWait)
	if !ok {
		return 0, 0
	}
	h, ok := m.Data.(metricdata.Histogram[float64])
	if !ok || m.Unit != "s" {
		t.Fatalf("%s is a %T in %q, want a Histogram[float64] in s", m.Name, m.Data, m.Unit)
	}
	var n uint64
	var sum float64
	for _, dp := range h.DataPoints {
		if matches(dp.Attributes, want) {
			n += dp.Count
			sum += dp.Sum
		}
	}
	return n, sum
}

// On the transfer rail, taps carry rail="transfer", and each notification
// is counted by result, state and reason, with the time its bill waited:
// a probe-signed attempt refused, then the genuine SUCCESS after the user
// confirmed, and an OVERDUE_CLOSE a day later.
func TestTransferTapsAndNotifications(t *testing.T) {
	e := newEnv(t, wxpaytest.Options{})
	var offset atomic.Int64 // the platform's and the handler's clock, ahead of the real one
	now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }

	// The notify URL, served by the handler once it exists.
	var notify atomic.Pointer[http.Handler]
	receiver := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h := notify.Load(); h != nil {
			(*h).ServeHTTP(w, r)
			return
		}
		http.Error(w, "not yet", http.StatusServiceUnavailable)
	}))
	receiver.Config.ErrorLog = log.New(io.Discard, "", 0)
	receiver.StartTLS()
	defer receiver.Close()
	host := wxpaytest.Start(t, wxpaytest.Options{Now: now,
		V3: wxpaytest.V3Options{ProbeNotifications: true, NotifyClient: receiver.Client()}})

	vc := host.V3Config()
	quiet := slog.New(slog.DiscardHandler)
	tr, err := apiv3.New(apiv3.Config{MchID: vc.MchID, CertPEM: vc.CertPEM, KeyPEM: vc.KeyPEM, APIv3Key: vc.APIv3Key,
		PublicKeyID: vc.PublicKeyID, PublicKeyPEM: vc.PublicKeyPEM, RootCAs: vc.RootCAs, BaseURL: vc.BaseURL,
		Logger: quiet, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	c, err := transfer.New(transfer.Config{AppID: host.AppID, Transport: tr, BillnoKey: billnoKey, Logger: quiet, Now: now,
		Retry: hongbao.RetryPolicy{Attempts: 2, BaseDelay: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.Rail(transfer.RailConfig{NotifyURL: receiver.URL + "/hongbao/notify"})
	if err != nil {
		t.Fatal(err)
	}
	h, err := claim.NewHandler(claim.HandlerConfig{
		Rail: r,
		Policy: claim.PolicyFunc(func(context.Context, jwtauth.User, []byte) (claim.Grant, error) {
			return claim.Grant{Key: "spring", Payout: rail.Payout{Amount: 100, Wishing: "Happy new year", ActName: "New year", Remark: "Thanks"}}, nil
		}),
		RateLimit:     -1,
		SceneOptional: true,
		Now:           now,
		Logger:        quiet,
		Observer:      e.obs,
	})
	if err != nil {
		t.Fatal(err)
	}
	nh, err := h.NotificationHandler()
	if err != nil {
		t.Fatal(err)
	}
	notify.Store(&nh)

	// The first user is offered a bill and confirms it five minutes later.
	const first, second = "oTransfer000000000000000001", "oTransfer000000000000000002"
	w := tap(h, first)
	if w.Code != http.StatusOK {
		t.Fatalf("tap: %d %s", w.Code, w.Body)
	}
	var page wxpaytest.TransferPage
	if err := json.Unmarshal(w.Body.Bytes(), &page); err != nil {
		t.Fatal(err)
	}
	page.OpenID = first
	offset.Add(int64(5 * time.Minute))
	if _, err := host.ConfirmTransfer(page); err != nil {
		t.Fatal(err)
	}
	n1, _ := c.OutBillNo("spring", first, 0)
	if d, err := waitDelivered(host, n1); err != nil || !d.Delivered {
		t.Fatalf("delivery of %s: %+v %v", n1, d, err)
	}
	// The second user never confirms: closed a day later.
	if w := tap(h, second); w.Code != http.StatusOK {
		t.Fatalf("tap: %d %s", w.Code, w.Body)
	}
	n2, _ := c.OutBillNo("spring", second, 0)
	offset.Add(int64(25 * time.Hour))
	if d, err := waitDelivered(host, n2); err != nil || !d.Delivered {
		t.Fatalf("delivery of %s: %+v %v", n2, d, err)
	}

	rm := e.collect(t)
	for _, c := range []struct {
		name  string
		attrs map[string]string
		want  int64
	}{
		{otelhongbao.MetricTaps, map[string]string{"rail": "transfer", "status": "200", "source": "platform"}, 2},
		{otelhongbao.MetricTaps, map[string]string{"rail": "redpacket"}, 0},
		{otelhongbao.MetricNotifications, map[string]string{"rail": "transfer", "result": "refused", "state": "", "reason": ""}, 2},
		{otelhongbao.MetricNotifications, map[string]string{"rail": "transfer", "result": "recorded", "state": "SUCCESS", "reason": ""}, 1},
		{otelhongbao.MetricNotifications, map[string]string{"rail": "transfer", "result": "recorded", "state": "FAIL", "reason": "OVERDUE_CLOSE"}, 1},
		{otelhongbao.MetricNotifications, map[string]string{}, 4},
	} {
		if n := count(t, rm, c.name, c.attrs); n != c.want {
			t.Errorf("%s%v = %d, want %d", c.name, c.attrs, n, c.want)
		}
	}
	if n, sum := waits(t, rm, map[string]string{"rail": "transfer", "state": "SUCCESS"}); n != 1 || sum < 299 || sum > 400 {
		t.Errorf("waits of SUCCESS: %d, sum %v s, want 1 of about 300 s", n, sum)
	}
	if n, sum := waits(t, rm, map[string]string{"rail": "transfer", "state": "FAIL"}); n != 1 || sum < 24*3600 || sum > 26*3600 {
		t.Errorf("waits of FAIL: %d, sum %v s, want 1 of about 25 h", n, sum)
	}
	noSecrets(t, e.spans.GetSpans(), []string{first, second, vc.APIv3Key})
}

func waitDelivered(host *wxpaytest.Server, n string) (wxpaytest.Delivery, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return host.WaitDelivered(ctx, n)
}

// The transfer client's calls are counted in the same instruments as the
// red packet's, with rail transfer: a query of a new bill (NOT_FOUND, an
// answer, not an error span), a create paid, one refused NOT_ENOUGH (what
// the HongbaoNotEnough alert watches), one whose outcome is unknown after
// every attempt failed 500, and a cancel. The red packet's series stay
// untouched.
func TestTransferCalls(t *testing.T) {
	e := newEnv(t, wxpaytest.Options{Balance: 150})
	vc := e.host.V3Config()
	quiet := slog.New(slog.DiscardHandler)
	tr, err := apiv3.New(apiv3.Config{MchID: vc.MchID, CertPEM: vc.CertPEM, KeyPEM: vc.KeyPEM, APIv3Key: vc.APIv3Key,
		PublicKeyID: vc.PublicKeyID, PublicKeyPEM: vc.PublicKeyPEM, RootCAs: vc.RootCAs, BaseURL: vc.BaseURL, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	c, err := transfer.New(transfer.Config{AppID: e.host.AppID, Transport: tr, BillnoKey: billnoKey, Logger: quiet,
		Retry:    hongbao.RetryPolicy{Attempts: 2, BaseDelay: time.Millisecond},
		Observer: e.obs.Transfer()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const paid, short, lost = "oTransferCalls00000000000001", "oTransferCalls00000000000002", "oTransferCalls00000000000003"
	create := func(openID string) (string, error) {
		n, err := c.OutBillNo("calls", openID, 0)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Create(ctx, &transfer.CreateRequest{OutBillNo: n, OpenID: openID, Amount: 100,
			Remark: "Happy new year", ActivityName: "New year", RewardNote: "Thanks"})
		return n, err
	}
	n1, _ := c.OutBillNo("calls", paid, 0)
	if _, err := c.QueryByOutBillNo(ctx, n1); !errors.Is(err, hongbao.ErrNotFound) {
		t.Fatalf("query of a new bill: %v", err)
	}
	if _, err := create(paid); err != nil {
		t.Fatal(err)
	}
	if _, err := create(short); !errors.Is(err, hongbao.ErrNotEnough) {
		t.Fatalf("create beyond the balance: %v, want NOT_ENOUGH", err)
	}
	e.host.InjectV3(wxpaytest.V3Fault{Times: 2, Status: http.StatusInternalServerError, Code: "SYSTEM_ERROR",
		Match: func(r wxpaytest.V3Request) bool {
			return r.Method == http.MethodPost && r.URI == wxpaytest.PathTransferBills
		}})
	if _, err := create(lost); !errors.Is(err, hongbao.ErrOutcomeUnknown) {
		t.Fatalf("create through 500s: %v, want outcome unknown", err)
	}
	if _, err := c.Cancel(ctx, n1); err != nil {
		t.Fatal(err)
	}

	rm := e.collect(t)
	for _, w := range []struct {
		name  string
		attrs map[string]string
		want  int64
	}{
		{otelhongbao.MetricSends, map[string]string{"rail": "transfer", "op": "query", "result": "definitive", "err_code": "NOT_FOUND"}, 1},
		{otelhongbao.MetricSends, map[string]string{"rail": "transfer", "op": "create", "result": "success", "err_code": ""}, 1},
		{otelhongbao.MetricSends, map[string]string{"rail": "transfer", "op": "create", "result": "definitive", "err_code": "NOT_ENOUGH"}, 1},
		{otelhongbao.MetricSends, map[string]string{"rail": "transfer", "op": "create", "result": "unknown", "err_code": "SYSTEM_ERROR"}, 1},
		{otelhongbao.MetricSends, map[string]string{"rail": "transfer", "op": "cancel", "result": "success"}, 1},
		{otelhongbao.MetricSends, map[string]string{"rail": "transfer"}, 5},
		{otelhongbao.MetricSends, map[string]string{"rail": "redpacket"}, 0},
		{otelhongbao.MetricSendAttempts, map[string]string{"rail": "transfer", "op": "create", "err_code": "SYSTEM_ERROR"}, 2},
		{otelhongbao.MetricSendAttempts, map[string]string{"rail": "transfer", "op": "create"}, 4},
	} {
		if n := count(t, rm, w.name, w.attrs); n != w.want {
			t.Errorf("%s%v = %d, want %d", w.name, w.attrs, n, w.want)
		}
	}
	if n := observations(t, rm, map[string]string{"rail": "transfer", "op": "create"}); n != 3 {
		t.Errorf("%d create durations, want 3", n)
	}

	spans := e.spans.GetSpans()
	q := byName(spans, "hongbao.transfer.query")
	if len(q) != 1 || q[0].Status.Code == codes.Error || attrs(q[0])["hongbao.err_code"] != "NOT_FOUND" {
		t.Errorf("query spans: %+v", q)
	}
	creates := byName(spans, "hongbao.transfer.create")
	if len(creates) != 3 {
		t.Fatalf("%d create spans, want 3", len(creates))
	}
	for _, s := range creates {
		if a := attrs(s); a["hongbao.billno"] == "" || a["hongbao.op"] != "create" {
			t.Errorf("create span attributes %v", a)
		}
	}
	for _, s := range byName(spans, "hongbao.transfer.create.attempt") {
		if !s.Parent.IsValid() || s.SpanKind != trace.SpanKindClient {
			t.Errorf("attempt span %v: parent %v, kind %v", s.Name, s.Parent, s.SpanKind)
		}
	}
	if n := len(byName(spans, "hongbao.transfer.create.attempt")); n != 4 {
		t.Errorf("%d create attempt spans, want 4", n)
	}
	noSecrets(t, spans, []string{paid, short, lost, vc.APIv3Key})
}
