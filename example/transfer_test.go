package main

import (
	"context"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hongbao-go/hongbao"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

// transferAnswer is the claim's answer on the transfer rail.
type transferAnswer struct {
	Rail    string `json:"rail"`
	MchID   string `json:"mchId"`
	AppID   string `json:"appId"`
	Package string `json:"package"`
}

// checkTransferClaim checks a 200 answer with exactly the rail's name and
// the three fields of wx.requestMerchantTransfer.
func checkTransferClaim(t *testing.T, resp *http.Response, body []byte, mchID, appID string) transferAnswer {
	t.Helper()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("claim: status %d, want 200; body %s", resp.StatusCode, body)
	}
	var fields map[string]any
	if err := json.Unmarshal(body, &fields); err != nil {
		t.Fatalf("claim body %s: %v", body, err)
	}
	var a transferAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatal(err)
	}
	if len(fields) != 4 || a.Rail != railTransfer || a.MchID != mchID || a.AppID != appID || a.Package == "" {
		t.Fatalf("answer %s, want {rail: transfer, mchId: %s, appId: %s, package}", body, mchID, appID)
	}
	return a
}

// wantStatus checks an error answer's status and code.
func wantStatus(t *testing.T, resp *http.Response, body []byte, status int, code string) {
	t.Helper()
	var e struct{ Code string }
	_ = json.Unmarshal(body, &e)
	if resp.StatusCode != status || e.Code != code {
		t.Fatalf("status %d %s, want %d %s", resp.StatusCode, body, status, code)
	}
}

// until polls f every 10 ms for 10 s.
func until(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10 s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var confirmLine = regexp.MustCompile(`(?m)^curl -s -X POST -H 'Content-Type: application/json' -d "\$ANSWER" (http://\S+/demo/confirm)$`)

// The demo on the transfer rail, as its printed commands go: the claim is
// answered a transfer bill's package; a repeat tap the same package; the
// confirm step (the demo platform confirming on the user's behalf) is
// followed by the platform's notification, after which a tap is answered
// already_received. The bill is created once, and the budget commits it
// once confirmed.
func TestTransferDemo(t *testing.T) {
	base, out := start(t, map[string]string{envRail: railTransfer, envBudgetPackets: "5"})
	text := out.String()
	for _, want := range []string{"DEMO MODE", "transfer bills shown as red packets", "ANSWER=$(curl", "/hongbao/notify"} {
		if !strings.Contains(text, want) {
			t.Errorf("the output lacks %q:\n%s", want, text)
		}
	}
	m := confirmLine.FindStringSubmatch(text)
	if m == nil || m[1] != base+demoConfirmPath {
		t.Fatalf("no confirm step for %s in the output:\n%s", base, text)
	}
	token := demoTokenOf(t, text)

	resp, body := do(t, http.MethodPost, base+claimPath, token, `{"scene":1047}`)
	first := checkTransferClaim(t, resp, body, wxpaytest.DefaultMchID, wxpaytest.DefaultAppID)
	resp, body = do(t, http.MethodPost, base+claimPath, token, `{"scene":1047}`)
	if again := checkTransferClaim(t, resp, body, wxpaytest.DefaultMchID, wxpaytest.DefaultAppID); again.Package != first.Package {
		t.Errorf("a repeat tap answered another package: %q, then %q", first.Package, again.Package)
	}

	// The confirm step, with another user's openid: refused, nothing moves.
	wrong, _ := json.Marshal(map[string]string{"mchId": first.MchID, "appId": first.AppID, "package": first.Package, "openId": "oSomeoneElse"})
	resp, body = do(t, http.MethodPost, m[1], "", string(wrong))
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "requestMerchantTransfer:fail") {
		t.Errorf("confirming as another user: %d %s", resp.StatusCode, body)
	}
	resp, body = do(t, http.MethodPost, base+claimPath, token, `{"scene":1047}`)
	checkTransferClaim(t, resp, body, wxpaytest.DefaultMchID, wxpaytest.DefaultAppID)

	// The confirm step as printed: the answer as it is.
	resp, body = do(t, http.MethodPost, m[1], "", string(body))
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"errMsg":"requestMerchantTransfer:ok"`) {
		t.Fatalf("confirm: %d %s", resp.StatusCode, body)
	}
	until(t, "the notification", func() bool {
		return strings.Contains(out.String(), `msg="hongbao: notification"`) && strings.Contains(out.String(), "status=SUCCESS")
	})
	resp, body = do(t, http.MethodPost, base+claimPath, token, `{"scene":1047}`)
	wantStatus(t, resp, body, http.StatusGone, "already_received")
	resp, body = do(t, http.MethodPost, base+claimPath, token, `{"scene":1047}`)
	wantStatus(t, resp, body, http.StatusGone, "already_received")

	// Another user: a bill of its own.
	code := do2(t, base+demoCodePath+"?openid=oTransferDemoOther")
	other := login(t, base, code)
	resp, body = do(t, http.MethodPost, base+claimPath, other, `{"scene":1047}`)
	if a := checkTransferClaim(t, resp, body, wxpaytest.DefaultMchID, wxpaytest.DefaultAppID); a.Package == first.Package {
		t.Error("two users got the same package")
	}

	// The index says the rail.
	resp, body = do(t, http.MethodGet, base+"/", "", "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"rail": "transfer"`) || !strings.Contains(string(body), "wx.requestMerchantTransfer") {
		t.Errorf("index: %d %s", resp.StatusCode, body)
	}
	if strings.Contains(out.String(), `level=ERROR`) {
		t.Errorf("errors logged:\n%s", out)
	}
}

// do2 GETs url and returns the "code" of its JSON answer.
func do2(t *testing.T, url string) string {
	t.Helper()
	resp, body := do(t, http.MethodGet, url, "", "")
	var c struct{ Code string }
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &c) != nil || c.Code == "" {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, body)
	}
	return c.Code
}

// transferMerchant is a platform whose notifications reach the example
// through an https front (a proxy terminating TLS, as in production), and
// the environment of a configured run on the transfer rail.
type transferMerchant struct {
	*merchant
	front  *httptest.Server
	target atomic.Pointer[url.URL]
	pubKey string // pub_key.pem
}

func newTransferMerchant(t *testing.T, trust wxpaytest.Trust) *transferMerchant {
	t.Helper()
	tm := &transferMerchant{}
	tm.front = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u := tm.target.Load()
		if u == nil {
			http.Error(w, `{"code":"FAIL","message":"not yet"}`, http.StatusServiceUnavailable)
			return
		}
		httputil.NewSingleHostReverseProxy(u).ServeHTTP(w, r)
	}))
	tm.front.Config.ErrorLog = log.New(io.Discard, "", 0)
	tm.front.StartTLS()
	t.Cleanup(tm.front.Close)
	tm.merchant = newMerchantWith(t, wxpaytest.Options{V3: wxpaytest.V3Options{Trust: trust, NotifyClient: tm.front.Client()}})
	if trust != wxpaytest.TrustCertificates {
		tm.pubKey = filepath.Join(tm.dir, "pub_key.pem")
		if err := os.WriteFile(tm.pubKey, tm.host.V3Config().PublicKeyPEM, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return tm
}

// env is a configured run on the transfer rail: no APIv2 key, the APIv3
// key, the public key (or none: platform certificates), the notify URL.
func (tm *transferMerchant) env() map[string]string {
	env := tm.merchant.env()
	delete(env, envAPIKey)
	env[envRail] = railTransfer
	env[envAPIv3Key] = tm.host.APIv3Key()
	env[envNotifyURL] = tm.front.URL + "/pay/notify"
	if tm.pubKey != "" {
		env[envPublicKeyID] = tm.host.V3Config().PublicKeyID
		env[envPublicKeyFile] = tm.pubKey
	}
	return env
}

// serve points the front at the example.
func (tm *transferMerchant) serve(t *testing.T, base string) {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	tm.target.Store(u)
}

// The example pays on the transfer rail with a merchant's configuration,
// in both trust modes: it proves the credentials at start-up, creates one
// bill per user whose notify URL is HONGBAO_NOTIFY_URL, answers a repeat
// tap with the same package, takes the platform's notification at the
// URL's path and answers already_received after it.
func TestTransferConfigured(t *testing.T) {
	for _, trust := range []wxpaytest.Trust{wxpaytest.TrustPublicKey, wxpaytest.TrustCertificates} {
		t.Run(trust.String(), func(t *testing.T) {
			tm := newTransferMerchant(t, trust)
			base, out := start(t, tm.env())
			tm.serve(t, base)
			text := out.String()
			for _, want := range []string{"paying through merchant transfers", tm.front.URL + "/pay/notify", "served here at /pay/notify",
				"the platform accepted the merchant's signature"} {
				if !strings.Contains(text, want) {
					t.Errorf("the output lacks %q:\n%s", want, text)
				}
			}
			for _, secret := range []string{tm.host.APIv3Key(), tm.secret, "configured-billno-key"} {
				if strings.Contains(text, secret) {
					t.Errorf("the output shows a secret:\n%s", text)
				}
			}

			const openID = "oTransferUser_01"
			token := tm.token(t, openID)
			resp, body := do(t, http.MethodPost, base+claimPath, token, `{"scene":1047}`)
			a := checkTransferClaim(t, resp, body, tm.host.MchID, tm.host.AppID)
			resp, body = do(t, http.MethodPost, base+claimPath, token, `{"scene":1047}`)
			if b := checkTransferClaim(t, resp, body, tm.host.MchID, tm.host.AppID); b.Package != a.Package {
				t.Errorf("a repeat tap answered another package")
			}
			n, err := hongbao.DeriveTransferBillno([]byte("configured-billno-key"), tm.host.MchID, "spring", openID, 0)
			if err != nil {
				t.Fatal(err)
			}
			bill, ok := tm.host.Bill(n)
			if !ok || bill.Amount != 888 || bill.OpenID != openID || bill.PackageInfo != a.Package || bill.State != wxpaytest.BillWaitUserConfirm {
				t.Fatalf("bill %s: %+v (found %v)", n, bill, ok)
			}
			if c := tm.host.Creates(n); c != 1 {
				t.Errorf("%d creates of %s, want 1", c, n)
			}
			if _, err := tm.host.ConfirmTransfer(wxpaytest.TransferPage{MchID: a.MchID, AppID: a.AppID, Package: a.Package, OpenID: openID}); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			d, err := tm.host.WaitDelivered(ctx, n)
			if err != nil || !d.Delivered {
				t.Fatalf("the notification of %s: %+v %v\n%s", n, d, err, out)
			}
			resp, body = do(t, http.MethodPost, base+claimPath, token, `{"scene":1047}`)
			wantStatus(t, resp, body, http.StatusGone, "already_received")
		})
	}
}

// A transfer rail configured wrong refuses to start, naming the variable;
// so does the probe at start-up.
func TestTransferBadConfiguration(t *testing.T) {
	tm := newTransferMerchant(t, wxpaytest.TrustPublicKey)
	other := wxpaytest.Start(t, wxpaytest.Options{MchID: tm.host.MchID}) // another CA, same mch id
	write := func(name string, b []byte) string {
		p := filepath.Join(tm.dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	otherCert, otherKey := write("other_cert.pem", other.ClientCertPEM()), write("other_key.pem", other.ClientKeyPEM())
	otherPub := write("other_pub_key.pem", other.V3Config().PublicKeyPEM)
	tests := []struct {
		name string
		edit func(env map[string]string)
		want []string
	}{
		{"unknown rail", func(e map[string]string) { e[envRail] = "wechat" }, []string{envRail, "wechat", railRedPacket, railTransfer}},
		{"no APIv3 key", func(e map[string]string) { delete(e, envAPIv3Key) }, []string{envAPIv3Key, "required"}},
		{"APIv3 key length", func(e map[string]string) { e[envAPIv3Key] = strings.Repeat("k", 31) }, []string{envAPIv3Key, "31 bytes", "32"}},
		{"public key id alone", func(e map[string]string) { delete(e, envPublicKeyFile) }, []string{envPublicKeyID, envPublicKeyFile}},
		{"public key file alone", func(e map[string]string) { delete(e, envPublicKeyID) }, []string{envPublicKeyFile, envPublicKeyID}},
		{"public key id form", func(e map[string]string) { e[envPublicKeyID] = "PUB_KEY_ID_12ab" }, []string{envPublicKeyID, "PUB_KEY_ID_12ab"}},
		{"public key file not a key", func(e map[string]string) { e[envPublicKeyFile] = tm.cert }, []string{envPublicKeyFile, "PUBLIC KEY"}},
		{"no notify URL", func(e map[string]string) { delete(e, envNotifyURL) }, []string{envNotifyURL, "required"}},
		{"http notify URL", func(e map[string]string) { e[envNotifyURL] = "http://pay.example.com/notify" }, []string{envNotifyURL, "https"}},
		{"notify URL with a query", func(e map[string]string) { e[envNotifyURL] = "https://pay.example.com/notify?x=1" }, []string{envNotifyURL, "query"}},
		{"notify URL without a path", func(e map[string]string) { e[envNotifyURL] = "https://pay.example.com" }, []string{envNotifyURL, "path of its own"}},
		{"notify URL on the claim path", func(e map[string]string) { e[envNotifyURL] = "https://pay.example.com" + claimPath }, []string{envNotifyURL, "path of its own"}},
		{"a red packet's scene", func(e map[string]string) { e[envSceneID] = "PRODUCT_1" }, []string{envSceneID, envRail}},
		{"a red packet's sender", func(e map[string]string) { e[envSendName] = "Shop" }, []string{envSendName, envRail}},
		{"a red packet's paySign rule", func(e map[string]string) { e[envPackageRule] = "raw" }, []string{envPackageRule, envRail}},
		{"remark too long", func(e map[string]string) { e[envWishing] = strings.Repeat("福", 33) }, []string{envWishing, "transfer_remark", "32"}},
		{"activity name too long", func(e map[string]string) { e[envActName] = strings.Repeat("a", 33) }, []string{envActName, "活动名称"}},
		{"reward note too long", func(e map[string]string) { e[envRemark] = strings.Repeat("b", 33) }, []string{envRemark, "奖励说明"}},
		{"amount below 10 fen", func(e map[string]string) { e[envAmount] = "9" }, []string{envAmount, "transfer_amount", "10 fen"}},
		{"amount range above the limit", func(e map[string]string) { e[envAmount] = "100-200000" }, []string{envAmount, "transfer_amount"}},
		{"transfer variables on the red packet", func(e map[string]string) { e[envRail], e[envAPIKey] = railRedPacket, tm.host.APIKey },
			[]string{envAPIv3Key, envNotifyURL, envPublicKeyID, envRail + "=" + railTransfer}},
		{"without a mch id", func(e map[string]string) { delete(e, envMchID) }, []string{envMchID, envNotifyURL, envAPIv3Key}},
		// The probe at start-up.
		{"another CA's certificate", func(e map[string]string) { e[envCertFile], e[envKeyFile] = otherCert, otherKey },
			[]string{"SIGN_ERROR", envCertFile, envKeyFile, envSkipCheck}},
		{"another public key", func(e map[string]string) { e[envPublicKeyFile] = otherPub },
			[]string{envPublicKeyID, envPublicKeyFile, "did not verify", envSkipCheck}},
		{"no CA file", func(e map[string]string) { delete(e, envCAFile) }, []string{envCAFile, "not trusted", envSkipCheck}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := tm.env()
			tc.edit(env)
			err := startErr(t, env)
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			for _, secret := range []string{tm.host.APIv3Key(), tm.secret} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q shows a secret", err)
				}
			}
		})
	}
	// The platform certificates, downloaded with a wrong APIv3 key.
	tc := newTransferMerchant(t, wxpaytest.TrustCertificates)
	env := tc.env()
	env[envAPIv3Key] = strings.Repeat("w", 32)
	if err := startErr(t, env); !strings.Contains(err.Error(), envAPIv3Key) || !strings.Contains(err.Error(), "do not decrypt") {
		t.Errorf("a wrong APIv3 key: %v", err)
	}
	// A red packet's variable in the demo on the transfer rail.
	if err := startErr(t, map[string]string{envRail: railTransfer, envSceneID: "PRODUCT_1"}); !strings.Contains(err.Error(), envSceneID) {
		t.Errorf("a scene id in the transfer demo: %v", err)
	}
}
