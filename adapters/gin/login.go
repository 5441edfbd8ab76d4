package hongbaogin

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/hongbao-go/hongbao/middleware/claim"
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
	r.POST(path, gin.WrapH(login))
	r.Match(otherMethods, path, gin.WrapF(claim.MethodNotAllowed))
	if !strings.HasSuffix(path, "/") {
		r.Any(path+"/*hongbaoSubpath", gin.WrapF(claim.NotFound))
	}
}
