package hongbaogin_test

import (
	"fmt"
	"net/http"
	"os"

	"github.com/gin-gonic/gin"

	hongbaogin "github.com/hongbao-go/hongbao/adapters/gin"
	"github.com/hongbao-go/hongbao/middleware/claim/claimtest"
)

func Example() {
	// The parts: jwtauth.NewAuthenticator and claim.NewHandler, here on
	// a fake platform (claimtest.NewRoute) with a token of a test key.
	parts, err := claimtest.NewRoute()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer parts.Close()
	auth, send := parts.Auth, parts.Handler

	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	hongbaogin.Mount(r, "/hongbao/send", auth, send)

	// Other routes may use the same authentication and read the user.
	r.GET("/me", hongbaogin.Auth(auth), func(c *gin.Context) {
		u, ok := hongbaogin.User(c)
		if !ok {
			c.AbortWithStatus(http.StatusUnauthorized)
			return
		}
		c.JSON(http.StatusOK, gin.H{"openid": u.OpenID})
	})

	_ = parts.Show(os.Stdout, r, "/hongbao/send", "/me")
	// Output:
	// POST /hongbao/send 200 [nonceStr package paySign rail signType timeStamp]
	// GET /hongbao/send 405 method_not_allowed Allow: POST
	// GET /me 200 {"openid":"oDemoUser00000000000000000001"}
}

// Auth and Handler are the parts of Mount, for a route of your own; other
// methods on the path are then gin's to answer.
func ExampleHandler() {
	parts, err := claimtest.NewRoute()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer parts.Close()

	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.POST("/hongbao/send", hongbaogin.Auth(parts.Auth), hongbaogin.Handler(parts.Handler))

	_ = parts.Show(os.Stdout, r, "/hongbao/send")
	// Output:
	// POST /hongbao/send 200 [nonceStr package paySign rail signType timeStamp]
	// GET /hongbao/send 404
}
