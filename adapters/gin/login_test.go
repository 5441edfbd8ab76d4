package hongbaogin_test

import (
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"

	hongbaogin "github.com/hongbao-go/hongbao/adapters/gin"
	"github.com/hongbao-go/hongbao/adapters/internal/adaptertest"
)

// TestLogin: the login route on a real gin router answers a token that
// the claim route beside it accepts; its other methods and paths answer
// the JSON 405 and 404.
func TestLogin(t *testing.T) {
	env := adaptertest.New(t)
	login := env.Login(t)
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	hongbaogin.MountLogin(r, "/hongbao/login", login.Handler)
	hongbaogin.Mount(r, "/hongbao/send", env.Auth, env.Handler)
	srv := httptest.NewServer(r)
	defer srv.Close()
	env.CheckLoginThenClaim(t, login, srv.URL+"/hongbao/login", srv.URL+"/hongbao/send", "oGinLogin_0001")
}
