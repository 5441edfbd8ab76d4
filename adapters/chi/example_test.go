package hongbaochi_test

import (
	"fmt"

	"github.com/go-chi/chi/v5"

	hongbaochi "github.com/hongbao-go/hongbao/adapters/chi"
	"github.com/hongbao-go/hongbao/adapters/internal/adaptertest"
)

func Example() {
	// The parts: jwtauth.NewAuthenticator and claim.NewHandler
	// (here on a fake platform).
	demo, err := adaptertest.NewDemo()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer demo.Close()

	r := chi.NewRouter()
	hongbaochi.Mount(r, "/hongbao/send", demo.Auth, demo.Handler)

	demo.Show(r, "/hongbao/send", "/hongbao/send/extra")
	// Output:
	// POST /hongbao/send 200 [nonceStr package paySign signType timeStamp]
	// GET /hongbao/send 405 method_not_allowed Allow: POST
	// GET /hongbao/send/extra 404 {"code":"not_found","message":"the requested path was not found"}
}

// Routes is the claim route as a chi.Router, to mount where you like.
func ExampleRoutes() {
	demo, err := adaptertest.NewDemo()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer demo.Close()

	r := chi.NewRouter()
	r.Mount("/hongbao/send", hongbaochi.Routes(demo.Auth, demo.Handler))

	demo.Show(r, "/hongbao/send")
	// Output:
	// POST /hongbao/send 200 [nonceStr package paySign signType timeStamp]
	// GET /hongbao/send 405 method_not_allowed Allow: POST
}
