package hongbaochi

import (
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/hongbao-go/hongbao/middleware/claim"
	"github.com/hongbao-go/hongbao/middleware/jwtauth"
)

// Mount registers the claim route on r at pattern: POST runs h behind
// a.Middleware, so a request with a valid bearer JWT reaches h with the
// verified user in its context and any other is answered by a's
// ErrorHandler; every other method is answered by
// claim.MethodNotAllowed (405, "Allow: POST", the JSON error body)
// before authentication, and the paths under pattern by claim.NotFound
// (404, JSON). These are routes of their own, so r's MethodNotAllowed and
// NotFound handlers (chi's default 405 has an empty body) never answer the
// claim route, which answers as on every other router.
//
// Mount owns pattern and pattern + "/*": routes registered there later
// replace Mount's for their methods. Methods chi does not know (see
// chi.RegisterMethod), which wx.request cannot send, stay r's
// MethodNotAllowed handler's to answer.
func Mount(r chi.Router, pattern string, a *jwtauth.Authenticator, h http.Handler) {
	r.HandleFunc(pattern, claim.MethodNotAllowed) // every method
	r.With(a.Middleware).Method(http.MethodPost, pattern, h)
	r.HandleFunc(strings.TrimSuffix(pattern, "/")+"/*", claim.NotFound)
}

// Routes returns a chi router answering POST "/" with h behind a.Middleware,
// other methods with claim.MethodNotAllowed and the paths under "/"
// with claim.NotFound (see Mount), to be mounted under a prefix:
//
//	r.Mount("/hongbao/send", hongbaochi.Routes(auth, h))
func Routes(a *jwtauth.Authenticator, h http.Handler) chi.Router {
	r := chi.NewRouter()
	Mount(r, "/", a, h)
	return r
}
