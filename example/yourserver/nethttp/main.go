// Command nethttp is the README's "Your own server" on net/http: a login
// route (wx.login's code for a token whose subject is the openid) and the
// claim route, configured by the HONGBAO_* variables that hongbao fake
// prints (or your merchant's), logging to slog.Default.
package main

import (
	"context"
	"errors"
	"log"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/hongbao-go/hongbao"
	"github.com/hongbao-go/hongbao/middleware/claim"
	"github.com/hongbao-go/hongbao/middleware/jwtauth"
	"github.com/hongbao-go/hongbao/middleware/wxlogin"
	"github.com/hongbao-go/hongbao/rail"
	"github.com/hongbao-go/hongbao/transport"
)

func main() {
	// Loud: every failure the library meets (a refused key, an untrusted
	// certificate, a refused login) is logged, here as JSON on stderr.
	slog.SetDefault(slog.New(slog.NewJSONHandler(os.Stderr, nil)))
	h, err := newServer(os.Getenv)
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Addr: "127.0.0.1:8080", Handler: h, ReadHeaderTimeout: 5 * time.Second, MaxHeaderBytes: 16 << 10}
	log.Fatal(srv.ListenAndServe())
}

// newServer builds the routes from the environment.
func newServer(getenv func(string) string) (http.Handler, error) {
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
			CertFile:  getenv("HONGBAO_CERT_FILE"), // apiclient_cert.pem
			KeyFile:   getenv("HONGBAO_KEY_FILE"),  // apiclient_key.pem
			BaseURL:   getenv("HONGBAO_BASE_URL"),  // empty: the platform
			RootCAPEM: caPEM,
		},
		BillnoKey: []byte(getenv("HONGBAO_BILLNO_KEY")), // 16+ random bytes, kept for good
		// Logger: nil logs to slog.Default().
	})
	if err != nil {
		return nil, err // every configuration mistake is reported here
	}
	// Prove the credentials now, not at the first user's tap: a bill
	// number that does not exist answers NOT_FOUND.
	billno, err := client.Billno("start-up check", "check")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if _, err := client.QueryHB(ctx, billno); !errors.Is(err, hongbao.ErrNotFound) {
		return nil, err // SIGN_ERROR, ILLEGAL_APPID, an untrusted certificate (hongbao.ErrTLS), ...
	}

	// The login route signs tokens whose subject is the user's openid; the
	// authenticator of the claim route accepts them.
	key, err := wxlogin.HMACSecret("", []byte(getenv("HONGBAO_JWT_SECRET"))) // 32+ bytes
	if err != nil {
		return nil, err
	}
	login, err := wxlogin.New(wxlogin.Config{
		AppID:     appID,
		AppSecret: getenv("HONGBAO_APP_SECRET"),     // the mini program's app secret
		BaseURL:   getenv("HONGBAO_LOGIN_BASE_URL"), // empty: the platform
		RootCAPEM: caPEM,
		Key:       key,
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
		// Who gets what is decided here, never by the request: the
		// openid is the token's subject (u.OpenID).
		Policy: claim.PolicyFunc(func(ctx context.Context, u jwtauth.User, body []byte) (claim.Grant, error) {
			return claim.Grant{Key: "spring-2026", Payout: rail.Payout{Amount: 100, SendName: "Shop",
				Wishing: "Happy new year", ActName: "New year", Remark: "Thanks"}}, nil
		}),
	})
	if err != nil {
		return nil, err
	}

	mux := http.NewServeMux()
	wxlogin.Mount(mux, "/hongbao/login", login)   // POST {"code": <wx.login's code>}
	claim.Mount(mux, "/hongbao/send", auth, send) // POST {"scene": 1047}, Authorization: Bearer <token>
	return mux, nil
}
