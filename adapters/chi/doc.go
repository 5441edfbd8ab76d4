// Package hongbaochi mounts the hongbao red-packet handler on a chi router
// (v5). It is glue only: authentication, the red-packet handler and every
// response body come from packages jwtauth and claim (under middleware/).
//
//	r := chi.NewRouter()
//	hongbaochi.Mount(r, "/hongbao/send", auth, h)
//
// The route answers POST behind auth.Middleware. Every other method on the
// pattern gets the package's JSON 405 (claim.MethodNotAllowed, with
// "Allow: POST") without authentication, and the paths under it the JSON
// 404 of claim.NotFound, instead of chi's empty 405 and plain-text 404:
// the claim route answers the same on chi as on net/http, gin and echo, in
// the language the client asks for. Read the verified user in handlers
// behind the middleware with jwtauth.UserFrom(r.Context()).
package hongbaochi
