package apiv3_test

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hongbao-go/hongbao/apiv3"
)

// TestVectorNotifications parses each notification vector, the clock set
// to its time.
func TestVectorNotifications(t *testing.T) {
	v := loadVectors(t)
	for i, n := range v.Notifications {
		h := http.Header{}
		for k, val := range n.Headers {
			h.Set(k, val)
		}
		ts := mustTimestamp(t, n.Headers[apiv3.HeaderTimestamp])
		tr := newTransport(t, apiv3.Config{
			MchID:        v.Keys.MchID,
			KeyPEM:       []byte(v.Keys.MerchantPrivateKeyPEM),
			CertSerial:   v.Keys.MerchantSerialNo,
			APIv3Key:     v.Keys.APIv3Key,
			PublicKeyID:  v.Keys.PlatformPublicKeyID,
			PublicKeyPEM: []byte(v.Keys.PlatformPublicKeyPEM),
			Now:          func() time.Time { return time.Unix(ts, 0) },
		})
		got, err := tr.ParseNotification(context.Background(), h, []byte(n.Body))
		if (err == nil) != n.Valid {
			t.Errorf("notification %d (%s): %v", i, n.Why, err)
			continue
		}
		if !n.Valid {
			switch {
			case strings.Contains(n.Why, "probe"):
				if !errors.Is(err, apiv3.ErrProbe) {
					t.Errorf("notification %d (%s): %v", i, n.Why, err)
				}
			case strings.Contains(n.Why, "ciphertext"):
				if !errors.Is(err, apiv3.ErrDecrypt) {
					t.Errorf("notification %d (%s): %v", i, n.Why, err)
				}
			default:
				if !errors.Is(err, apiv3.ErrSignature) {
					t.Errorf("notification %d (%s): %v", i, n.Why, err)
				}
			}
			continue
		}
		var want map[string]any
		var have map[string]any
		if err := json.Unmarshal(n.Resource, &want); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(got.Resource, &have); err != nil {
			t.Fatal(err)
		}
		wb, _ := json.Marshal(want)
		hb, _ := json.Marshal(have)
		if !bytes.Equal(wb, hb) {
			t.Errorf("notification %d: resource\n got %s\nwant %s", i, hb, wb)
		}
		b := got.TransferBill
		if b == nil || got.EventType != apiv3.EventTransferBillFinished || got.ID == "" || got.CreateTime.IsZero() {
			t.Fatalf("notification %d: %+v", i, got)
		}
		if b.OutBillNo != want["out_bill_no"] || b.State != want["state"] || float64(b.TransferAmount) != want["transfer_amount"] ||
			b.FailReason != want["fail_reason"] || b.OpenID != want["openid"] || b.TransferBillNo != want["transfer_bill_no"] ||
			b.CreateTime.Format(time.RFC3339) != want["create_time"] || b.UpdateTime.Format(time.RFC3339) != want["update_time"] {
			t.Errorf("notification %d: bill %+v, want %v", i, b, want)
		}
	}
}

// notice builds a notification signed by key under serial at ts.
type notice struct {
	id, eventType string
	resource      any // marshalled and encrypted with apiv3Key
	apiv3Key      string
	key           *rsa.PrivateKey
	serial        string
	ts            int64
}

func (n notice) build(t testing.TB) (http.Header, []byte) {
	t.Helper()
	plain, err := json.Marshal(n.resource)
	if err != nil {
		t.Fatal(err)
	}
	key := n.apiv3Key
	if key == "" {
		key = testAPIv3Key
	}
	ct, err := apiv3.EncryptAESGCM([]byte(key), "fEdcBa098765", "mch_payment", plain)
	if err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(map[string]any{
		"id": n.id, "create_time": "2026-12-03T10:35:57+08:00", "resource_type": "encrypt-resource",
		"event_type": n.eventType, "summary": "商家转账单据终态通知",
		"resource": map[string]string{"original_type": "mch_payment", "algorithm": "AEAD_AES_256_GCM",
			"ciphertext": ct, "associated_data": "mch_payment", "nonce": "fEdcBa098765"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return sign(t, n.key, n.serial, n.ts, body), body
}

func sign(t testing.TB, key *rsa.PrivateKey, serial string, ts int64, body []byte) http.Header {
	t.Helper()
	nonce, _ := apiv3.NewNonce(nil)
	sh, err := apiv3.SignAnswer(key, serial, ts, nonce, body)
	if err != nil {
		t.Fatal(err)
	}
	sh.RequestID = "NOTIFY-1"
	h := http.Header{}
	sh.Write(h)
	return h
}

func finished(outBillNo, state string) map[string]any {
	return map[string]any{
		"out_bill_no": outBillNo, "transfer_bill_no": "1330000071100999991182020050700019480001", "state": state,
		"mch_id": testMchID, "transfer_amount": 100, "openid": "oUser1", "fail_reason": "",
		"create_time": "2026-12-03T10:34:56+08:00", "update_time": "2026-12-03T10:35:56+08:00",
	}
}

// sink records the notifications a handler delivered.
type sink struct {
	mu   sync.Mutex
	got  []*apiv3.Notification
	fail error
}

func (s *sink) fn(_ context.Context, n *apiv3.Notification) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, n)
	return s.fail
}

func (s *sink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.got)
}

type delivery struct {
	status int
	body   string
}

// serveNotifications serves tr's NotificationHandler, delivering to s,
// until the test ends.
func serveNotifications(t *testing.T, tr *apiv3.Transport, s *sink) *httptest.Server {
	t.Helper()
	h, err := tr.NotificationHandler(s.fn)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func deliver(t *testing.T, url string, h http.Header, body []byte) delivery {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return delivery{resp.StatusCode, string(b)}
}

func TestNotificationHandler(t *testing.T) {
	p := newPlatform(t) // for its config; notifications come from the test
	platformKey, other := rsaKey(t, "platform"), rsaKey(t, "other")
	now := p.clock.Now().Unix()
	genuine := notice{id: "n-1", eventType: apiv3.EventTransferBillFinished, resource: finished("bill1", "SUCCESS"),
		key: platformKey, serial: testPubKeyID, ts: now}
	gh, gb := genuine.build(t)
	second := genuine
	second.id, second.resource = "n-2", finished("bill2", "FAIL")
	_, sb := second.build(t)

	cases := []struct {
		name      string
		header    http.Header
		body      []byte
		status    int
		delivered bool
	}{
		{"genuine", gh, gb, 204, true},
		{"forged: another key", nil, nil, 401, false},
		{"replayed with another body", gh, sb, 401, false},
		{"probe", func() http.Header {
			h := gh.Clone()
			h.Set(apiv3.HeaderSignature, apiv3.ProbePrefix+h.Get(apiv3.HeaderSignature))
			return h
		}(), gb, 401, false},
		{"stale", nil, nil, 401, false},
		{"unknown serial", nil, nil, 401, false},
		{"no signature headers", http.Header{}, gb, 401, false},
		{"tampered ciphertext, signed", nil, nil, 500, false},
		{"signed, not JSON", sign(t, platformKey, testPubKeyID, now, []byte("<xml/>")), []byte("<xml/>"), 400, false},
		{"another merchant's bill", nil, nil, 400, false},
	}
	// Bodies built with their own headers.
	for i := range cases {
		c := &cases[i]
		switch c.name {
		case "forged: another key":
			n := genuine
			n.key = other
			c.header, c.body = n.build(t)
		case "stale", "unknown serial":
			n := genuine
			if c.name == "stale" {
				n.ts = now - 301
			} else {
				n.serial = "PUB_KEY_ID_1"
			}
			c.header, c.body = n.build(t)
		case "tampered ciphertext, signed":
			var env map[string]any
			json.Unmarshal(gb, &env)
			res := env["resource"].(map[string]any)
			ct := []byte(res["ciphertext"].(string))
			ct[3] ^= 0x01
			res["ciphertext"] = string(ct)
			c.body, _ = json.Marshal(env)
			c.header = sign(t, platformKey, testPubKeyID, now, c.body)
		case "another merchant's bill":
			n := genuine
			r := finished("bill1", "SUCCESS")
			r["mch_id"] = "1900000110"
			n.resource = r
			c.header, c.body = n.build(t)
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr := newTransport(t, p.config())
			var s sink
			srv := serveNotifications(t, tr, &s)
			d := deliver(t, srv.URL, c.header, c.body)
			if d.status != c.status || s.count() != map[bool]int{true: 1, false: 0}[c.delivered] {
				t.Fatalf("answered %d %q, delivered %d", d.status, d.body, s.count())
			}
			if d.status == 204 {
				if d.body != "" {
					t.Errorf("a 204 with body %q", d.body)
				}
				n := s.got[0]
				if n.ID != "n-1" || n.TransferBill == nil || n.TransferBill.OutBillNo != "bill1" || n.TransferBill.State != "SUCCESS" ||
					n.TransferBill.TransferAmount != 100 || n.Headers.Serial != testPubKeyID || n.Headers.RequestID != "NOTIFY-1" {
					t.Errorf("delivered %+v %+v", n, n.TransferBill)
				}
				return
			}
			var fail struct{ Code, Message string }
			if json.Unmarshal([]byte(d.body), &fail) != nil || fail.Code != "FAIL" || fail.Message == "" {
				t.Errorf("answer body %q", d.body)
			}
		})
	}
}

// TestNotificationHandlerFuncFails: the platform is told to resend until
// the function succeeds; a resend of the same notification is delivered
// again.
func TestNotificationHandlerFuncFails(t *testing.T) {
	p := newPlatform(t)
	tr := newTransport(t, p.config())
	s := &sink{fail: errors.New("database down")}
	srv := serveNotifications(t, tr, s)
	n := notice{id: "n-9", eventType: apiv3.EventTransferBillFinished, resource: finished("bill9", "FAIL"),
		key: rsaKey(t, "platform"), serial: testPubKeyID, ts: p.clock.Now().Unix()}
	hd, body := n.build(t)
	d := deliver(t, srv.URL, hd, body)
	if d.status != 500 || !strings.Contains(d.body, `"code":"FAIL"`) || strings.Contains(d.body, "database") {
		t.Fatalf("%d %q", d.status, d.body)
	}
	s.mu.Lock()
	s.fail = nil
	s.mu.Unlock()
	n.ts++
	hd, body = n.build(t)
	if d := deliver(t, srv.URL, hd, body); d.status != 204 || s.count() != 2 {
		t.Fatalf("resend: %d, %d deliveries", d.status, s.count())
	}
}

func TestNotificationHandlerRefusals(t *testing.T) {
	p := newPlatform(t)
	cfg := p.config()
	cfg.MaxNotificationBytes = 512
	tr := newTransport(t, cfg)
	var s sink
	srv := serveNotifications(t, tr, &s)
	n := notice{id: "n-1", eventType: apiv3.EventTransferBillFinished, resource: finished(strings.Repeat("b", 400), "SUCCESS"),
		key: rsaKey(t, "platform"), serial: testPubKeyID, ts: p.clock.Now().Unix()}
	hd, body := n.build(t)
	if d := deliver(t, srv.URL, hd, body); d.status != 413 {
		t.Errorf("a %d-byte body: %d", len(body), d.status)
	}
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 || resp.Header.Get("Allow") != "POST" {
		t.Errorf("GET: %d", resp.StatusCode)
	}
	if s.count() != 0 {
		t.Errorf("%d delivered", s.count())
	}

	// Without an APIv3 key there is no handler.
	cfg = p.config()
	cfg.APIv3Key = ""
	tr = newTransport(t, cfg)
	if _, err := tr.NotificationHandler(s.fn); err == nil || !strings.Contains(err.Error(), "APIv3Key") {
		t.Errorf("%v", err)
	}
	if _, err := tr.ParseNotification(context.Background(), hd, body); err == nil {
		t.Error("parsed without a key")
	}
}

// TestNotificationOtherEvent: another event is decrypted and delivered
// without a TransferBill.
func TestNotificationOtherEvent(t *testing.T) {
	p := newPlatform(t)
	tr := newTransport(t, p.config())
	n := notice{id: "n-5", eventType: "TRANSACTION.SUCCESS", resource: map[string]any{"out_trade_no": "x"},
		key: rsaKey(t, "platform"), serial: testPubKeyID, ts: p.clock.Now().Unix()}
	h, body := n.build(t)
	got, err := tr.ParseNotification(context.Background(), h, body)
	if err != nil {
		t.Fatal(err)
	}
	if got.TransferBill != nil || string(got.Resource) != `{"out_trade_no":"x"}` || got.OriginalType != "mch_payment" {
		t.Errorf("%+v", got)
	}
}

// TestNotificationLogs: a refused notification is logged with its reason,
// and no secret.
func TestNotificationLogs(t *testing.T) {
	p := newPlatform(t)
	var buf bytes.Buffer
	cfg := p.config()
	cfg.Logger = slog.New(slog.NewTextHandler(&buf, nil))
	tr := newTransport(t, cfg)
	var s sink
	srv := serveNotifications(t, tr, &s)
	n := notice{id: "n-1", eventType: apiv3.EventTransferBillFinished, resource: finished("b", "SUCCESS"),
		key: rsaKey(t, "other"), serial: testPubKeyID, ts: p.clock.Now().Unix()}
	hd, body := n.build(t)
	deliver(t, srv.URL, hd, body)
	out := buf.String()
	if !strings.Contains(out, "notification refused") || !strings.Contains(out, "status=401") || strings.Contains(out, testAPIv3Key) {
		t.Errorf("log %q", out)
	}
}
