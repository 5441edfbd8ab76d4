package hongbaoecho_test

import (
	"net/http"

	"github.com/labstack/echo/v4"

	hongbaoecho "github.com/hongbao-go/hongbao/adapters/echo"
	"github.com/hongbao-go/hongbao/middleware"
)

func Example() {
	var (
		auth *middleware.Authenticator // middleware.NewAuthenticator(...)
		h    http.Handler              // middleware.NewHandler(...)
	)
	e := echo.New()
	hongbaoecho.Mount(e, "/hongbao/send", auth, h)

	// Other routes may use the same authentication and read the user.
	e.GET("/me", func(c echo.Context) error {
		u, _ := hongbaoecho.User(c)
		return c.JSON(http.StatusOK, map[string]string{"openid": u.OpenID})
	}, hongbaoecho.Auth(auth))
}

// Auth and Handler are the parts of Mount, for a route of your own; other
// methods on the path are then echo's to answer.
func ExampleHandler() {
	var (
		auth *middleware.Authenticator // middleware.NewAuthenticator(...)
		h    http.Handler              // middleware.NewHandler(...)
	)
	e := echo.New()
	e.POST("/hongbao/send", hongbaoecho.Handler(h), hongbaoecho.Auth(auth))
}
