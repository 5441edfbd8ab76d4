package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"

	"github.com/gin-gonic/gin"
	"github.com/go-chi/chi/v5"
	"github.com/labstack/echo/v4"

	hongbaochi "github.com/hongbao-go/hongbao/adapters/chi"
	hongbaoecho "github.com/hongbao-go/hongbao/adapters/echo"
	hongbaogin "github.com/hongbao-go/hongbao/adapters/gin"
	"github.com/hongbao-go/hongbao/middleware/claim"
	"github.com/hongbao-go/hongbao/middleware/jwtauth"
)

// newRouter serves GET / with index and POST /hongbao/send with the
// red-packet handler behind auth, on the router named kind. The claim route
// is mounted by the Mount of each router's package, so that other methods
// on it get the same JSON 405 (with "Allow: POST"), and the paths under it
// the same JSON 404, on every router, in the language the client asks for.
// Other methods on / are answered 405 by the router itself.
func newRouter(kind string, auth *jwtauth.Authenticator, h http.Handler, index http.HandlerFunc) (http.Handler, error) {
	switch kind {
	case "nethttp":
		mux := http.NewServeMux()
		mux.HandleFunc("GET /{$}", index)
		claim.Mount(mux, claimPath, auth, h)
		return mux, nil

	case "chi":
		r := chi.NewRouter()
		r.Get("/", index)
		hongbaochi.Mount(r, claimPath, auth, h)
		return r, nil

	case "gin":
		ginQuiet.Do(func() { gin.SetMode(gin.ReleaseMode) })
		r := gin.New()
		r.HandleMethodNotAllowed = true
		r.GET("/", gin.WrapF(index))
		hongbaogin.Mount(r, claimPath, auth, h)
		return r, nil

	case "echo":
		e := echo.New()
		e.HideBanner = true
		e.HidePort = true
		e.GET("/", echo.WrapHandler(index))
		hongbaoecho.Mount(e, claimPath, auth, h)
		return e, nil
	}
	return nil, fmt.Errorf("hongbao example: unknown router %q", kind)
}

// ginQuiet switches gin out of debug mode, which prints every route.
var ginQuiet sync.Once

// indexHandler answers GET / with what this server is and how to claim.
func indexHandler(mode, router string) http.HandlerFunc {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	_ = enc.Encode(map[string]string{
		"service": "hongbao example: WeChat mini-program red packets",
		"mode":    mode,
		"router":  router,
		"claim":   "POST " + claimPath,
		"auth":    "Authorization: Bearer <JWT whose sub is the user's openid>",
		"answer":  "{timeStamp, nonceStr, package, signType, paySign} for wx.sendBizRedPacket",
	})
	body := buf.Bytes()
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = w.Write(body)
	}
}
