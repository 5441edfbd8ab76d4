package claimtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"

	"github.com/hongbao-go/hongbao"
	"github.com/hongbao-go/hongbao/middleware/claim"
	"github.com/hongbao-go/hongbao/middleware/jwtauth"
	"github.com/hongbao-go/hongbao/middleware/jwttest"
	"github.com/hongbao-go/hongbao/rail"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

// RouteOpenID is the mini-program user whose token Route carries.
const RouteOpenID = "oDemoUser00000000000000000001"

// A Route holds what a router's Mount takes for a claim route, built on a
// fake platform, for examples and tests of a router or framework adapter.
// In an application, Auth checks the tokens of its login and Handler pays
// through a hongbao.Client carrying the merchant's credentials.
type Route struct {
	// Auth accepts the tokens of a random jwttest HS256 key, Token among
	// them.
	Auth *jwtauth.Authenticator
	// Handler pays every user 100 fen once, under the grant key
	// "spring-2026", through a hongbao.Client of Host.
	Handler *claim.Handler
	// Host is the fake platform, over mutual TLS; Close closes it.
	Host *wxpaytest.Server
	// Token is a valid token of RouteOpenID.
	Token string
}

// NewRoute starts a fake platform and builds a Route on it. Close it when
// done.
func NewRoute() (*Route, error) {
	host, err := wxpaytest.NewServer(wxpaytest.Options{})
	if err != nil {
		return nil, err
	}
	r := &Route{Host: host}
	if err := r.build(); err != nil {
		host.Close()
		return nil, err
	}
	return r, nil
}

func (r *Route) build() error {
	client, err := hongbao.New(hongbao.Config{AppID: r.Host.AppID, Transport: r.Host.TransportConfig(),
		BillnoKey: []byte("a stable secret of 16+ bytes")})
	if err != nil {
		return err
	}
	tokens, err := jwttest.NewHS256(jwttest.Config{})
	if err != nil {
		return err
	}
	if r.Auth, err = jwtauth.NewAuthenticator(tokens.AuthConfig()); err != nil {
		return err
	}
	policy := claim.PolicyFunc(func(context.Context, jwtauth.User, []byte) (claim.Grant, error) {
		return claim.Grant{Key: "spring-2026", Payout: rail.Payout{Amount: 100, SendName: "hongbao",
			Wishing: "恭喜发财", ActName: "adapters", Remark: "example"}}, nil
	})
	if r.Handler, err = claim.NewHandler(claim.HandlerConfig{Client: client, Policy: policy}); err != nil {
		return err
	}
	r.Token, err = tokens.Token(RouteOpenID)
	return err
}

// Close closes the fake platform.
func (r *Route) Close() { r.Host.Close() }

// Show sends h what a mini program and a stray client would, and writes one
// line per answer to w: a claim (a POST of {"scene": 1047} to claimPath
// with Token: "POST", the path, the status and the sorted field names of
// the answer), a GET of claimPath without a token (the status, the error
// code and the Allow header when there are), and a GET of each extra path
// with Token (the status and the body). It returns the first error writing
// to w.
func (r *Route) Show(w io.Writer, h http.Handler, claimPath string, extra ...string) error {
	call := func(method, path, token string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, strings.NewReader(`{"scene": 1047}`))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	var first error
	say := func(a ...any) {
		if _, err := fmt.Fprintln(w, a...); err != nil && first == nil {
			first = err
		}
	}
	rec := call(http.MethodPost, claimPath, r.Token)
	var fields map[string]string
	_ = json.Unmarshal(rec.Body.Bytes(), &fields)
	say("POST", claimPath, rec.Code, slices.Sorted(maps.Keys(fields)))
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
	say(line)
	for _, path := range extra {
		rec = call(http.MethodGet, path, r.Token)
		say("GET", path, rec.Code, strings.TrimSpace(rec.Body.String()))
	}
	return first
}
