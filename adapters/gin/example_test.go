package hongbaogin_test

import (
	"net/http"

	"github.com/gin-gonic/gin"

	hongbaogin "github.com/hongbao-go/hongbao/adapters/gin"
	"github.com/hongbao-go/hongbao/middleware"
)

func Example() {
	var (
		auth *middleware.Authenticator // middleware.NewAuthenticator(...)
		h    http.Handler              // middleware.NewHandler(...)
	)
	r := gin.New()
	hongbaogin.Mount(r, "/hongbao/send", auth, h)

	// Other routes may use the same authentication and read the user.
	r.GET("/me", hongbaogin.Auth(auth), func(c *gin.Context) {
		u, _ := hongbaogin.User(c)
		c.JSON(http.StatusOK, gin.H{"openid": u.OpenID})
	})
}

// Auth and Handler are the parts of Mount, for a route of your own; other
// methods on the path are then gin's to answer.
func ExampleHandler() {
	var (
		auth *middleware.Authenticator // middleware.NewAuthenticator(...)
		h    http.Handler              // middleware.NewHandler(...)
	)
	r := gin.New()
	r.POST("/hongbao/send", hongbaogin.Auth(auth), hongbaogin.Handler(h))
}
