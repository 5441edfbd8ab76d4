package jwttest_test

import (
	"context"
	"encoding/json"
	"errors"
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
	"github.com/hongbao-go/hongbao/signer"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

// A test of a claim route from end to end: a fake platform, a token for a
// user, one tap, and the mini program opening the packet. In a test
// function, wxpaytest.Start, jwttest.HS256 and MustToken take the
// testing.T and stop the test on error.
func Example() {
	host, err := wxpaytest.NewServer(wxpaytest.Options{}) // the platform, over mutual TLS
	if err != nil {
		fmt.Println(err)
		return
	}
	defer host.Close()
	client, err := hongbao.New(hongbao.Config{
		AppID:     host.AppID,
		Transport: host.TransportConfig(),
		BillnoKey: []byte("a stable secret of 16+ bytes"),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	send, err := claim.NewHandler(claim.HandlerConfig{
		Client: client,
		Policy: claim.PolicyFunc(func(ctx context.Context, u jwtauth.User, body []byte) (claim.Grant, error) {
			return claim.Grant{Key: "spring-2026", Payout: rail.Payout{Amount: 100, SendName: "Shop",
				Wishing: "Happy new year", ActName: "New year", Remark: "Thanks"}}, nil
		}),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	tokens, err := jwttest.NewHS256(jwttest.Config{}) // a random key, for this test only
	if err != nil {
		fmt.Println(err)
		return
	}
	auth, err := jwtauth.NewAuthenticator(tokens.AuthConfig())
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := httptest.NewServer(auth.Middleware(send))
	defer srv.Close()

	token, err := tokens.Token("oUpF8uMuAJO_M2pxb1Q9zNjWeS6o")
	if err != nil {
		fmt.Println(err)
		return
	}
	req, err := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(`{"scene": 1047}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := srv.Client().Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		fmt.Println(err)
		return
	}
	var fields map[string]string
	var params signer.BizRedPacket // the same object, for wx.sendBizRedPacket
	if err := errors.Join(json.Unmarshal(raw, &fields), json.Unmarshal(raw, &params)); err != nil {
		fmt.Println(res.StatusCode, err)
		return
	}
	fmt.Println(res.StatusCode, slices.Sorted(maps.Keys(fields)))

	// The mini program, opened by scanning a mini-program code (scene
	// 1047), opens the packet with the five parameters.
	pkt, err := host.Open(params, 1047)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(pkt.Status, pkt.Amount, pkt.OpenID)
	// Output:
	// 200 [nonceStr package paySign rail signType timeStamp]
	// RECEIVED 100 oUpF8uMuAJO_M2pxb1Q9zNjWeS6o
}
