// Package hongbaogin connects the hongbao claim handler to the gin web
// framework. It is glue only: authentication, the red-packet handler and
// every response body come from packages jwtauth and claim.
//
//	r := gin.New()
//	hongbaogin.Mount(r, "/hongbao/send", auth, h)
//
// Mount answers POST with Auth then Handler, every other method with the
// package's JSON 405 (claim.MethodNotAllowed, with "Allow: POST")
// without authentication, and the paths under the claim path with the JSON
// 404 of claim.NotFound, instead of gin's plain-text "405 method not
// allowed" and "404 page not found": the claim route answers the same on gin
// as on net/http, chi and echo, in the language the client asks for.
//
// Auth verifies the request's bearer JWT with a *jwtauth.Authenticator.
// A request that fails is answered by the authenticator's ErrorHandler (by
// default 401 with a WWW-Authenticate challenge and a JSON {code, message}
// body) and the chain is aborted. A request that passes carries the
// verified jwtauth.User both in its context, where the red-packet handler
// and jwtauth.UserFrom find it, and in the gin.Context under UserKey,
// where User finds it.
package hongbaogin
