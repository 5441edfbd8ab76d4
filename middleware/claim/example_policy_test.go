package claim_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/hongbao-go/hongbao"
	"github.com/hongbao-go/hongbao/middleware/claim"
	"github.com/hongbao-go/hongbao/middleware/jwtauth"
	"github.com/hongbao-go/hongbao/rail"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

// A Policy refuses with a *Refusal: the handler answers 403 with its code
// and message, and nothing reaches the platform.
func ExampleRefusal() {
	host, client, err := fakePlatform()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer host.Close()
	send, err := claim.NewHandler(claim.HandlerConfig{
		Client: client,
		Policy: claim.PolicyFunc(func(ctx context.Context, u jwtauth.User, body []byte) (claim.Grant, error) {
			if u.Claims["member"] != true { // a claim of the user's verified token
				return claim.Grant{}, &claim.Refusal{Code: "members_only", Message: "red packets are for members"}
			}
			return claim.Grant{Key: "spring-2026", Payout: rail.Payout{Amount: 100, SendName: "Shop",
				Wishing: "Happy new year", ActName: "New year", Remark: "Thanks"}}, nil
		}),
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	for _, u := range []jwtauth.User{
		{OpenID: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", Claims: map[string]any{"member": true}},
		{OpenID: "oxTWIuGaIt6gTKsQRLau2M0yL16E"},
	} {
		// Behind auth.Middleware the verified user is in the context;
		// a test may put it there itself.
		req := httptest.NewRequest(http.MethodPost, "/hongbao/send", strings.NewReader(`{"scene": 1047}`))
		req = req.WithContext(jwtauth.ContextWithUser(req.Context(), u))
		rec := httptest.NewRecorder()
		send.ServeHTTP(rec, req)
		if rec.Code == http.StatusOK {
			fmt.Println(rec.Code)
		} else {
			fmt.Println(rec.Code, strings.TrimSpace(rec.Body.String()))
		}
		fmt.Println("packets:", len(host.PacketsOf(u.OpenID)))
	}
	// Output:
	// 200
	// packets: 1
	// 403 {"code":"members_only","message":"red packets are for members"}
	// packets: 0
}

// StatusOf gives the status and code the handler would answer for an
// error, so that a custom ErrorHandler writes its own body and stays
// consistent with the status table.
func ExampleStatusOf() {
	host, client, err := fakePlatform()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer host.Close()
	send, err := claim.NewHandler(claim.HandlerConfig{
		Client: client,
		Policy: claim.PolicyFunc(func(ctx context.Context, u jwtauth.User, body []byte) (claim.Grant, error) {
			return claim.Grant{Key: "spring-2026", Payout: rail.Payout{Amount: 100, SendName: "Shop",
				Wishing: "Happy new year", ActName: "New year", Remark: "Thanks"}}, nil
		}),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			status, code := claim.StatusOf(err)
			var platform *hongbao.Error
			errCode := ""
			if errors.As(err, &platform) {
				errCode = platform.ErrCode // for the log; never shown to the user
			}
			fmt.Println("log:", status, code, errCode)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			json.NewEncoder(w).Encode(map[string]any{"ok": false, "reason": code})
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	// The platform's risk control refuses the user.
	host.Inject(wxpaytest.Fault{ErrCode: "NO_AUTH", Match: func(path string, _ map[string]string) bool {
		return path == wxpaytest.PathSendMiniProgramHB
	}})
	req := httptest.NewRequest(http.MethodPost, "/hongbao/send", strings.NewReader(`{"scene": 1047}`))
	req = req.WithContext(jwtauth.ContextWithUser(req.Context(), jwtauth.User{OpenID: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}))
	rec := httptest.NewRecorder()
	send.ServeHTTP(rec, req)
	fmt.Println(rec.Code, strings.TrimSpace(rec.Body.String()))

	// Any error of a tap maps the same way.
	fmt.Println(claim.StatusOf(&claim.Refusal{Code: "members_only"}))
	fmt.Println(claim.StatusOf(errors.New("something unexpected")))
	// Output:
	// log: 403 risk_control NO_AUTH
	// 403 {"ok":false,"reason":"risk_control"}
	// 403 members_only
	// 500 internal_error
}

// fakePlatform starts a fake platform and a Client paying through it. In
// production the Client is built from the merchant's own configuration
// (see ExampleNewHandler).
func fakePlatform() (*wxpaytest.Server, *hongbao.Client, error) {
	host, err := wxpaytest.NewServer(wxpaytest.Options{})
	if err != nil {
		return nil, nil, err
	}
	client, err := hongbao.New(hongbao.Config{
		AppID:     host.AppID,
		Transport: host.TransportConfig(),
		BillnoKey: []byte("a stable secret of 16+ bytes"),
	})
	if err != nil {
		host.Close()
		return nil, nil, err
	}
	return host, client, nil
}
