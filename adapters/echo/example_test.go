package hongbaoecho_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/hongbao-go/hongbao"
	hongbaoecho "github.com/hongbao-go/hongbao/adapters/echo"
	"github.com/hongbao-go/hongbao/middleware/claim"
	"github.com/hongbao-go/hongbao/middleware/jwtauth"
	"github.com/hongbao-go/hongbao/middleware/jwttest"
	"github.com/hongbao-go/hongbao/rail"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

func Example() {
	// The parts: jwtauth.NewAuthenticator and claim.NewHandler (below,
	// on a fake platform).
	parts, err := newClaimParts()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer parts.close()
	auth, send := parts.auth, parts.send

	e := echo.New()
	hongbaoecho.Mount(e, "/hongbao/send", auth, send)

	// Other routes may use the same authentication and read the user.
	e.GET("/me", func(c echo.Context) error {
		u, ok := hongbaoecho.User(c)
		if !ok {
			return echo.ErrUnauthorized
		}
		return c.JSON(http.StatusOK, map[string]string{"openid": u.OpenID})
	}, hongbaoecho.Auth(auth))

	parts.show(e, "/hongbao/send", "/me")
	// Output:
	// POST /hongbao/send 200 [nonceStr package paySign rail signType timeStamp]
	// GET /hongbao/send 405 method_not_allowed Allow: POST
	// GET /me 200 {"openid":"oDemoUser00000000000000000001"}
}

// Auth and Handler are the parts of Mount, for a route of your own; other
// methods on the path are then echo's to answer.
func ExampleHandler() {
	parts, err := newClaimParts()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer parts.close()

	e := echo.New()
	e.POST("/hongbao/send", hongbaoecho.Handler(parts.send), hongbaoecho.Auth(parts.auth))

	parts.show(e, "/hongbao/send")
	// Output:
	// POST /hongbao/send 200 [nonceStr package paySign rail signType timeStamp]
	// GET /hongbao/send 405 Allow: OPTIONS, POST
}

// userOpenID is the mini-program user of the examples' token.
const userOpenID = "oDemoUser00000000000000000001"

// claimParts are what Mount takes, built on a fake platform: the
// Authenticator, here with a key of package jwttest (yours checks your
// login's tokens), and the claim handler paying through a hongbao.Client,
// here of the fake host (yours carries the merchant's credentials).
type claimParts struct {
	auth  *jwtauth.Authenticator
	send  http.Handler
	token string // a token of userOpenID
	host  *wxpaytest.Server
}

func newClaimParts() (*claimParts, error) {
	host, err := wxpaytest.NewServer(wxpaytest.Options{})
	if err != nil {
		return nil, err
	}
	p := &claimParts{host: host}
	client, err := hongbao.New(hongbao.Config{AppID: host.AppID, Transport: host.TransportConfig(),
		BillnoKey: []byte("a stable secret of 16+ bytes")})
	if err != nil {
		p.close()
		return nil, err
	}
	tokens, err := jwttest.NewHS256(jwttest.Config{})
	if err != nil {
		p.close()
		return nil, err
	}
	if p.auth, err = jwtauth.NewAuthenticator(tokens.AuthConfig()); err != nil {
		p.close()
		return nil, err
	}
	policy := claim.PolicyFunc(func(context.Context, jwtauth.User, []byte) (claim.Grant, error) {
		return claim.Grant{Key: "spring-2026", Payout: rail.Payout{Amount: 100, SendName: "hongbao",
			Wishing: "恭喜发财", ActName: "adapters", Remark: "example"}}, nil
	})
	if p.send, err = claim.NewHandler(claim.HandlerConfig{Client: client, Policy: policy}); err != nil {
		p.close()
		return nil, err
	}
	if p.token, err = tokens.Token(userOpenID); err != nil {
		p.close()
		return nil, err
	}
	return p, nil
}

func (p *claimParts) close() { p.host.Close() }

// show sends r what a mini program and a stray client would, and prints one
// line per answer: a claim (POST with the token: the status and the fields
// of the answer), a GET of the claim path (status and code), and a GET of
// each extra path with the token (status and body).
func (p *claimParts) show(r http.Handler, claimPath string, extra ...string) {
	call := func(method, path, token string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, strings.NewReader(`{"scene": 1047}`))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		return rec
	}
	rec := call(http.MethodPost, claimPath, p.token)
	var fields map[string]string
	_ = json.Unmarshal(rec.Body.Bytes(), &fields)
	fmt.Println("POST", claimPath, rec.Code, slices.Sorted(maps.Keys(fields)))
	rec = call(http.MethodGet, claimPath, "")
	var e struct{ Code string }
	_ = json.Unmarshal(rec.Body.Bytes(), &e)
	line := fmt.Sprint("GET ", claimPath, " ", rec.Code)
	if e.Code != "" {
		line += " " + e.Code
	}
	if allow := rec.Header().Get("Allow"); allow != "" {
		line += " Allow: " + allow
	}
	fmt.Println(line)
	for _, path := range extra {
		rec = call(http.MethodGet, path, p.token)
		fmt.Println("GET", path, rec.Code, strings.TrimSpace(rec.Body.String()))
	}
}
