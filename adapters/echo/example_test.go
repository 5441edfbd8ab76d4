package hongbaoecho_test

import (
	"fmt"
	"net/http"
	"os"

	"github.com/labstack/echo/v4"

	hongbaoecho "github.com/hongbao-go/hongbao/adapters/echo"
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

	e := echo.New()
	hongbaoecho.Mount(e, "/hongbao/send", auth, send)

	// Other routes may use the same authentication and read the user.
	e.GET("/me", func(c echo.Context) error {
		u, ok := hongbaoecho.User(c)
		if !ok {
			return echo.ErrUnauthorized
		}
		return c.JSON(http.StatusOK, map[string]string{"openid": u.OpenID})
	}, hongbaoecho.Auth(auth))

	_ = parts.Show(os.Stdout, e, "/hongbao/send", "/me")
	// Output:
	// POST /hongbao/send 200 [nonceStr package paySign rail signType timeStamp]
	// GET /hongbao/send 405 method_not_allowed Allow: POST
	// GET /me 200 {"openid":"oDemoUser00000000000000000001"}
}

// Auth and Handler are the parts of Mount, for a route of your own; other
// methods on the path are then echo's to answer.
func ExampleHandler() {
	parts, err := claimtest.NewRoute()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer parts.Close()

	e := echo.New()
	e.POST("/hongbao/send", hongbaoecho.Handler(parts.Handler), hongbaoecho.Auth(parts.Auth))

	_ = parts.Show(os.Stdout, e, "/hongbao/send")
	// Output:
	// POST /hongbao/send 200 [nonceStr package paySign rail signType timeStamp]
	// GET /hongbao/send 405 Allow: OPTIONS, POST
}
