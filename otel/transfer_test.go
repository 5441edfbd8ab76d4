package otelhongbao_test

import (
	"context"
	"encoding/json"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/metric/metricdata"

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
