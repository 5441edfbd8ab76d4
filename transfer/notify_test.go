package transfer_test

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/hongbao-go/hongbao/apiv3"
	"github.com/hongbao-go/hongbao/transfer"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

// receiver is a notify URL served over TLS by a client's
// NotificationHandler, recording what reached the function.
type receiver struct {
	srv  *httptest.Server
	mu   sync.Mutex
	got  []*apiv3.Notification
	fail int // the next calls of the function that fail
}

func (rc *receiver) url() string { return rc.srv.URL + "/notify" }

func (rc *receiver) notifications() []*apiv3.Notification {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]*apiv3.Notification(nil), rc.got...)
}

// startNotifying starts a host that delivers to a receiver of a client of
// it; the client is returned with the receiver.
func startNotifying(t *testing.T, v3 wxpaytest.V3Options) (*wxpaytest.Server, *transfer.Client, *receiver) {
	t.Helper()
	// The host needs the receiver's TLS client, and the receiver's handler
	// the host's keys: the receiver starts first and gets its handler once
	// the client exists.
	var (
		mu sync.Mutex
		h  http.Handler
	)
	rc := &receiver{}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /notify", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hh := h
		mu.Unlock()
		hh.ServeHTTP(w, r)
	})
	rc.srv = httptest.NewUnstartedServer(mux)
	rc.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	rc.srv.StartTLS()
	t.Cleanup(rc.srv.Close)
	v3.NotifyClient = rc.srv.Client()
	srv := wxpaytest.Start(t, wxpaytest.Options{V3: v3})
	c := newClient(t, srv, nil)
	handler, err := c.Transport().NotificationHandler(func(_ context.Context, n *apiv3.Notification) error {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		rc.got = append(rc.got, n)
		if rc.fail > 0 {
			rc.fail--
			return errors.New("the store is down")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	h = handler
	mu.Unlock()
	return srv, c, rc
}

// confirm creates a bill notified to rc and confirms it as the user.
func confirm(t *testing.T, srv *wxpaytest.Server, c *transfer.Client, rc *receiver, openid string) *transfer.Bill {
	t.Helper()
	r := request(t, c, "notify", openid)
	r.NotifyURL = rc.url()
	b, err := c.Create(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.PageParams(b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.ConfirmTransfer(wxpaytest.TransferPage{MchID: p.MchID, AppID: p.AppID, Package: p.Package, OpenID: p.OpenID}); err != nil {
		t.Fatal(err)
	}
	return b
}

func waitDelivered(t *testing.T, srv *wxpaytest.Server, outBillNo string) wxpaytest.Delivery {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	d, err := srv.WaitDelivered(wctx, outBillNo)
	if err != nil {
		t.Fatalf("%v; deliveries %+v", err, srv.Deliveries())
	}
	return d
}

// TestNotificationDelivered: the host's MCHTRANSFER.BILL.FINISHED reaches
// the function once, typed, in each trust mode; a probe-signed first
// attempt does not.
func TestNotificationDelivered(t *testing.T) {
	for _, trust := range []wxpaytest.Trust{wxpaytest.TrustPublicKey, wxpaytest.TrustCertificates, wxpaytest.TrustBoth} {
		for _, probe := range []bool{false, true} {
			name := trust.String()
			if probe {
				name += "/probe first"
			}
			t.Run(name, func(t *testing.T) {
				srv, c, rc := startNotifying(t, wxpaytest.V3Options{Trust: trust, ProbeNotifications: probe})
				b := confirm(t, srv, c, rc, "oUserNotify1")
				d := waitDelivered(t, srv, b.OutBillNo)
				if !d.Delivered || d.Probe {
					t.Errorf("%+v", d)
				}
				got := rc.notifications()
				if len(got) != 1 {
					t.Fatalf("%d notifications reached the function", len(got))
				}
				n := got[0]
				tb := n.TransferBill
				if n.EventType != apiv3.EventTransferBillFinished || tb == nil || tb.OutBillNo != b.OutBillNo || tb.State != string(transfer.StateSuccess) ||
					tb.TransferBillNo != b.TransferBillNo || tb.TransferAmount != 188 || tb.OpenID != "oUserNotify1" || tb.UpdateTime.IsZero() {
					t.Errorf("%+v %+v", n, tb)
				}
				probes := 0
				for _, d := range srv.Deliveries() {
					if d.Probe {
						probes++
						if d.Delivered || d.Status != http.StatusUnauthorized {
							t.Errorf("the probe was answered %d", d.Status)
						}
					}
				}
				if probe != (probes == 1) {
					t.Errorf("%d probes", probes)
				}
			})
		}
	}
}

// TestNotificationResent: while the function fails the host is told to
// resend; it stops once the function succeeded.
func TestNotificationResent(t *testing.T) {
	srv, c, rc := startNotifying(t, wxpaytest.V3Options{})
	rc.mu.Lock()
	rc.fail = 2
	rc.mu.Unlock()
	b := confirm(t, srv, c, rc, "oUserNotify2")
	d := waitDelivered(t, srv, b.OutBillNo)
	if d.Attempt != 3 {
		t.Errorf("delivered at attempt %d", d.Attempt)
	}
	if n := len(rc.notifications()); n != 3 {
		t.Errorf("the function was called %d times", n)
	}
	for _, d := range srv.Deliveries()[:2] {
		if d.Delivered || d.Status != http.StatusInternalServerError {
			t.Errorf("%+v", d)
		}
	}
}

// TestNotificationRefused: crafted notifications that are forged, stale,
// probe-signed, of an unknown serial, with a tampered ciphertext or
// replayed with another body never reach the function.
func TestNotificationRefused(t *testing.T) {
	srv, c, rc := startNotifying(t, wxpaytest.V3Options{})
	b := confirm(t, srv, c, rc, "oUserNotify3")
	waitDelivered(t, srv, b.OutBillNo)
	before := len(rc.notifications())
	other := confirm(t, srv, c, rc, "oUserNotify4")
	waitDelivered(t, srv, other.OutBillNo)
	before++

	genuine, err := srv.CraftNotification(wxpaytest.NotificationSpec{OutBillNo: b.OutBillNo})
	if err != nil {
		t.Fatal(err)
	}
	otherBody, err := srv.CraftNotification(wxpaytest.NotificationSpec{OutBillNo: other.OutBillNo})
	if err != nil {
		t.Fatal(err)
	}
	craft := func(spec wxpaytest.NotificationSpec) *wxpaytest.Signed {
		spec.OutBillNo = b.OutBillNo
		s, err := srv.CraftNotification(spec)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	cases := []struct {
		name   string
		n      *wxpaytest.Signed
		status int
	}{
		{"forged", craft(wxpaytest.NotificationSpec{SignSpec: wxpaytest.SignSpec{Signature: wxpaytest.SignForged}}), 401},
		{"stale", craft(wxpaytest.NotificationSpec{SignSpec: wxpaytest.SignSpec{Signature: wxpaytest.SignStale}}), 401},
		{"probe", craft(wxpaytest.NotificationSpec{SignSpec: wxpaytest.SignSpec{Signature: wxpaytest.SignProbe}}), 401},
		{"unsigned", craft(wxpaytest.NotificationSpec{SignSpec: wxpaytest.SignSpec{Signature: wxpaytest.SignUnsigned}}), 401},
		{"altered", craft(wxpaytest.NotificationSpec{SignSpec: wxpaytest.SignSpec{Signature: wxpaytest.SignTampered}}), 401},
		{"unknown serial", craft(wxpaytest.NotificationSpec{SignSpec: wxpaytest.SignSpec{Signature: wxpaytest.SignUnknownSerial}}), 401},
		{"tampered ciphertext", craft(wxpaytest.NotificationSpec{TamperCiphertext: true}), 500},
		{"replayed with another body", genuine.WithBody(otherBody.Body), 401},
	}
	for _, k := range cases {
		req, err := k.n.NewRequest(ctx, rc.url())
		if err != nil {
			t.Fatal(err)
		}
		resp, err := rc.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != k.status || !contains(string(body), `"code":"FAIL"`) {
			t.Errorf("%s: %d %s", k.name, resp.StatusCode, body)
		}
	}
	if n := len(rc.notifications()); n != before {
		t.Errorf("%d refused notifications reached the function", n-before)
	}
	// The genuine one passes (a repeat: the function must be idempotent).
	req, _ := genuine.NewRequest(ctx, rc.url())
	resp, err := rc.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || len(rc.notifications()) != before+1 {
		t.Errorf("genuine: %d", resp.StatusCode)
	}
}
