package wxpaytest_test

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

// v3Vectors is testdata/v3-vectors.json: known answers computed with the
// Node SDK wechatpay-axios-plugin.
type v3Vectors struct {
	Keys struct {
		MerchantPrivateKeyPEM string `json:"merchant_private_key_pem"`
		MerchantPublicKeyPEM  string `json:"merchant_public_key_pem"`
		MerchantSerialNo      string `json:"merchant_serial_no"`
		MchID                 string `json:"mchid"`
		PlatformPrivateKeyPEM string `json:"platform_private_key_pem"`
		PlatformPublicKeyPEM  string `json:"platform_public_key_pem"`
		PlatformPublicKeyID   string `json:"platform_public_key_id"`
		APIv3Key              string `json:"apiv3_key"`
	} `json:"keys"`
	Requests []struct {
		Method, URL, Timestamp, Nonce, Body, Message, Signature, Authorization string
	} `json:"requests"`
	Responses []struct {
		Timestamp, Nonce, Serial, Body, Signature, Why string
		Valid                                          bool
	} `json:"responses"`
	AESGCM []struct {
		Key, Nonce, Plaintext, Ciphertext string
		AssociatedData                    string `json:"associated_data"`
	} `json:"aes_gcm"`
	Notifications []struct {
		Headers  map[string]string `json:"headers"`
		Body     string            `json:"body"`
		Valid    bool              `json:"valid"`
		Why      string            `json:"why"`
		Resource map[string]any    `json:"resource"`
	} `json:"notifications"`
}

func loadV3Vectors(t *testing.T) *v3Vectors {
	t.Helper()
	data, err := os.ReadFile("testdata/v3-vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v v3Vectors
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Requests) == 0 || len(v.Responses) == 0 || len(v.AESGCM) == 0 || len(v.Notifications) == 0 {
		t.Fatal("empty vector sets")
	}
	return &v
}

// vectorServer is a server holding the vectors' keys: their merchant key
// and serial, their platform key and id, their APIv3 key.
func vectorServer(t *testing.T, v *v3Vectors, clk *clock) *wxpaytest.Server {
	t.Helper()
	return wxpaytest.Start(t, wxpaytest.Options{
		MchID:          v.Keys.MchID,
		Now:            clk.Now,
		MerchantKey:    parseRSAKey(t, []byte(v.Keys.MerchantPrivateKeyPEM)),
		MerchantSerial: v.Keys.MerchantSerialNo,
		V3: wxpaytest.V3Options{
			PlatformKey: parseRSAKey(t, []byte(v.Keys.PlatformPrivateKeyPEM)),
			PublicKeyID: v.Keys.PlatformPublicKeyID,
			APIv3Key:    v.Keys.APIv3Key,
		},
	})
}

func unixTime(t *testing.T, s string) time.Time {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return time.Unix(n, 0)
}

// TestV3VectorKeys: the server built from the vectors' keys exports them.
func TestV3VectorKeys(t *testing.T) {
	v := loadV3Vectors(t)
	srv := vectorServer(t, v, newClock())
	cfg := srv.V3Config()
	if cfg.MerchantSerial != v.Keys.MerchantSerialNo || cfg.PublicKeyID != v.Keys.PlatformPublicKeyID ||
		string(cfg.PublicKeyPEM) != v.Keys.PlatformPublicKeyPEM || cfg.APIv3Key != v.Keys.APIv3Key || cfg.MchID != v.Keys.MchID {
		t.Fatalf("V3Config %+v", cfg)
	}
	if got := parseRSAKey(t, cfg.KeyPEM); !got.Equal(parseRSAKey(t, []byte(v.Keys.MerchantPrivateKeyPEM))) {
		t.Error("the merchant key is not the vectors'")
	}
}

// TestV3VectorRequests: every request vector, sent as it is over TLS with
// the server clock at its timestamp, passes the Authorization check (a
// query or cancel of an unknown bill answers 404 NOT_FOUND, the listing
// 200); the same with one byte of the body, URL or timestamp changed is
// 401 SIGN_ERROR.
func TestV3VectorRequests(t *testing.T) {
	v := loadV3Vectors(t)
	clk := newClock()
	srv := vectorServer(t, v, clk)
	c := newV3Client(t, srv, clk.Now)
	for i, rq := range v.Requests {
		clk.Set(unixTime(t, rq.Timestamp))
		var body []byte
		if rq.Body != "" {
			body = []byte(rq.Body)
		}
		r, err := c.send(context.Background(), rq.Method, rq.URL, body, rq.Authorization)
		if err != nil {
			t.Fatalf("vector %d: %v", i, err)
		}
		want := http.StatusNotFound
		if strings.HasPrefix(rq.URL, "/v3/certificates") {
			want = http.StatusOK
		}
		if r.status != want || (want == 404 && r.code() != "NOT_FOUND") {
			t.Errorf("vector %d %s %s: %d %s", i, rq.Method, rq.URL, r.status, r.body)
		}
		if want == 200 && r.verifyErr != nil {
			t.Errorf("vector %d: the answer does not verify with the vectors' public key: %v", i, r.verifyErr)
		}

		tampered := append([]byte(rq.Body), ' ')
		r, _ = c.send(context.Background(), rq.Method, rq.URL, tampered, rq.Authorization)
		if r.status != 401 || r.code() != "SIGN_ERROR" {
			t.Errorf("vector %d with another body: %d %s", i, r.status, r.body)
		}
		otherURL := rq.URL + "0"
		switch {
		case strings.HasSuffix(rq.URL, "/cancel"):
			otherURL = strings.Replace(rq.URL, "/cancel", "0/cancel", 1)
		case strings.Contains(rq.URL, "?"):
			otherURL = rq.URL + "&x=1"
		}
		r, _ = c.send(context.Background(), rq.Method, otherURL, body, rq.Authorization)
		if r.status != 401 || r.code() != "SIGN_ERROR" {
			t.Errorf("vector %d at another URL %s: %d %s", i, otherURL, r.status, r.body)
		}
		clk.Set(unixTime(t, rq.Timestamp).Add(301 * time.Second))
		r, _ = c.send(context.Background(), rq.Method, rq.URL, body, rq.Authorization)
		if r.status != 401 || !strings.Contains(r.str("message"), "5 minutes") {
			t.Errorf("vector %d 301 s later: %d %s", i, r.status, r.body)
		}
	}
}

// TestV3VectorResponses: signing each response vector's timestamp, nonce
// and body with the vectors' platform key gives the vector's signature
// exactly when the vector is valid; the test client's verdict on each
// vector is the vector's.
func TestV3VectorResponses(t *testing.T) {
	v := loadV3Vectors(t)
	clk := newClock()
	srv := vectorServer(t, v, clk)
	keys := map[string]*rsa.PublicKey{v.Keys.PlatformPublicKeyID: parsePublicKey(t, []byte(v.Keys.PlatformPublicKeyPEM))}
	for i, rv := range v.Responses {
		at := unixTime(t, rv.Timestamp)
		signed, err := srv.Sign([]byte(rv.Body), wxpaytest.SignSpec{Timestamp: at, Nonce: rv.Nonce, Serial: rv.Serial})
		if err != nil {
			t.Fatal(err)
		}
		if got := signed.Header.Get("Wechatpay-Signature"); (got == rv.Signature) != rv.Valid {
			t.Errorf("vector %d (%s): our signature equal to the vector's: %v, valid %v", i, rv.Why, got == rv.Signature, rv.Valid)
		}
		if signed.Header.Get("Wechatpay-Timestamp") != rv.Timestamp || signed.Header.Get("Wechatpay-Nonce") != rv.Nonce ||
			signed.Header.Get("Wechatpay-Serial") != rv.Serial || string(signed.Body) != rv.Body {
			t.Errorf("vector %d: headers %v", i, signed.Header)
		}
		h := http.Header{}
		h.Set("Wechatpay-Timestamp", rv.Timestamp)
		h.Set("Wechatpay-Nonce", rv.Nonce)
		h.Set("Wechatpay-Serial", rv.Serial)
		h.Set("Wechatpay-Signature", rv.Signature)
		if err := verifyWith(h, []byte(rv.Body), keys, at); (err == nil) != rv.Valid {
			t.Errorf("vector %d (%s): verdict %v, want valid %v", i, rv.Why, err, rv.Valid)
		}
	}
}

// TestV3VectorNotifications: each genuine notification vector is rebuilt
// byte for byte by CraftNotification from its decrypted resource, ids,
// times and nonces, with the same signature; the test receiver's verdict
// on every vector (signature, then decryption) is the vector's, and the
// decrypted resources are the vector's.
func TestV3VectorNotifications(t *testing.T) {
	v := loadV3Vectors(t)
	clk := newClock()
	srv := vectorServer(t, v, clk)
	keys := map[string]*rsa.PublicKey{v.Keys.PlatformPublicKeyID: parsePublicKey(t, []byte(v.Keys.PlatformPublicKeyPEM))}
	for i, nv := range v.Notifications {
		h := http.Header{}
		for k, val := range nv.Headers {
			h.Set(k, val)
		}
		at := unixTime(t, nv.Headers["Wechatpay-Timestamp"])
		err := verifyWith(h, []byte(nv.Body), keys, at)
		var res map[string]any
		if err == nil {
			_, res, err = decryptNotification(v.Keys.APIv3Key, []byte(nv.Body))
		}
		if (err == nil) != nv.Valid {
			t.Errorf("vector %d (%s): verdict %v, want valid %v", i, nv.Why, err, nv.Valid)
			continue
		}
		if !nv.Valid {
			continue
		}
		if !reflect.DeepEqual(res, nv.Resource) {
			t.Errorf("vector %d: resource %v, want %v", i, res, nv.Resource)
		}
		var env struct {
			ID         string `json:"id"`
			CreateTime string `json:"create_time"`
			Resource   struct {
				Ciphertext, Nonce string
				AssociatedData    string `json:"associated_data"`
			} `json:"resource"`
		}
		if err := json.Unmarshal([]byte(nv.Body), &env); err != nil {
			t.Fatal(err)
		}
		plain, err := gcmOpen(v.Keys.APIv3Key, env.Resource.Nonce, env.Resource.AssociatedData, env.Resource.Ciphertext)
		if err != nil {
			t.Fatal(err)
		}
		created, err := time.Parse(time.RFC3339, env.CreateTime)
		if err != nil {
			t.Fatal(err)
		}
		n, err := srv.CraftNotification(wxpaytest.NotificationSpec{
			Resource: plain, ID: env.ID, CreateTime: created, Nonce: env.Resource.Nonce,
			SignSpec: wxpaytest.SignSpec{Timestamp: at, Nonce: nv.Headers["Wechatpay-Nonce"], Serial: nv.Headers["Wechatpay-Serial"]},
		})
		if err != nil {
			t.Fatal(err)
		}
		if string(n.Body) != nv.Body {
			t.Errorf("vector %d: body\n%s\nwant\n%s", i, n.Body, nv.Body)
		}
		for _, k := range []string{"Wechatpay-Signature", "Wechatpay-Timestamp", "Wechatpay-Nonce", "Wechatpay-Serial", "Wechatpay-Signature-Type"} {
			if n.Header.Get(k) != nv.Headers[k] {
				t.Errorf("vector %d: %s %q, want %q", i, k, n.Header.Get(k), nv.Headers[k])
			}
		}
	}
}

// TestV3VectorAESGCM: encrypting each AES-GCM vector's plaintext with its
// nonce and associated data, through a notification's resource, gives its
// ciphertext.
func TestV3VectorAESGCM(t *testing.T) {
	v := loadV3Vectors(t)
	srv := vectorServer(t, v, newClock())
	for i, av := range v.AESGCM {
		if av.Key != v.Keys.APIv3Key {
			t.Fatalf("vector %d uses another key", i)
		}
		if av.AssociatedData == "" || av.Plaintext == "" {
			continue // the internal test covers empty associated data and plaintext
		}
		n, err := srv.CraftNotification(wxpaytest.NotificationSpec{
			Resource: []byte(av.Plaintext), Nonce: av.Nonce, AssociatedData: av.AssociatedData,
		})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(n.Body), `"ciphertext":"`+av.Ciphertext+`"`) {
			t.Errorf("vector %d: %s, want ciphertext %s", i, n.Body, av.Ciphertext)
		}
		if got, err := gcmOpen(av.Key, av.Nonce, av.AssociatedData, av.Ciphertext); err != nil || string(got) != av.Plaintext {
			t.Errorf("vector %d: the test decrypter: %q %v", i, got, err)
		}
	}
}
