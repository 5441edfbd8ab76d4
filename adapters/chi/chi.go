package hongbaochi

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/hongbao-go/hongbao/middleware"
)

// Mount registers h for POST pattern on r, behind a.Middleware: a request
// with a valid bearer JWT reaches h with the verified user in its context;
// any other is answered by a's ErrorHandler. Other methods on pattern get
// r's MethodNotAllowed answer.
func Mount(r chi.Router, pattern string, a *middleware.Authenticator, h http.Handler) {
	r.With(a.Middleware).Method(http.MethodPost, pattern, h)
}

// Routes returns a chi router answering POST "/" with h behind a.Middleware,
// to be mounted under a prefix:
//
//	r.Mount("/hongbao/send", hongbaochi.Routes(auth, h))
func Routes(a *middleware.Authenticator, h http.Handler) chi.Router {
	r := chi.NewRouter()
	Mount(r, "/", a, h)
	return r
}
