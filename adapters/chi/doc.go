// Package hongbaochi mounts the hongbao red-packet handler on a chi router
// (v5). It is glue only: authentication, the red-packet handler and every
// response body come from package middleware.
//
//	r := chi.NewRouter()
//	hongbaochi.Mount(r, "/hongbao/send", auth, h)
//
// The route answers POST only, behind auth.Middleware. Other methods on the
// pattern are answered by chi's MethodNotAllowed handler (405 with
// "Allow: POST" by default) without authentication, since no handler runs.
// Read the verified user in handlers behind the middleware with
// middleware.UserFrom(r.Context()).
package hongbaochi
