package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/hongbao-go/hongbao/middleware/claim"
	"github.com/hongbao-go/hongbao/middleware/jwtauth"
	"github.com/hongbao-go/hongbao/middleware/wxlogin"
)

// allRouters are the values of HONGBAO_ROUTER; routers are those of this
// build: net/http, and chi, gin and echo with the build tag full
// (routes_full.go), which keeps their modules out of the first run.
var allRouters = []string{"nethttp", "chi", "gin", "echo"}

var routers = []string{"nethttp"}

// routes is what a router serves.
type routes struct {
	auth  *jwtauth.Authenticator
	claim http.Handler // POST claimPath, behind auth
	login http.Handler // POST loginPath; nil: no login route
	demo  http.Handler // GET demoCodePath (demo mode only); nil: none
	index http.HandlerFunc
	// The transfer rail: the platform's notifications at notifyPath (no
	// JWT), and in demo mode the user's confirmation at demoConfirmPath.
	notify     http.Handler
	notifyPath string
	confirm    http.Handler
}

// routerBuilders build the routers other than net/http (routes_full.go).
var routerBuilders = map[string]func(routes) http.Handler{}

// newRouter serves GET / with the index, POST /hongbao/login with the
// login handler, POST /hongbao/send with the red-packet handler behind auth
// and, in demo mode, GET /demo/code, on the router named kind. The claim
// and login routes are mounted by the Mount and MountLogin of each router's
// package, so that other methods on them get the same JSON 405 (with
// "Allow: POST"), and the paths under them the same JSON 404, on every
// router, in the language the client asks for.
func newRouter(kind string, r routes) (http.Handler, error) {
	if kind == "nethttp" {
		mux := http.NewServeMux()
		mux.HandleFunc("GET /{$}", r.index)
		claim.Mount(mux, claimPath, r.auth, r.claim)
		if r.login != nil {
			wxlogin.Mount(mux, loginPath, r.login)
		}
		if r.demo != nil {
			mux.Handle("GET "+demoCodePath, r.demo)
		}
		if r.notify != nil {
			mux.Handle(r.notifyPath, r.notify)
		}
		if r.confirm != nil {
			mux.Handle(demoConfirmPath, r.confirm)
		}
		return mux, nil
	}
	if b, ok := routerBuilders[kind]; ok {
		return b(r), nil
	}
	return nil, fmt.Errorf("hongbao example: unknown router %q", kind)
}

// indexHandler answers GET / with what this server is and how to claim.
func indexHandler(mode, router, railName string, login bool) http.HandlerFunc {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	about := map[string]string{
		"service": "hongbao example: WeChat mini-program red packets",
		"mode":    mode,
		"router":  router,
		"claim":   "POST " + claimPath,
		"body":    `{"scene": <the launch scene, wx.getEnterOptionsSync().scene>}`,
		"auth":    "Authorization: Bearer <JWT whose sub is the user's openid>",
		"rail":    railName,
		"answer":  `{"rail":"redpacket", timeStamp, nonceStr, package, signType, paySign} for wx.sendBizRedPacket`,
	}
	if railName == railTransfer {
		about["service"] = "hongbao example: WeChat merchant transfers shown as red packets"
		about["answer"] = `{"rail":"transfer", mchId, appId, package} for wx.requestMerchantTransfer (base library 3.3.0+); the user confirms, the platform notifies`
	}
	if login {
		about["login"] = "POST " + loginPath + ` {"code": <code of wx.login>}: {token, expiresIn, expiresAt}`
	}
	_ = enc.Encode(about)
	body := buf.Bytes()
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = w.Write(body)
	}
}
