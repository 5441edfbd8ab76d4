package hongbaochi_test

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	hongbaochi "github.com/hongbao-go/hongbao/adapters/chi"
	"github.com/hongbao-go/hongbao/middleware"
)

func Example() {
	var (
		auth *middleware.Authenticator // middleware.NewAuthenticator(...)
		h    http.Handler              // middleware.NewHandler(...)
	)
	r := chi.NewRouter()
	hongbaochi.Mount(r, "/hongbao/send", auth, h)
}

func ExampleRoutes() {
	var (
		auth *middleware.Authenticator // middleware.NewAuthenticator(...)
		h    http.Handler              // middleware.NewHandler(...)
	)
	r := chi.NewRouter()
	r.Mount("/hongbao/send", hongbaochi.Routes(auth, h))
}
