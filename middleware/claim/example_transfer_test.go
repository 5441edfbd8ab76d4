package claim_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/hongbao-go/hongbao/apiv3"
	"github.com/hongbao-go/hongbao/middleware/claim"
	"github.com/hongbao-go/hongbao/middleware/jwtauth"
	"github.com/hongbao-go/hongbao/rail"
	"github.com/hongbao-go/hongbao/transfer"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

// The same handler on the merchant-transfer rail, with the notify URL
// beside the claim route: the platform's MCHTRANSFER.BILL.FINISHED
// settles the grant, and the next tap is answered already_received.
func ExampleHandler_NotificationHandler() {
	// The server's mux is served over https: the platform posts the
	// notifications to it.
	mux := http.NewServeMux()
	srv := httptest.NewTLSServer(mux)
	defer srv.Close()

	// A fake platform host; in production apiv3.Config carries the
	// merchant's mch_id, API certificate and key, APIv3 key and WeChat Pay
	// public key (or PlatformCertificates).
	host, err := wxpaytest.NewServer(wxpaytest.Options{V3: wxpaytest.V3Options{NotifyClient: srv.Client()}})
	if err != nil {
		log.Fatal(err)
	}
	defer host.Close()
	vc := host.V3Config()
	tr, err := apiv3.New(apiv3.Config{MchID: vc.MchID, CertPEM: vc.CertPEM, KeyPEM: vc.KeyPEM, APIv3Key: vc.APIv3Key,
		PublicKeyID: vc.PublicKeyID, PublicKeyPEM: vc.PublicKeyPEM, RootCAs: vc.RootCAs, BaseURL: vc.BaseURL})
	if err != nil {
		log.Fatal(err)
	}
	defer tr.Close()
	client, err := transfer.New(transfer.Config{AppID: host.AppID, Transport: tr, BillnoKey: []byte("a stable secret of 16+ bytes"),
		Logger: slog.New(slog.DiscardHandler)}) // nil: slog.Default()
	if err != nil {
		log.Fatal(err)
	}
	transfers, err := client.Rail(transfer.RailConfig{NotifyURL: srv.URL + "/hongbao/notify"})
	if err != nil {
		log.Fatal(err)
	}

	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		log.Fatal(err)
	}
	key, err := jwtauth.HMACKey("", secret)
	if err != nil {
		log.Fatal(err)
	}
	auth, err := jwtauth.NewAuthenticator(jwtauth.Config{Keys: []jwtauth.Key{key}})
	if err != nil {
		log.Fatal(err)
	}
	send, err := claim.NewHandler(claim.HandlerConfig{
		Rail: transfers,
		Policy: claim.PolicyFunc(func(ctx context.Context, u jwtauth.User, body []byte) (claim.Grant, error) {
			// Wishing is the transfer_remark the user reads; ActName and
			// Remark are the scene's 活动名称 and 奖励说明.
			return claim.Grant{Key: "autumn-2026", Payout: rail.Payout{Amount: 88,
				Wishing: "中秋快乐", ActName: "中秋猜灯谜", Remark: "答对灯谜奖励"}}, nil
		}),
	})
	if err != nil {
		log.Fatal(err)
	}
	claim.Mount(mux, "/hongbao/send", auth, send)
	notify, err := send.NotificationHandler()
	if err != nil {
		log.Fatal(err)
	}
	mux.Handle("/hongbao/notify", notify) // no JWT: the platform signs it

	const openID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
	token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": openID, "exp": time.Now().Add(time.Hour).Unix(),
	}).SignedString(secret)
	if err != nil {
		log.Fatal(err)
	}
	tap := func() (int, []byte) {
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/hongbao/send", strings.NewReader(`{"scene":1047}`))
		if err != nil {
			log.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := srv.Client().Do(req)
		if err != nil {
			log.Fatal(err)
		}
		defer res.Body.Close()
		var body json.RawMessage
		if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
			log.Fatal(err)
		}
		return res.StatusCode, body
	}

	status, body := tap()
	var page struct {
		Rail string `json:"rail"`
		wxpaytest.TransferPage
	}
	if err := json.Unmarshal(body, &page); err != nil {
		log.Fatal(err)
	}
	fmt.Println(status, page.Rail, page.Package != "")

	// The user confirms in wx.requestMerchantTransfer; the platform
	// notifies the SUCCESS.
	page.OpenID = openID
	bill, err := host.ConfirmTransfer(page.TransferPage)
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := host.WaitDelivered(ctx, bill.OutBillNo); err != nil {
		log.Fatal(err)
	}
	status, body = tap()
	fmt.Println(status, string(body))
	// Output:
	// 200 transfer true
	// 410 {"code":"already_received","message":"the red packet was already received"}
}
