//go:build full

package main

import (
	"net/http"
	"sync"

	"github.com/gin-gonic/gin"
	"github.com/go-chi/chi/v5"
	"github.com/labstack/echo/v4"

	hongbaochi "github.com/hongbao-go/hongbao/adapters/chi"
	hongbaoecho "github.com/hongbao-go/hongbao/adapters/echo"
	hongbaogin "github.com/hongbao-go/hongbao/adapters/gin"
)

// The routers of the full build: go run -tags full ./example.
func init() {
	routers = allRouters
	routerBuilders["chi"] = func(rt routes) http.Handler {
		r := chi.NewRouter()
		r.Get("/", rt.index)
		hongbaochi.Mount(r, claimPath, rt.auth, rt.claim)
		if rt.login != nil {
			hongbaochi.MountLogin(r, loginPath, rt.login)
		}
		if rt.demo != nil {
			r.Method(http.MethodGet, demoCodePath, rt.demo)
		}
		if rt.notify != nil {
			r.Handle(rt.notifyPath, rt.notify)
		}
		if rt.confirm != nil {
			r.Handle(demoConfirmPath, rt.confirm)
		}
		return r
	}
	routerBuilders["gin"] = func(rt routes) http.Handler {
		ginQuiet.Do(func() { gin.SetMode(gin.ReleaseMode) })
		r := gin.New()
		r.HandleMethodNotAllowed = true
		r.GET("/", gin.WrapF(rt.index))
		hongbaogin.Mount(r, claimPath, rt.auth, rt.claim)
		if rt.login != nil {
			hongbaogin.MountLogin(r, loginPath, rt.login)
		}
		if rt.demo != nil {
			r.GET(demoCodePath, gin.WrapH(rt.demo))
		}
		if rt.notify != nil {
			r.Any(rt.notifyPath, gin.WrapH(rt.notify))
		}
		if rt.confirm != nil {
			r.Any(demoConfirmPath, gin.WrapH(rt.confirm))
		}
		return r
	}
	routerBuilders["echo"] = func(rt routes) http.Handler {
		e := echo.New()
		e.HideBanner = true
		e.HidePort = true
		e.GET("/", echo.WrapHandler(rt.index))
		hongbaoecho.Mount(e, claimPath, rt.auth, rt.claim)
		if rt.login != nil {
			hongbaoecho.MountLogin(e, loginPath, rt.login)
		}
		if rt.demo != nil {
			e.GET(demoCodePath, echo.WrapHandler(rt.demo))
		}
		if rt.notify != nil {
			e.Any(rt.notifyPath, echo.WrapHandler(rt.notify))
		}
		if rt.confirm != nil {
			e.Any(demoConfirmPath, echo.WrapHandler(rt.confirm))
		}
		return e
	}
}

// ginQuiet switches gin out of debug mode, which prints every route.
var ginQuiet sync.Once
