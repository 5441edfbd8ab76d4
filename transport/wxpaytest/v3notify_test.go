package wxpaytest_test

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

// receiver is a notification endpoint that verifies and decrypts like a
// merchant should, and records what it got.
type receiver struct {
	t       *testing.T
	srv     *wxpaytest.Server
	now     func() time.Time
	keys    func() map[string]*rsa.PublicKey
	failN   int  // answer 500 to the first failN verified notifications
	lenient bool // answer 204 to anything, verified or not

	mu       sync.Mutex
	got      []map[string]any // decrypted resources, in arrival order
	ids      []string
	refused  []error
	requests int
}

func newReceiver(t *testing.T, srv *wxpaytest.Server, now func() time.Time) (*receiver, *httptest.Server) {
	rc := &receiver{t: t, srv: srv, now: now}
	rc.keys = func() map[string]*rsa.PublicKey {
		m := map[string]*rsa.PublicKey{}
		if srv.PublicKeyID() != "" {
			m[srv.PublicKeyID()] = parsePublicKey(t, srv.PublicKeyPEM())
		}
		for _, c := range srv.PlatformCertificates() {
			m[c.Serial] = c.Certificate.PublicKey.(*rsa.PublicKey)
		}
		return m
	}
	ts := httptest.NewServer(rc)
	t.Cleanup(ts.Close)
	return rc, ts
}

// decryptNotification checks a notification body and returns its id,
// event type and decrypted resource.
func decryptNotification(apiv3Key string, body []byte) (string, map[string]any, error) {
	var n struct {
		ID           string `json:"id"`
		CreateTime   string `json:"create_time"`
		ResourceType string `json:"resource_type"`
		EventType    string `json:"event_type"`
		Summary      string `json:"summary"`
		Resource     struct {
			OriginalType   string `json:"original_type"`
			Algorithm      string `json:"algorithm"`
			Ciphertext     string `json:"ciphertext"`
			AssociatedData string `json:"associated_data"`
			Nonce          string `json:"nonce"`
		} `json:"resource"`
	}
	if err := json.Unmarshal(body, &n); err != nil {
		return "", nil, err
	}
	if n.ID == "" || n.EventType != "MCHTRANSFER.BILL.FINISHED" || n.ResourceType != "encrypt-resource" ||
		n.Resource.Algorithm != "AEAD_AES_256_GCM" || n.Resource.OriginalType != "mch_payment" || n.Summary == "" ||
		!beijingTimeForm.MatchString(n.CreateTime) {
		return "", nil, errors.New("unexpected envelope: " + string(body))
	}
	plain, err := gcmOpen(apiv3Key, n.Resource.Nonce, n.Resource.AssociatedData, n.Resource.Ciphertext)
	if err != nil {
		return "", nil, err
	}
	var res map[string]any
	if err := json.Unmarshal(plain, &res); err != nil {
		return "", nil, err
	}
	return n.ID, res, nil
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.requests++
	err := verifyWith(r.Header, body, rc.keys(), rc.now())
	var id string
	var res map[string]any
	if err == nil {
		id, res, err = decryptNotification(rc.srv.APIv3Key(), body)
	}
	if r.Header.Get("Request-ID") == "" || r.Header.Get("Content-Type") != "application/json" || r.Method != http.MethodPost {
		err = errors.New("headers or method")
	}
	if err != nil {
		rc.refused = append(rc.refused, err)
		if !rc.lenient {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"code":"FAIL","message":"not verified"}`)
			return
		}
	}
	if err == nil && rc.failN > 0 {
		rc.failN--
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, `{"code":"FAIL","message":"try again"}`)
		return
	}
	if err == nil {
		rc.got = append(rc.got, res)
		rc.ids = append(rc.ids, id)
	}
	w.WriteHeader(http.StatusNoContent)
}

func (rc *receiver) resources() []map[string]any {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]map[string]any(nil), rc.got...)
}

func waitDelivered(t *testing.T, srv *wxpaytest.Server, n string) wxpaytest.Delivery {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := srv.WaitDelivered(ctx, n)
	if err != nil {
		t.Fatalf("no delivery of %s: %v; deliveries %+v", n, err, srv.Deliveries())
	}
	return d
}

// TestV3Notifications: each final state is delivered to the bill's
// notify_url (or the server's), signed and encrypted, retried until the
// receiver answers 2xx.
func TestV3Notifications(t *testing.T) {
	clk := newClock()
	srvURL := ""
	var rc *receiver
	srv := wxpaytest.Start(t, wxpaytest.Options{Now: clk.Now, V3: wxpaytest.V3Options{NotifyURL: "http://127.0.0.1:1/unused"}})
	rc, ts := newReceiver(t, srv, clk.Now)
	srvURL = ts.URL
	h := &v3h{t: t, clock: clk, srv: srv, c: newV3Client(t, srv, clk.Now)}

	m := billFields(srv.AppID, "N1", 321)
	m["notify_url"] = srvURL + "/notify"
	r := h.c.ok(http.MethodPost, wxpaytest.PathTransferBills, jsonBody(t, m))
	if len(srv.Deliveries()) != 0 {
		t.Fatal("a notification before a final state")
	}
	rc.mu.Lock()
	rc.failN = 2
	rc.mu.Unlock()
	if _, err := srv.ConfirmTransfer(h.page(r)); err != nil {
		t.Fatal(err)
	}
	d := waitDelivered(t, srv, "N1")
	if !d.Delivered || d.Attempt != 3 || d.State != wxpaytest.BillSuccess || d.URL != srvURL+"/notify" || d.Status != 204 {
		t.Fatalf("delivery %+v", d)
	}
	all := srv.Deliveries()
	if len(all) != 3 || all[0].Status != 500 || all[0].ID != d.ID || all[1].Attempt != 2 || all[0].Delivered || all[0].GaveUp {
		t.Fatalf("attempts %+v", all)
	}
	res := rc.resources()
	if len(res) != 1 {
		t.Fatalf("resources %v", res)
	}
	b, _ := srv.Bill("N1")
	want := map[string]any{
		"out_bill_no": "N1", "transfer_bill_no": b.TransferBillNo, "state": "SUCCESS", "mch_id": srv.MchID,
		"transfer_amount": 321.0, "openid": v3OpenID, "fail_reason": "",
		"create_time": r.str("create_time"), "update_time": b.UpdatedAt.In(time.FixedZone("", 8*3600)).Format(time.RFC3339),
	}
	for k, v := range want {
		if res[0][k] != v {
			t.Errorf("resource %s = %v, want %v", k, res[0][k], v)
		}
	}
	if len(res[0]) != len(want) {
		t.Errorf("resource fields %v", res[0])
	}

	// A bill without notify_url goes to V3Options.NotifyURL: here a port
	// nobody listens on, so every attempt fails and the last gives up.
	r2 := h.create("N2", 100)
	if _, err := srv.ConfirmTransfer(h.page(r2)); err != nil {
		t.Fatal(err)
	}
	d2 := waitDelivered(t, srv, "N2")
	if d2.Delivered || !d2.GaveUp || d2.Attempt != len(wxpaytest.DefaultNotifySchedule) || d2.Err == "" || d2.URL != "http://127.0.0.1:1/unused" {
		t.Fatalf("delivery to nowhere %+v", d2)
	}

	// Cancelled and closed bills are notified too.
	m["out_bill_no"] = "N3"
	h.c.ok(http.MethodPost, wxpaytest.PathTransferBills, jsonBody(t, m))
	h.c.ok(http.MethodPost, uriCancel("N3"), nil)
	if d := waitDelivered(t, srv, "N3"); d.State != wxpaytest.BillCancelled || !d.Delivered {
		t.Errorf("cancel notified %+v", d)
	}
	m["out_bill_no"] = "N4"
	h.c.ok(http.MethodPost, wxpaytest.PathTransferBills, jsonBody(t, m))
	clk.Add(24 * time.Hour)
	if d := waitDelivered(t, srv, "N4"); d.State != wxpaytest.BillFail || !d.Delivered {
		t.Errorf("close notified %+v", d)
	}
	res = rc.resources()
	if last := res[len(res)-1]; last["state"] != "FAIL" || last["fail_reason"] != "OVERDUE_CLOSE" {
		t.Errorf("close resource %v", last)
	}

	// Renotify repeats a final state under a new id.
	before := len(rc.resources())
	if err := srv.Renotify("N1"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(rc.resources()) == before && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	rc.mu.Lock()
	ids := append([]string(nil), rc.ids...)
	rc.mu.Unlock()
	if len(ids) != before+1 || ids[len(ids)-1] == ids[0] {
		t.Errorf("renotified ids %v", ids)
	}
	h.create("N5", 100)
	if err := srv.Renotify("N5"); err == nil {
		t.Error("Renotify of a bill not final")
	}
	if err := srv.Renotify("nope"); err == nil {
		t.Error("Renotify of an unknown bill")
	}
	if n := len(rc.refused); n != 0 {
		t.Errorf("the receiver refused %d genuine notifications: %v", n, rc.refused)
	}
}

// TestV3NotificationProbeFirst: with ProbeNotifications, the first attempt
// is probe-signed; a verifying receiver refuses it and gets the genuine
// one next; a receiver that does not verify accepts the probe, and the
// record shows it.
func TestV3NotificationProbeFirst(t *testing.T) {
	for _, lenient := range []bool{false, true} {
		clk := newClock()
		srv := wxpaytest.Start(t, wxpaytest.Options{Now: clk.Now, V3: wxpaytest.V3Options{ProbeNotifications: true}})
		rc, ts := newReceiver(t, srv, clk.Now)
		rc.lenient = lenient
		h := &v3h{t: t, clock: clk, srv: srv, c: newV3Client(t, srv, clk.Now)}
		m := billFields(srv.AppID, "P1", 100)
		m["notify_url"] = ts.URL
		r := h.c.ok(http.MethodPost, wxpaytest.PathTransferBills, jsonBody(t, m))
		if _, err := srv.ConfirmTransfer(h.page(r)); err != nil {
			t.Fatal(err)
		}
		d := waitDelivered(t, srv, "P1")
		all := srv.Deliveries()
		rc.mu.Lock()
		refused := append([]error(nil), rc.refused...)
		rc.mu.Unlock()
		if lenient {
			if !d.Probe || d.Attempt != 1 || !d.Delivered || len(refused) != 1 || !errors.Is(refused[0], errProbe) {
				t.Errorf("lenient: %+v, refused %v", all, refused)
			}
			continue
		}
		if len(all) != 2 || !all[0].Probe || all[0].Status != 400 || all[1].Probe || !all[1].Delivered ||
			len(refused) != 1 || !errors.Is(refused[0], errProbe) || len(rc.resources()) != 1 {
			t.Errorf("verifying receiver: %+v, refused %v", all, refused)
		}
	}
}

// TestV3NotificationSchedule: a custom schedule, and Close stops a
// delivery in progress.
func TestV3NotificationSchedule(t *testing.T) {
	var mu sync.Mutex
	var times []time.Time
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		times = append(times, time.Now())
		mu.Unlock()
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer ts.Close()
	srv, err := wxpaytest.NewServer(wxpaytest.Options{V3: wxpaytest.V3Options{
		NotifyURL: ts.URL, NotifySchedule: []time.Duration{0, 150 * time.Millisecond, time.Hour},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	c := newV3Client(t, srv, time.Now)
	r := c.ok(http.MethodPost, wxpaytest.PathTransferBills, jsonBody(t, billFields(srv.AppID, "S1", 100)))
	if _, err := srv.ConfirmTransfer(wxpaytest.TransferPage{MchID: srv.MchID, AppID: srv.AppID, Package: r.str("package_info")}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(srv.Deliveries()) < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	done := make(chan struct{})
	go func() { srv.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close waited for the hour-long retry")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(times) != 2 || times[1].Sub(times[0]) < 150*time.Millisecond {
		t.Fatalf("attempts at %v", times)
	}
	if d := srv.Deliveries(); len(d) != 2 || d[1].Status != 503 || d[1].GaveUp {
		t.Errorf("deliveries %+v", d)
	}
	if got := wxpaytest.PlatformNotifySchedule(); len(got) != 65 || got[0] != 0 || got[1] != 15*time.Second || got[64] != 30*time.Minute {
		t.Errorf("PlatformNotifySchedule %v", got)
	}
}

// TestV3CraftNotification: the helpers make notifications a receiver must
// accept (genuine) or refuse (forged, probe, stale, tampered, unsigned,
// unknown serial, a signature replayed over another body).
func TestV3CraftNotification(t *testing.T) {
	h := newV3(t, wxpaytest.Options{})
	r := h.create("CN1", 100)
	if _, err := h.srv.ConfirmTransfer(h.page(r)); err != nil {
		t.Fatal(err)
	}
	keys := map[string]*rsa.PublicKey{h.srv.PublicKeyID(): parsePublicKey(t, h.srv.PublicKeyPEM())}
	genuine, err := h.srv.CraftNotification(wxpaytest.NotificationSpec{OutBillNo: "CN1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := verifyWith(genuine.Header, genuine.Body, keys, h.clock.Now()); err != nil {
		t.Fatalf("genuine: %v", err)
	}
	_, res, err := decryptNotification(h.srv.APIv3Key(), genuine.Body)
	if err != nil || res["out_bill_no"] != "CN1" || res["state"] != "SUCCESS" {
		t.Fatalf("genuine resource %v %v", res, err)
	}
	if genuine.Header.Get("Request-ID") == "" {
		t.Error("no Request-ID")
	}

	for _, c := range brokenSignatures {
		n, err := h.srv.CraftNotification(wxpaytest.NotificationSpec{OutBillNo: "CN1", SignSpec: wxpaytest.SignSpec{Signature: c.sig}})
		if err != nil {
			t.Fatal(err)
		}
		if err := verifyWith(n.Header, n.Body, keys, h.clock.Now()); !errors.Is(err, c.want) {
			t.Errorf("%v: %v, want %v", c.sig, err, c.want)
		}
	}
	// Replayed over another body: the headers of the genuine one.
	other, _ := h.srv.CraftNotification(wxpaytest.NotificationSpec{OutBillNo: "CN1"})
	replay := genuine.WithBody(other.Body)
	if err := verifyWith(replay.Header, replay.Body, keys, h.clock.Now()); !errors.Is(err, errBadSignature) {
		t.Errorf("replay with another body: %v", err)
	}
	// The same notification later than 300 s: stale.
	h.clock.Add(301 * time.Second)
	if err := verifyWith(genuine.Header, genuine.Body, keys, h.clock.Now()); !errors.Is(err, errStale) {
		t.Errorf("late replay: %v", err)
	}
	// A tampered ciphertext signed anew: the signature holds, GCM fails.
	tc, _ := h.srv.CraftNotification(wxpaytest.NotificationSpec{OutBillNo: "CN1", TamperCiphertext: true})
	if err := verifyWith(tc.Header, tc.Body, keys, h.clock.Now()); err != nil {
		t.Errorf("tampered ciphertext: signature %v", err)
	}
	if _, _, err := decryptNotification(h.srv.APIv3Key(), tc.Body); err == nil {
		t.Error("a tampered ciphertext decrypted")
	}
	// A raw resource, fixed fields, and a request ready to send.
	at := time.Unix(1800000000, 0)
	n, err := h.srv.CraftNotification(wxpaytest.NotificationSpec{
		Resource: []byte(`{"out_bill_no":"X"}`), ID: "fixed-id", CreateTime: at, Nonce: "abcdefghijkl",
		SignSpec: wxpaytest.SignSpec{Timestamp: at, Nonce: "N0NCE"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if n.Header.Get("Wechatpay-Timestamp") != "1800000000" || n.Header.Get("Wechatpay-Nonce") != "N0NCE" ||
		!strings.Contains(string(n.Body), `"id":"fixed-id","create_time":"2027-01-15T16:00:00+08:00"`) ||
		!strings.Contains(string(n.Body), `"nonce":"abcdefghijkl"`) {
		t.Errorf("fixed notification %s %v", n.Body, n.Header)
	}
	req, err := n.NewRequest(context.Background(), "https://merchant.example/notify")
	if err != nil || req.Method != http.MethodPost || req.Header.Get("Wechatpay-Signature") == "" || req.ContentLength != int64(len(n.Body)) {
		t.Errorf("NewRequest %+v %v", req, err)
	}
	for _, bad := range []wxpaytest.NotificationSpec{
		{},
		{OutBillNo: "nope"},
		{Resource: []byte("{}"), Nonce: "short"},
		{Resource: []byte("{}"), SignSpec: wxpaytest.SignSpec{Serial: "PUB_KEY_ID_1"}},
		{Resource: []byte("{}"), SignSpec: wxpaytest.SignSpec{Signature: 42}},
	} {
		if _, err := h.srv.CraftNotification(bad); err == nil {
			t.Errorf("CraftNotification(%+v) succeeded", bad)
		}
	}
}
