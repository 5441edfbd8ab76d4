package adaptertest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"

	"github.com/hongbao-go/hongbao"
	"github.com/hongbao-go/hongbao/middleware/claim"
	"github.com/hongbao-go/hongbao/middleware/jwtauth"
	"github.com/hongbao-go/hongbao/middleware/jwttest"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

// DemoOpenID is the user of a Demo's token.
const DemoOpenID = "oDemoUser00000000000000000001"

// Demo is the bed of the adapters' runnable examples: a fake platform, the
// red-packet handler paying through it, an Authenticator and a token for
// DemoOpenID. Close it when done.
type Demo struct {
	Auth    *jwtauth.Authenticator
	Handler http.Handler
	Token   string
	host    *wxpaytest.Server
}

// NewDemo builds a Demo.
func NewDemo() (*Demo, error) {
	host, err := wxpaytest.NewServer(wxpaytest.Options{})
	if err != nil {
		return nil, err
	}
	d := &Demo{host: host}
	client, err := hongbao.New(hongbao.Config{AppID: host.AppID, Transport: host.TransportConfig(),
		BillnoKey: []byte("adapter-example-billno-key")})
	if err != nil {
		d.Close()
		return nil, err
	}
	tokens, err := jwttest.NewHS256(jwttest.Config{})
	if err != nil {
		d.Close()
		return nil, err
	}
	if d.Auth, err = jwtauth.NewAuthenticator(tokens.AuthConfig()); err != nil {
		d.Close()
		return nil, err
	}
	d.Handler, err = claim.NewHandler(claim.HandlerConfig{Client: client,
		Policy: claim.PolicyFunc(func(context.Context, jwtauth.User, []byte) (claim.Grant, error) {
			return claim.Grant{Key: Campaign, Amount: Amount, SendName: "hongbao", Wishing: "恭喜发财",
				ActName: "adapters", Remark: "example"}, nil
		})})
	if err != nil {
		d.Close()
		return nil, err
	}
	if d.Token, err = tokens.Token(DemoOpenID); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// Close stops the fake platform.
func (d *Demo) Close() { d.host.Close() }

// Show sends r what a mini program and a stray client would, and prints
// one line per answer: a claim (POST with the token: the status and the
// fields of the answer), a GET on the claim path (status and code), and a
// GET of each extra path with the token (status and body).
func (d *Demo) Show(r http.Handler, claimPath string, extra ...string) {
	call := func(method, path, token string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, strings.NewReader(`{"scene": 1047}`))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		return rec
	}
	rec := call(http.MethodPost, claimPath, d.Token)
	var fields map[string]string
	_ = json.Unmarshal(rec.Body.Bytes(), &fields)
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	fmt.Println("POST", claimPath, rec.Code, keys)
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
	for _, p := range extra {
		rec = call(http.MethodGet, p, d.Token)
		fmt.Println("GET", p, rec.Code, strings.TrimSpace(rec.Body.String()))
	}
}
