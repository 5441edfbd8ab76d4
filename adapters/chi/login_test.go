package hongbaochi_test

import (
	"net/http/httptest"
	"testing"

	"github.com/go-chi/chi/v5"

	hongbaochi "github.com/hongbao-go/hongbao/adapters/chi"
	"github.com/hongbao-go/hongbao/adapters/internal/adaptertest"
)

// TestLogin: the login route on a real chi router answers a token that
// the claim route beside it accepts; its other methods and paths answer
// the JSON 405 and 404.
func TestLogin(t *testing.T) {
	env := adaptertest.New(t)
	login := env.Login(t)
	r := chi.NewRouter()
	hongbaochi.MountLogin(r, "/hongbao/login", login.Handler)
	hongbaochi.Mount(r, "/hongbao/send", env.Auth, env.Handler)
	srv := httptest.NewServer(r)
	defer srv.Close()
	env.CheckLoginThenClaim(t, login, srv.URL+"/hongbao/login", srv.URL+"/hongbao/send", "oChiLogin_0001")
}
