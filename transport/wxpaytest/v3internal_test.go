package wxpaytest

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"
)

type internalVectors struct {
	Keys struct {
		MerchantSerialNo string `json:"merchant_serial_no"`
		MchID            string `json:"mchid"`
		APIv3Key         string `json:"apiv3_key"`
	} `json:"keys"`
	Requests []struct {
		Method, URL, Timestamp, Nonce, Body, Message, Signature, Authorization string
	} `json:"requests"`
	AESGCM []struct {
		Key, Nonce, Plaintext, Ciphertext string
		AssociatedData                    string `json:"associated_data"`
	} `json:"aes_gcm"`
}

func readInternalVectors(t *testing.T) *internalVectors {
	t.Helper()
	data, err := os.ReadFile("testdata/v3-vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v internalVectors
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	return &v
}

// TestRequestVectorsParsed: the server builds each request vector's
// message, and parses its Authorization into the vector's parts.
func TestRequestVectorsParsed(t *testing.T) {
	v := readInternalVectors(t)
	for i, rq := range v.Requests {
		if got := string(requestMessage(rq.Method, rq.URL, rq.Timestamp, rq.Nonce, []byte(rq.Body))); got != rq.Message {
			t.Errorf("vector %d: message %q, want %q", i, got, rq.Message)
		}
		a, err := parseAuthorization(rq.Authorization)
		if err != nil {
			t.Fatalf("vector %d: %v", i, err)
		}
		if a.mchid != v.Keys.MchID || a.serial != v.Keys.MerchantSerialNo || a.timestamp != rq.Timestamp ||
			a.nonce != rq.Nonce || a.signature != rq.Signature {
			t.Errorf("vector %d: parsed %+v", i, a)
		}
	}
}

// TestAESGCMVectors: every AES-GCM vector, empty plaintext and empty
// associated data included, encrypts to its ciphertext.
func TestAESGCMVectors(t *testing.T) {
	v := readInternalVectors(t)
	srv, err := NewServer(Options{V3: V3Options{APIv3Key: v.Keys.APIv3Key}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	for i, av := range v.AESGCM {
		got, err := srv.v3.seal(av.Nonce, av.AssociatedData, []byte(av.Plaintext))
		if err != nil || got != av.Ciphertext {
			t.Errorf("vector %d: %q %v, want %q", i, got, err, av.Ciphertext)
		}
	}
	if _, err := srv.v3.seal("short", "", nil); err == nil {
		t.Error("a short nonce was taken")
	}
}

// TestV3OptionsRefused: every bad setting is an error of NewServer that
// names it.
func TestV3OptionsRefused(t *testing.T) {
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		opts Options
		want string
	}{
		{Options{V3: V3Options{APIv3Key: "short"}}, "APIv3Key"},
		{Options{V3: V3Options{PublicKeyID: "PUB_KEY_ID_12a"}}, "PublicKeyID"},
		{Options{V3: V3Options{PublicKeyID: "KEY_1"}}, "PublicKeyID"},
		{Options{V3: V3Options{Trust: Trust(7)}}, "Trust"},
		{Options{V3: V3Options{CloseAfter: -1}}, "negative"},
		{Options{V3: V3Options{RequestsPerSecond: -1}}, "negative"},
		{Options{V3: V3Options{NotifySchedule: []time.Duration{}}}, "NotifySchedule"},
		{Options{V3: V3Options{NotifySchedule: []time.Duration{-1}}}, "NotifySchedule"},
		{Options{V3: V3Options{NotifyURL: "https://example.com/n?x=1"}}, "NotifyURL"},
		{Options{V3: V3Options{PlatformKey: small}}, "PlatformKey"},
		{Options{MerchantKey: small}, "MerchantKey"},
		{Options{MerchantSerial: "XYZ"}, "MerchantSerial"},
		{Options{MerchantSerial: "-1"}, "MerchantSerial"},
	} {
		srv, err := NewServer(c.opts)
		if err == nil {
			srv.Close()
			t.Errorf("%+v accepted", c.opts)
			continue
		}
		if !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "wxpaytest: ") {
			t.Errorf("error %q, want it to name %s", err, c.want)
		}
	}
}

// FuzzParseAuthorization: the parser never panics, and what it accepts it
// accepts again once written back in another order.
func FuzzParseAuthorization(f *testing.F) {
	v := struct {
		Requests []struct{ Authorization string } `json:"requests"`
	}{}
	if data, err := os.ReadFile("testdata/v3-vectors.json"); err == nil {
		json.Unmarshal(data, &v)
	}
	for _, rq := range v.Requests {
		f.Add(rq.Authorization)
	}
	f.Add(`WECHATPAY2-SHA256-RSA2048 mchid="1",nonce_str="a",serial_no="B",timestamp="1",signature="x"`)
	f.Add(`WECHATPAY2-SHA256-RSA2048 mchid="1",`)
	f.Add(`WECHATPAY2-SHA256-RSA2048 ="1"`)
	f.Add(`WECHATPAY2-SHA256-RSA2048 a="`)
	f.Fuzz(func(t *testing.T, h string) {
		a, err := parseAuthorization(h)
		if err != nil {
			return
		}
		for _, p := range []string{a.mchid, a.nonce, a.serial, a.timestamp, a.signature} {
			if p == "" || strings.Contains(p, `"`) {
				t.Fatalf("accepted %q with a part %q", h, p)
			}
		}
		again := AuthScheme + ` signature="` + a.signature + `",timestamp="` + a.timestamp + `",serial_no="` + a.serial +
			`",nonce_str="` + a.nonce + `",mchid="` + a.mchid + `"`
		b, err := parseAuthorization(again)
		if err != nil || b != a {
			t.Fatalf("%q parsed as %+v, reordered as %+v (%v)", h, a, b, err)
		}
	})
}
