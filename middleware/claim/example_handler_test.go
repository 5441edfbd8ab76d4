package claim_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/hongbao-go/hongbao"
	"github.com/hongbao-go/hongbao/middleware/claim"
	"github.com/hongbao-go/hongbao/middleware/jwtauth"
	"github.com/hongbao-go/hongbao/rail"
	"github.com/hongbao-go/hongbao/transport"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

func ExampleNewHandler() {
	// A fake platform host; in production the transport.Config carries the
	// merchant's mch_id, APIv2 key and certificate files instead.
	host, err := wxpaytest.NewServer(wxpaytest.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer host.Close()
	cert := host.ClientCertificate()
	client, err := hongbao.New(hongbao.Config{
		AppID: host.AppID,
		Transport: transport.Config{MchID: host.MchID, APIKey: host.APIKey, Certificate: &cert,
			RootCAs: host.RootCAs(), BaseURL: host.URL},
		BillnoKey: []byte("a stable secret of 16+ bytes"),
	})
	if err != nil {
		log.Fatal(err)
	}

	secret := make([]byte, 32) // in production: the secret of your login tokens
	if _, err := rand.Read(secret); err != nil {
		log.Fatal(err)
	}
	key, err := jwtauth.HMACKey("", secret) // or jwtauth.PublicKeyPEM("kid", pem)
	if err != nil {
		log.Fatal(err)
	}
	auth, err := jwtauth.NewAuthenticator(jwtauth.Config{Keys: []jwtauth.Key{key}})
	if err != nil {
		log.Fatal(err)
	}

	// The server decides the grant; the client only taps.
	send, err := claim.NewHandler(claim.HandlerConfig{
		Client: client,
		Policy: claim.PolicyFunc(func(ctx context.Context, u jwtauth.User, body []byte) (claim.Grant, error) {
			return claim.Grant{Key: "spring-2026", Payout: rail.Payout{Amount: 100, SendName: "Shop",
				Wishing: "Happy new year", ActName: "New year", Remark: "Thanks"}}, nil
		}),
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	claim.Mount(mux, "/hongbao/send", auth, send)

	srv := httptest.NewServer(mux)
	defer srv.Close()
	token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
		"exp": time.Now().Add(time.Hour).Unix(),
	}).SignedString(secret)
	if err != nil {
		log.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/hongbao/send", strings.NewReader(`{"scene": 1047}`))
	if err != nil {
		log.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	res.Body.Close()
	fmt.Println(res.StatusCode)
	// Output: 200
}
