package jwttest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hongbao-go/hongbao"
	"github.com/hongbao-go/hongbao/middleware/claim"
	"github.com/hongbao-go/hongbao/middleware/jwtauth"
	"github.com/hongbao-go/hongbao/middleware/jwttest"
	"github.com/hongbao-go/hongbao/rail"
	"github.com/hongbao-go/hongbao/signer"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

// campaign stands for the application's own Policy.
var campaign = claim.PolicyFunc(func(ctx context.Context, u jwtauth.User, body []byte) (claim.Grant, error) {
	return claim.Grant{Key: "spring-2026", Payout: rail.Payout{Amount: 100, SendName: "Shop",
		Wishing: "Happy new year", ActName: "New year", Remark: "Thanks"}}, nil
})

// TestClaimRedPacket is the test README.md shows under "Testing your
// integration": what an application's own test of its claim route looks
// like.
func TestClaimRedPacket(t *testing.T) {
	host := wxpaytest.Start(t, wxpaytest.Options{}) // the platform, closed when the test ends
	client, err := hongbao.New(hongbao.Config{AppID: host.AppID, Transport: host.TransportConfig(),
		BillnoKey: []byte("a stable secret of 16+ bytes")})
	if err != nil {
		t.Fatal(err)
	}
	send, err := claim.NewHandler(claim.HandlerConfig{Client: client, Policy: campaign})
	if err != nil {
		t.Fatal(err)
	}
	tokens := jwttest.HS256(t, jwttest.Config{})
	auth, err := jwtauth.NewAuthenticator(tokens.AuthConfig())
	if err != nil {
		t.Fatal(err)
	}

	req := httptest.NewRequest(http.MethodPost, "/hongbao/send", strings.NewReader(`{"scene": 1047}`))
	req.Header.Set("Authorization", "Bearer "+tokens.MustToken(t, "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"))
	rec := httptest.NewRecorder()
	auth.Middleware(send).ServeHTTP(rec, req)
	var params signer.BizRedPacket
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &params) != nil {
		t.Fatalf("status %d, body %s", rec.Code, rec.Body)
	}
	if _, err := host.Open(params, 1047); err != nil { // the mini program opens the packet
		t.Fatal(err)
	}

	// An expired token never reaches the handler.
	req = httptest.NewRequest(http.MethodPost, "/hongbao/send", strings.NewReader(`{"scene": 1047}`))
	req.Header.Set("Authorization", "Bearer "+tokens.MustToken(t, "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", jwttest.Expired()))
	rec = httptest.NewRecorder()
	auth.Middleware(send).ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("expired token: status %d, body %s", rec.Code, rec.Body)
	}
	if n := len(host.PacketsOf("oUpF8uMuAJO_M2pxb1Q9zNjWeS6o")); n != 1 {
		t.Fatalf("%d packets, want 1", n)
	}
}
