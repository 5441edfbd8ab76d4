package hongbaoecho

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/hongbao-go/hongbao/middleware/claim"
)

// MountLogin registers the login route on r, an *echo.Echo or an
// *echo.Group, at path: POST runs login (the handler of
// middleware/wxlogin, which needs no token), every other method is
// answered by claim.MethodNotAllowed and the paths under path by
// claim.NotFound, as Mount does for the claim route.
//
//	hongbaoecho.MountLogin(e, "/hongbao/login", login)
//	hongbaoecho.Mount(e, "/hongbao/send", auth, send)
func MountLogin(r Router, path string, login http.Handler) {
	notAllowed := echo.WrapHandler(http.HandlerFunc(claim.MethodNotAllowed))
	r.Add(http.MethodPost, path, echo.WrapHandler(login))
	for _, m := range otherMethods {
		r.Add(m, path, notAllowed)
	}
	r.Add(echo.RouteNotFound, path, notAllowed)
	r.Add(echo.RouteNotFound, strings.TrimSuffix(path, "/")+"/*", echo.WrapHandler(http.HandlerFunc(claim.NotFound)))
}
