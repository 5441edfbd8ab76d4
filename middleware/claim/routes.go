package claim

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/hongbao-go/hongbao/middleware/httperr"
	"github.com/hongbao-go/hongbao/middleware/jwtauth"
)

// MethodNotAllowed answers a request to the claim route whose method is not
// POST, exactly as the Handler does: 405 "method_not_allowed" with
// "Allow: POST" and the JSON error body, its message in the language the
// request prefers. Mount and the adapters route every other method of the
// claim path here, before authentication, so that a router's own 405 (plain
// text, an empty body, its own JSON) never answers it.
func MethodNotAllowed(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Allow", http.MethodPost)
	httperr.WriteLocalized(w, r, http.StatusMethodNotAllowed, "method_not_allowed", httperr.Message("method_not_allowed", nil))
}

// NotFound answers 404 "not_found" with the JSON error body, its message in
// the language the request prefers. Mount and the adapters answer the paths
// under the claim path with it.
func NotFound(w http.ResponseWriter, r *http.Request) {
	httperr.WriteLocalized(w, r, http.StatusNotFound, "not_found", httperr.Message("not_found", nil))
}

// Mount registers the claim route on mux at path, for every method: POST
// goes through a.Middleware to h, any other method is answered by
// MethodNotAllowed (before authentication), and the paths under path (path
// + "/") by NotFound, so every answer of the route is the package's JSON.
//
//	mux := http.NewServeMux()
//	claim.Mount(mux, "/hongbao/send", auth, send)
//
// path is a ServeMux pattern without a method ("/hongbao/send", or with a
// host: "api.example.com/hongbao/send"): a pattern "POST /hongbao/send"
// would leave other methods to the ServeMux, which answers them in plain
// text. Mount panics, as mux.Handle does, on a pattern that names a method
// or that mux refuses. Mount owns path+"/": register nothing at that exact
// pattern (more specific patterns under it still win).
func Mount(mux *http.ServeMux, path string, a *jwtauth.Authenticator, h http.Handler) {
	if strings.ContainsAny(path, " \t") {
		panic(fmt.Sprintf("claim: Mount(%q): the pattern must not name a method; Mount answers every method", path))
	}
	post := a.Middleware(h)
	mux.Handle(path, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			MethodNotAllowed(w, r)
			return
		}
		post.ServeHTTP(w, r)
	}))
	if !strings.HasSuffix(path, "/") && !strings.HasSuffix(path, "{$}") {
		mux.Handle(path+"/", http.HandlerFunc(NotFound))
	}
}
