package middleware

import (
	"fmt"
	"net/http"
	"strings"
)

// MethodNotAllowed answers a request to the claim route whose method is not
// POST, exactly as the Handler does: 405 "method_not_allowed" with
// "Allow: POST" and the JSON error body, its message in the language the
// request prefers. Mount and the adapters route every other method of the
// claim path here, before authentication, so that a router's own 405 (plain
// text, an empty body, its own JSON) never answers it.
func MethodNotAllowed(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Allow", http.MethodPost)
	writeLocalized(w, r, http.StatusMethodNotAllowed, "method_not_allowed", messages["method_not_allowed"].en)
}

// NotFound answers 404 "not_found" with the JSON error body, its message in
// the language the request prefers. Mount and the adapters answer the paths
// under the claim path with it.
func NotFound(w http.ResponseWriter, r *http.Request) {
	writeLocalized(w, r, http.StatusNotFound, "not_found", messages["not_found"].en)
}

// Mount registers the claim route on mux at path, for every method: POST
// goes through a.Middleware to h, any other method is answered by
// MethodNotAllowed (before authentication), and the paths under path (path
// + "/") by NotFound, so every answer of the route is the package's JSON.
//
//	mux := http.NewServeMux()
//	middleware.Mount(mux, "/hongbao/send", auth, send)
//
// path is a ServeMux pattern without a method ("/hongbao/send", or with a
// host: "api.example.com/hongbao/send"): a pattern "POST /hongbao/send"
// would leave other methods to the ServeMux, which answers them in plain
// text. Mount panics, as mux.Handle does, on a pattern that names a method
// or that mux refuses. Mount owns path+"/": register nothing at that exact
// pattern (more specific patterns under it still win).
func Mount(mux *http.ServeMux, path string, a *Authenticator, h http.Handler) {
	if strings.ContainsAny(path, " \t") {
		panic(fmt.Sprintf("middleware: Mount(%q): the pattern must not name a method; Mount answers every method", path))
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
