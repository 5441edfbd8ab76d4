package apiv3_test

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/hongbao-go/hongbao/apiv3"
)

// vectors is testdata/v3-vectors.json: known answers computed with another
// implementation of the protocol.
type vectors struct {
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
		Resource json.RawMessage   `json:"resource"`
	} `json:"notifications"`
}

// loadVectors reads the vectors from data, or from the file when data is
// nil. t may be nil (examples): a failure then panics.
func loadVectors(t testing.TB, data ...[]byte) *vectors {
	fail := func(err error) {
		if t == nil {
			panic(err)
		}
		t.Helper()
		t.Fatal(err)
	}
	var raw []byte
	if len(data) > 0 {
		raw = data[0]
	} else {
		var err error
		if raw, err = os.ReadFile("testdata/v3-vectors.json"); err != nil {
			fail(err)
		}
	}
	v := new(vectors)
	if err := json.Unmarshal(raw, v); err != nil {
		fail(err)
	}
	if len(v.Requests) == 0 || len(v.Responses) == 0 || len(v.AESGCM) == 0 || len(v.Notifications) == 0 {
		fail(errors.New("a section of the vectors is empty"))
	}
	return v
}

// mustRSAPrivate parses a PKCS#8 PEM key; t may be nil (examples).
func mustRSAPrivate(t testing.TB, s string) *rsa.PrivateKey {
	b, _ := pem.Decode([]byte(s))
	if b == nil {
		panic("no PEM block")
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		if t == nil {
			panic(err)
		}
		t.Fatal(err)
	}
	return k.(*rsa.PrivateKey)
}

func mustTimestamp(t testing.TB, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestVectorRequests(t *testing.T) {
	v := loadVectors(t)
	s := &apiv3.Signer{MchID: v.Keys.MchID, Serial: v.Keys.MerchantSerialNo, Key: mustRSAPrivate(t, v.Keys.MerchantPrivateKeyPEM)}
	for i, r := range v.Requests {
		ts := mustTimestamp(t, r.Timestamp)
		var body []byte
		if r.Body != "" {
			body = []byte(r.Body)
		}
		if got := string(apiv3.RequestMessage(r.Method, r.URL, ts, r.Nonce, body)); got != r.Message {
			t.Errorf("request %d: message\n got %q\nwant %q", i, got, r.Message)
		}
		sig, err := apiv3.SignMessage(s.Key, []byte(r.Message))
		if err != nil || sig != r.Signature {
			t.Errorf("request %d: signature %q, %v; want %q", i, sig, err, r.Signature)
		}
		auth, err := s.Authorization(r.Method, r.URL, body, ts, r.Nonce)
		if err != nil || auth != r.Authorization {
			t.Errorf("request %d: Authorization\n got %q, %v\nwant %q", i, auth, err, r.Authorization)
		}
		a, err := apiv3.ParseAuthorization(r.Authorization)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		want := apiv3.AuthorizationHeader{MchID: v.Keys.MchID, Serial: v.Keys.MerchantSerialNo, Timestamp: ts, Nonce: r.Nonce, Signature: r.Signature}
		if a != want {
			t.Errorf("request %d: parsed %+v, want %+v", i, a, want)
		}
		// The platform checks the signature with the merchant's public
		// key over the message it rebuilds.
		pub := &s.Key.PublicKey
		if err := apiv3.VerifySignature(pub, apiv3.RequestMessage(r.Method, r.URL, a.Timestamp, a.Nonce, body), a.Signature); err != nil {
			t.Errorf("request %d: own signature does not verify: %v", i, err)
		}
		if err := apiv3.VerifySignature(pub, apiv3.RequestMessage(r.Method, r.URL+"x", a.Timestamp, a.Nonce, body), a.Signature); !errors.Is(err, apiv3.ErrSignature) {
			t.Errorf("request %d: a changed URL verifies: %v", i, err)
		}
	}
}

func TestVectorResponses(t *testing.T) {
	v := loadVectors(t)
	pub, err := apiv3.ParsePublicKeyPEM([]byte(v.Keys.PlatformPublicKeyPEM))
	if err != nil {
		t.Fatal(err)
	}
	valid := 0
	for i, r := range v.Responses {
		if r.Serial != v.Keys.PlatformPublicKeyID {
			t.Fatalf("response %d: serial %s", i, r.Serial)
		}
		err := apiv3.VerifySignature(pub, apiv3.ResponseMessage(mustTimestamp(t, r.Timestamp), r.Nonce, []byte(r.Body)), r.Signature)
		if (err == nil) != r.Valid {
			t.Errorf("response %d (%s): verdict %v", i, r.Why, err)
		}
		if err != nil && !errors.Is(err, apiv3.ErrUnverified) {
			t.Errorf("response %d: %v does not match ErrUnverified", i, err)
		}
		if strings.HasPrefix(r.Signature, apiv3.ProbePrefix) != errors.Is(err, apiv3.ErrProbe) {
			t.Errorf("response %d (%s): probe verdict %v", i, r.Why, err)
		}
		if r.Valid {
			valid++
		}
	}
	if valid == 0 || valid == len(v.Responses) {
		t.Fatalf("%d of %d response vectors valid: both verdicts must be covered", valid, len(v.Responses))
	}
}

func TestVectorAESGCM(t *testing.T) {
	v := loadVectors(t)
	for i, c := range v.AESGCM {
		plain, err := apiv3.DecryptAESGCM([]byte(c.Key), c.Nonce, c.AssociatedData, c.Ciphertext)
		if err != nil || string(plain) != c.Plaintext {
			t.Errorf("vector %d: decrypted %q, %v; want %q", i, plain, err, c.Plaintext)
		}
		ct, err := apiv3.EncryptAESGCM([]byte(c.Key), c.Nonce, c.AssociatedData, []byte(c.Plaintext))
		if err != nil || ct != c.Ciphertext {
			t.Errorf("vector %d: encrypted %q, %v; want %q", i, ct, err, c.Ciphertext)
		}
		// Any change to the nonce, the associated data or the
		// ciphertext fails the tag.
		if _, err := apiv3.DecryptAESGCM([]byte(c.Key), c.Nonce, c.AssociatedData+"x", c.Ciphertext); !errors.Is(err, apiv3.ErrDecrypt) {
			t.Errorf("vector %d: altered associated data: %v", i, err)
		}
		alt := []byte(c.Nonce)
		alt[0] ^= 1
		if _, err := apiv3.DecryptAESGCM([]byte(c.Key), string(alt), c.AssociatedData, c.Ciphertext); !errors.Is(err, apiv3.ErrDecrypt) {
			t.Errorf("vector %d: altered nonce: %v", i, err)
		}
		other := []byte(c.Key)
		other[5] ^= 1
		if _, err := apiv3.DecryptAESGCM(other, c.Nonce, c.AssociatedData, c.Ciphertext); !errors.Is(err, apiv3.ErrDecrypt) {
			t.Errorf("vector %d: another key: %v", i, err)
		}
	}
	if _, err := apiv3.DecryptAESGCM([]byte("short"), "123456789012", "", "AAAA"); err == nil || errors.Is(err, apiv3.ErrDecrypt) {
		t.Errorf("a 5-byte key: %v", err)
	}
	key := []byte(v.AESGCM[0].Key)
	for _, bad := range []struct{ nonce, ct string }{
		{"short", v.AESGCM[0].Ciphertext},
		{v.AESGCM[0].Nonce, "not base64!"},
		{v.AESGCM[0].Nonce, "AAAA"},
	} {
		if _, err := apiv3.DecryptAESGCM(key, bad.nonce, "", bad.ct); !errors.Is(err, apiv3.ErrDecrypt) {
			t.Errorf("nonce %q ciphertext %q: %v", bad.nonce, bad.ct, err)
		}
	}
}
