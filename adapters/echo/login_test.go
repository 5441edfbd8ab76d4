package hongbaoecho_test

import (
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"

	hongbaoecho "github.com/hongbao-go/hongbao/adapters/echo"
	"github.com/hongbao-go/hongbao/adapters/internal/adaptertest"
)

// TestLogin: the login route on a real echo router answers a token that
// the claim route beside it accepts; its other methods and paths answer
// the JSON 405 and 404.
func TestLogin(t *testing.T) {
	env := adaptertest.New(t)
	login := env.Login(t)
	r := echo.New()
	hongbaoecho.MountLogin(r, "/hongbao/login", login.Handler)
	hongbaoecho.Mount(r, "/hongbao/send", env.Auth, env.Handler)
	srv := httptest.NewServer(r)
	defer srv.Close()
	env.CheckLoginThenClaim(t, login, srv.URL+"/hongbao/login", srv.URL+"/hongbao/send", "oEchoLogin_0001")
}
