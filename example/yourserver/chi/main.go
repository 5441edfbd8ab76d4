// Command chi is the README's "Your own server" on chi: the login route and
// the claim route on a chi router, configured by the HONGBAO_* variables
// that hongbao fake prints (or your merchant's), logging to slog.Default.
package main

import (
	"context"
	"errors"
	"log"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/hongbao-go/hongbao"
	hongbaochi "github.com/hongbao-go/hongbao/adapters/chi"
	"github.com/hongbao-go/hongbao/middleware/claim"
	"github.com/hongbao-go/hongbao/middleware/jwtauth"
	"github.com/hongbao-go/hongbao/middleware/wxlogin"
	"github.com/hongbao-go/hongbao/rail"
	"github.com/hongbao-go/hongbao/transport"
)

func main() {
	// Loud: every failure the library meets is logged, as JSON on stderr.
	slog.SetDefault(slog.New(slog.NewJSONHandler(os.Stderr, nil)))
	r, err := newRouter(os.Getenv)
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Addr: "127.0.0.1:8080", Handler: r, ReadHeaderTimeout: 5 * time.Second, MaxHeaderBytes: 16 << 10}
	log.Fatal(srv.ListenAndServe())
}

// newRouter builds the routes from the environment.
func newRouter(getenv func(string) string) (chi.Router, error) {
	var caPEM []byte // HONGBAO_CA_FILE: a test host's CA (hongbao fake); unset for the real platform
	if f := getenv("HONGBAO_CA_FILE"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		caPEM = b
	}
	appID := getenv("HONGBAO_APPID")
	client, err := hongbao.New(hongbao.Config{
		AppID: appID,
		Transport: transport.Config{
			MchID:     getenv("HONGBAO_MCH_ID"),
			APIKey:    getenv("HONGBAO_API_KEY"),
			CertFile:  getenv("HONGBAO_CERT_FILE"),
			KeyFile:   getenv("HONGBAO_KEY_FILE"),
			BaseURL:   getenv("HONGBAO_BASE_URL"),
			RootCAPEM: caPEM,
		},
		BillnoKey: []byte(getenv("HONGBAO_BILLNO_KEY")),
	})
	if err != nil {
		return nil, err
	}
	billno, err := client.Billno("start-up check", "check")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if _, err := client.QueryHB(ctx, billno); !errors.Is(err, hongbao.ErrNotFound) {
		return nil, err // the platform refused the credentials: the error says which
	}

	key, err := wxlogin.HMACSecret("", []byte(getenv("HONGBAO_JWT_SECRET")))
	if err != nil {
		return nil, err
	}
	login, err := wxlogin.New(wxlogin.Config{
		AppID: appID, AppSecret: getenv("HONGBAO_APP_SECRET"),
		BaseURL: getenv("HONGBAO_LOGIN_BASE_URL"), RootCAPEM: caPEM, Key: key,
	})
	if err != nil {
		return nil, err
	}
	authCfg, err := login.AuthConfig()
	if err != nil {
		return nil, err
	}
	auth, err := jwtauth.NewAuthenticator(authCfg)
	if err != nil {
		return nil, err
	}
	send, err := claim.NewHandler(claim.HandlerConfig{
		Client: client,
		Policy: claim.PolicyFunc(func(ctx context.Context, u jwtauth.User, body []byte) (claim.Grant, error) {
			return claim.Grant{Key: "spring-2026", Payout: rail.Payout{Amount: 100, SendName: "Shop",
				Wishing: "Happy new year", ActName: "New year", Remark: "Thanks"}}, nil
		}),
	})
	if err != nil {
		return nil, err
	}

	r := chi.NewRouter()
	hongbaochi.MountLogin(r, "/hongbao/login", login)
	hongbaochi.Mount(r, "/hongbao/send", auth, send)
	return r, nil
}
