package hongbaoecho

import (
	"net/http"

	"github.com/labstack/echo/v4"
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
	mount(r, path, echo.WrapHandler(login))
}
