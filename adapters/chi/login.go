package hongbaochi

import (
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/hongbao-go/hongbao/middleware/claim"
)

// MountLogin registers the login route on r at pattern: POST runs login
// (the handler of middleware/wxlogin, which needs no token), every other
// method is answered by claim.MethodNotAllowed and the paths under
// pattern by claim.NotFound, as Mount does for the claim route.
//
//	hongbaochi.MountLogin(r, "/hongbao/login", login)
//	hongbaochi.Mount(r, "/hongbao/send", auth, send)
func MountLogin(r chi.Router, pattern string, login http.Handler) {
	r.HandleFunc(pattern, claim.MethodNotAllowed)
	r.Method(http.MethodPost, pattern, login)
	r.HandleFunc(strings.TrimSuffix(pattern, "/")+"/*", claim.NotFound)
}
