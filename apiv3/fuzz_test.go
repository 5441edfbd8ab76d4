package apiv3_test

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/hongbao-go/hongbao/apiv3"
)

// FuzzParseAuthorization: any input parses or fails without panicking;
// what parses formats back to a header that parses to the same values.
func FuzzParseAuthorization(f *testing.F) {
	for _, r := range loadVectors(f).Requests {
		f.Add(r.Authorization)
	}
	f.Add(`WECHATPAY2-SHA256-RSA2048 signature="c2ln",nonce_str="n", timestamp="1",serial_no="AB" ,mchid="1"`)
	f.Add(`WECHATPAY2-SHA256-RSA2048 mchid="1",mchid="1"`)
	f.Add(`WECHATPAY2-SHA256-RSA2048	mchid=1`)
	f.Add(`WECHATPAY2-SHA256-RSA2048 mchid="1",serial_no="A",timestamp="01",nonce_str="n",signature="s"`)
	f.Add(`WECHATPAY2-SHA256-RSA2048 mchid="`)
	f.Fuzz(func(t *testing.T, v string) {
		a, err := apiv3.ParseAuthorization(v)
		if err != nil {
			if !errors.Is(err, apiv3.ErrAuthorization) {
				t.Fatalf("%v does not match ErrAuthorization", err)
			}
			return
		}
		if a.MchID == "" || a.Serial == "" || a.Nonce == "" || a.Signature == "" || a.Timestamp < 0 {
			t.Fatalf("parsed %+v from %q", a, v)
		}
		b, err := apiv3.ParseAuthorization(apiv3.FormatAuthorization(a))
		if err != nil || b != a {
			t.Fatalf("round trip of %+v: %+v, %v", a, b, err)
		}
	})
}

// FuzzParseSignatureHeaders: any header values parse or fail without
// panicking (ErrHeaders); what parses is written back and parses the same.
func FuzzParseSignatureHeaders(f *testing.F) {
	v := loadVectors(f)
	for _, r := range v.Responses {
		f.Add(r.Timestamp, r.Nonce, r.Signature, r.Serial, apiv3.SchemeRSA)
	}
	pub, err := apiv3.ParsePublicKeyPEM([]byte(v.Keys.PlatformPublicKeyPEM))
	if err != nil {
		f.Fatal(err)
	}
	f.Add("0", "n", "s", "PUB_KEY_ID_1", "")
	f.Add("-1", "", "s", "x", "WECHATPAY2-SM2-WITH-SM3")
	f.Add("99999999999999999999", "n n", "s", "x\x00", "")
	f.Fuzz(func(t *testing.T, ts, nonce, sig, serial, typ string) {
		h := http.Header{}
		for k, v := range map[string]string{apiv3.HeaderTimestamp: ts, apiv3.HeaderNonce: nonce, apiv3.HeaderSignature: sig, apiv3.HeaderSerial: serial, apiv3.HeaderSignatureType: typ} {
			if v != "" {
				h[k] = []string{v}
			}
		}
		s, err := apiv3.ParseSignatureHeaders(h)
		if err != nil {
			if !errors.Is(err, apiv3.ErrHeaders) || !errors.Is(err, apiv3.ErrUnverified) {
				t.Fatalf("%v does not match ErrHeaders", err)
			}
			if !utf8.ValidString(err.Error()) && utf8.ValidString(ts) {
				t.Fatalf("invalid UTF-8 in %q", err)
			}
			return
		}
		if strconv.FormatInt(s.Timestamp, 10) != ts || s.Nonce != nonce || s.Signature != sig || s.Serial != serial {
			t.Fatalf("parsed %+v from %q %q %q %q", s, ts, nonce, sig, serial)
		}
		h2 := http.Header{}
		s.Write(h2)
		s2, err := apiv3.ParseSignatureHeaders(h2)
		if err != nil || s2 != s {
			t.Fatalf("round trip: %+v, %v", s2, err)
		}
		// A signature over another body never verifies.
		err = apiv3.VerifySignature(pub, apiv3.ResponseMessage(s.Timestamp, s.Nonce, []byte("a body nobody signed")), s.Signature)
		if err == nil {
			t.Fatalf("signature %q verified", sig)
		}
		if !errors.Is(err, apiv3.ErrUnverified) {
			t.Fatalf("%v does not match ErrUnverified", err)
		}
	})
}

// fuzzTransport is a public-key mode Transport with the vectors' keys
// (generating keys in every fuzz worker would be slow) and a clock that
// stands still, and the platform key that signs for it.
func fuzzTransport(t testing.TB) (*apiv3.Transport, *rsa.PrivateKey) {
	k := loadVectors(t).Keys
	return newTransport(t, apiv3.Config{
		MchID:        testMchID,
		KeyPEM:       []byte(k.MerchantPrivateKeyPEM),
		CertSerial:   k.MerchantSerialNo,
		APIv3Key:     testAPIv3Key,
		PublicKeyID:  testPubKeyID,
		PublicKeyPEM: []byte(k.PlatformPublicKeyPEM),
		Now:          func() time.Time { return time.Unix(1800000000, 0) },
	}), mustRSAPrivate(t, k.PlatformPrivateKeyPEM)
}

// FuzzParseNotification feeds notification bodies, signed by the platform
// key so that the parser behind the verification is reached: no panic;
// every failure is typed; a success carries what the bill requires.
func FuzzParseNotification(f *testing.F) {
	for _, n := range loadVectors(f).Notifications {
		f.Add([]byte(n.Body))
	}
	tr, key := fuzzTransport(f)
	_, genuine := notice{id: "n-1", eventType: apiv3.EventTransferBillFinished, resource: finished("bill1", "SUCCESS"),
		key: key, serial: testPubKeyID, ts: 1800000000}.build(f)
	f.Add(genuine)
	f.Add([]byte(`{"id":"x","event_type":"E","resource_type":"encrypt-resource","create_time":"2026-01-01T00:00:00Z","resource":{"algorithm":"AEAD_AES_256_GCM","nonce":"123456789012","ciphertext":""}}`))
	f.Add([]byte(`{"id":"x"} {}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, body []byte) {
		h := sign(t, key, testPubKeyID, 1800000000, body)
		n, err := tr.ParseNotification(context.Background(), h, body)
		if err != nil {
			if !errors.Is(err, apiv3.ErrNotification) && !errors.Is(err, apiv3.ErrDecrypt) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if n.ID == "" || n.EventType == "" || n.CreateTime.IsZero() || n.ResourceType != apiv3.ResourceTypeEncrypted {
			t.Fatalf("%+v", n)
		}
		if (n.EventType == apiv3.EventTransferBillFinished) != (n.TransferBill != nil) {
			t.Fatalf("event %s with bill %v", n.EventType, n.TransferBill)
		}
		if b := n.TransferBill; b != nil && (b.OutBillNo == "" || b.State == "" || b.TransferAmount < 0 || b.MchID != "" && b.MchID != testMchID) {
			t.Fatalf("bill %+v", b)
		}
		// The same body with another signature is refused.
		h.Set(apiv3.HeaderSignature, apiv3.ProbePrefix+h.Get(apiv3.HeaderSignature))
		if _, err := tr.ParseNotification(context.Background(), h, body); !errors.Is(err, apiv3.ErrProbe) {
			t.Fatalf("probe: %v", err)
		}
	})
}

// FuzzNotificationResource feeds decrypted resources of
// MCHTRANSFER.BILL.FINISHED, encrypted and signed as the platform would.
func FuzzNotificationResource(f *testing.F) {
	for _, n := range loadVectors(f).Notifications {
		if n.Resource != nil && string(n.Resource) != "null" {
			f.Add([]byte(n.Resource))
		}
	}
	f.Add([]byte(`{"out_bill_no":"a","state":"FAIL","transfer_amount":-1}`))
	f.Add([]byte(`{"out_bill_no":"a","state":"FAIL","create_time":"yesterday"}`))
	f.Add([]byte(`{"out_bill_no":"a","state":"FAIL","transfer_amount":1e400}`))
	tr, key := fuzzTransport(f)
	f.Fuzz(func(t *testing.T, plain []byte) {
		ct, err := apiv3.EncryptAESGCM([]byte(testAPIv3Key), "fEdcBa098765", "mch_payment", plain)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := json.Marshal(map[string]any{
			"id": "n", "create_time": "2026-12-03T10:35:57+08:00", "resource_type": "encrypt-resource",
			"event_type": apiv3.EventTransferBillFinished,
			"resource":   map[string]string{"algorithm": "AEAD_AES_256_GCM", "ciphertext": ct, "associated_data": "mch_payment", "nonce": "fEdcBa098765"},
		})
		n, err := tr.ParseNotification(context.Background(), sign(t, key, testPubKeyID, 1800000000, body), body)
		if err != nil {
			if !errors.Is(err, apiv3.ErrNotification) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if b := n.TransferBill; b == nil || b.OutBillNo == "" || b.State == "" || b.TransferAmount < 0 || string(n.Resource) != string(plain) {
			t.Fatalf("%+v %+v", n, b)
		}
	})
}
