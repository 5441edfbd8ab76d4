package wxpaytest_test

import (
	"context"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

// A notification receiver under test gets a genuine notification, a
// forged one and a probe. This receiver verifies with the WeChat Pay
// public key and decrypts with the APIv3 key, in a few lines of the
// standard library (a real one also checks the timestamp's age).
func ExampleServer_CraftNotification() {
	srv, err := wxpaytest.NewServer(wxpaytest.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	block, _ := pem.Decode(srv.PublicKeyPEM())
	key, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		fmt.Println(err)
		return
	}
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		sig, _ := base64.StdEncoding.DecodeString(r.Header.Get("Wechatpay-Signature"))
		sum := sha256.Sum256([]byte(r.Header.Get("Wechatpay-Timestamp") + "\n" + r.Header.Get("Wechatpay-Nonce") + "\n" + string(body) + "\n"))
		if r.Header.Get("Wechatpay-Serial") != srv.PublicKeyID() || rsa.VerifyPKCS1v15(key.(*rsa.PublicKey), crypto.SHA256, sum[:], sig) != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var n struct {
			Resource struct {
				Ciphertext     string `json:"ciphertext"`
				Nonce          string `json:"nonce"`
				AssociatedData string `json:"associated_data"`
			} `json:"resource"`
		}
		json.Unmarshal(body, &n)
		b, _ := aes.NewCipher([]byte(srv.APIv3Key()))
		gcm, _ := cipher.NewGCM(b)
		ct, _ := base64.StdEncoding.DecodeString(n.Resource.Ciphertext)
		if _, err := gcm.Open(nil, []byte(n.Resource.Nonce), ct, []byte(n.Resource.AssociatedData)); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer receiver.Close()

	resource := []byte(`{"out_bill_no":"B1","transfer_bill_no":"1330000071100999991182020050700019480001","state":"SUCCESS",` +
		`"mch_id":"1900000109","transfer_amount":100,"openid":"oUser","fail_reason":"",` +
		`"create_time":"2026-12-03T10:34:56+08:00","update_time":"2026-12-03T10:35:56+08:00"}`)
	for _, sig := range []wxpaytest.Signature{wxpaytest.SignGenuine, wxpaytest.SignForged, wxpaytest.SignProbe} {
		n, err := srv.CraftNotification(wxpaytest.NotificationSpec{
			Resource: resource,
			SignSpec: wxpaytest.SignSpec{Signature: sig, Timestamp: time.Now()},
		})
		if err != nil {
			fmt.Println(err)
			return
		}
		req, err := n.NewRequest(context.Background(), receiver.URL)
		if err != nil {
			fmt.Println(err)
			return
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		resp.Body.Close()
		fmt.Println(sig, resp.StatusCode)
	}
	// Output:
	// SignGenuine 204
	// SignForged 401
	// SignProbe 401
}
