package hongbaogin

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// MountLogin registers the login route on r, a *gin.Engine or a
// *gin.RouterGroup, at path: POST runs login (the handler of
// middleware/wxlogin, which needs no token), every other method of gin's
// Any is answered by claim.MethodNotAllowed and the paths under path
// by claim.NotFound, as Mount does for the claim route.
//
//	hongbaogin.MountLogin(r, "/hongbao/login", login)
//	hongbaogin.Mount(r, "/hongbao/send", auth, send)
func MountLogin(r gin.IRoutes, path string, login http.Handler) {
	mount(r, path, gin.WrapH(login))
}
