package hongbaochi_test

import (
	"fmt"
	"os"

	"github.com/go-chi/chi/v5"

	hongbaochi "github.com/hongbao-go/hongbao/adapters/chi"
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

	r := chi.NewRouter()
	hongbaochi.Mount(r, "/hongbao/send", auth, send)

	_ = parts.Show(os.Stdout, r, "/hongbao/send", "/hongbao/send/extra")
	// Output:
	// POST /hongbao/send 200 [nonceStr package paySign rail signType timeStamp]
	// GET /hongbao/send 405 method_not_allowed Allow: POST
	// GET /hongbao/send/extra 404 {"code":"not_found","message":"the requested path was not found"}
}

// Routes is the claim route as a chi.Router, to mount where you like.
func ExampleRoutes() {
	parts, err := claimtest.NewRoute()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer parts.Close()

	r := chi.NewRouter()
	r.Mount("/hongbao/send", hongbaochi.Routes(parts.Auth, parts.Handler))

	_ = parts.Show(os.Stdout, r, "/hongbao/send")
	// Output:
	// POST /hongbao/send 200 [nonceStr package paySign rail signType timeStamp]
	// GET /hongbao/send 405 method_not_allowed Allow: POST
}
