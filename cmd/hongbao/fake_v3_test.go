package main

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestFakeAPIv3: the printed lines alone let a client sign APIv3 calls
// (with the merchant key and the certificate's serial), verify the
// answers (with the public key file and id), let the user confirm through
// the test-only endpoint, and read the notification with the APIv3 key.
func TestFakeAPIv3(t *testing.T) {
	notes := make(chan []byte, 4)
	var noteHeader http.Header
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		noteHeader = r.Header.Clone()
		notes <- b
		w.WriteHeader(http.StatusNoContent)
	}))
	defer receiver.Close()
	env, stderr, _ := startFake(t, "-addr", "127.0.0.1:0", "-login-addr", "127.0.0.1:0", "-apiv3-key", strings.Repeat("v", 32), "-notify-url", receiver.URL+"/notify")
	if env[envAPIv3Key] != strings.Repeat("v", 32) || !strings.HasPrefix(env[envPublicKeyID], "PUB_KEY_ID_") {
		t.Fatalf("variables %v", env)
	}
	for _, want := range []string{env[envPublicKeyID], "/wxpaytest/request-merchant-transfer", "APIv3"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}

	read := func(path string) []byte {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	block, _ := pem.Decode(read(env[envCertFile]))
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	serial := fmt.Sprintf("%X", cert.SerialNumber)
	block, _ = pem.Decode(read(env[envKeyFile]))
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	key := k.(*rsa.PrivateKey)
	block, _ = pem.Decode(read(env[envPublicKeyFile]))
	pk, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pub := pk.(*rsa.PublicKey)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(read(env[envCAFile]))
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}, Timeout: 10 * time.Second}
	defer hc.CloseIdleConnections()

	verify := func(h http.Header, body []byte) error {
		if h.Get("Wechatpay-Serial") != env[envPublicKeyID] {
			return fmt.Errorf("Wechatpay-Serial %q", h.Get("Wechatpay-Serial"))
		}
		sig, err := base64.StdEncoding.DecodeString(h.Get("Wechatpay-Signature"))
		if err != nil {
			return err
		}
		sum := sha256.Sum256([]byte(h.Get("Wechatpay-Timestamp") + "\n" + h.Get("Wechatpay-Nonce") + "\n" + string(body) + "\n"))
		return rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig)
	}
	call := func(method, uri string, body []byte) (int, map[string]any) {
		t.Helper()
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		nonce := "n0nce" + strconv.FormatInt(time.Now().UnixNano(), 10)
		sum := sha256.Sum256([]byte(method + "\n" + uri + "\n" + ts + "\n" + nonce + "\n" + string(body) + "\n"))
		sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(method, env[envBaseURL]+uri, bytes.NewReader(body))
		req.Header.Set("Authorization", fmt.Sprintf(`WECHATPAY2-SHA256-RSA2048 mchid="%s",nonce_str="%s",timestamp="%s",serial_no="%s",signature="%s"`,
			env[envMchID], nonce, ts, serial, base64.StdEncoding.EncodeToString(sig)))
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		if resp.StatusCode == http.StatusOK {
			if err := verify(resp.Header, data); err != nil {
				t.Fatalf("%s %s: the answer does not verify with %s: %v", method, uri, envPublicKeyFile, err)
			}
		}
		var out map[string]any
		json.Unmarshal(data, &out)
		return resp.StatusCode, out
	}

	body, _ := json.Marshal(map[string]any{
		"appid": env[envAppID], "out_bill_no": "FAKE1", "openid": "oFakeUser", "transfer_amount": 100,
		"transfer_remark": "demo", "transfer_scene_id": "1000", "user_recv_style": map[string]string{"type": "RED_PACKET"},
		"transfer_scene_report_infos": []map[string]string{{"info_type": "活动名称", "info_content": "demo"}, {"info_type": "奖励说明", "info_content": "demo"}},
	})
	status, created := call(http.MethodPost, "/v3/fund-app/mch-transfer/transfer-bills", body)
	if status != 200 || created["state"] != "WAIT_USER_CONFIRM" || created["package_info"] == "" {
		t.Fatalf("create: %d %v", status, created)
	}

	page, _ := json.Marshal(map[string]string{"mchId": env[envMchID], "appId": env[envAppID], "package": created["package_info"].(string), "openId": "oFakeUser"})
	resp, err := hc.Post(env[envBaseURL]+"/wxpaytest/request-merchant-transfer", "application/json", bytes.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("confirmation: %d", resp.StatusCode)
	}
	if status, q := call(http.MethodGet, "/v3/fund-app/mch-transfer/transfer-bills/out-bill-no/FAKE1", nil); status != 200 || q["state"] != "SUCCESS" {
		t.Fatalf("query: %d %v", status, q)
	}
	if status, q := call(http.MethodGet, "/v3/fund-app/mch-transfer/transfer-bills/out-bill-no/NOPE", nil); status != 404 || q["code"] != "NOT_FOUND" {
		t.Fatalf("unknown bill: %d %v", status, q)
	}

	select {
	case note := <-notes:
		if err := verify(noteHeader, note); err != nil {
			t.Fatalf("notification: %v", err)
		}
		var n struct {
			Resource struct {
				Ciphertext     string `json:"ciphertext"`
				Nonce          string `json:"nonce"`
				AssociatedData string `json:"associated_data"`
			} `json:"resource"`
		}
		if err := json.Unmarshal(note, &n); err != nil || n.Resource.AssociatedData != "mch_payment" {
			t.Fatalf("notification %s: %v", note, err)
		}
		res := n.Resource
		block, _ := aes.NewCipher([]byte(env[envAPIv3Key]))
		g, _ := cipher.NewGCM(block)
		ct, _ := base64.StdEncoding.DecodeString(res.Ciphertext)
		plain, err := g.Open(nil, []byte(res.Nonce), ct, []byte(res.AssociatedData))
		if err != nil || !strings.Contains(string(plain), `"state":"SUCCESS"`) || !strings.Contains(string(plain), `"out_bill_no":"FAKE1"`) {
			t.Fatalf("resource %q %v", plain, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no notification at -notify-url")
	}
}
