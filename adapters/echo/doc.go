// Package hongbaoecho connects the hongbao claim handler to the echo web
// framework (v4). It is glue only: authentication, the red-packet handler
// and every response body come from packages jwtauth and claim.
//
//	e := echo.New()
//	hongbaoecho.Mount(e, "/hongbao/send", auth, h)
//
// Mount answers POST with Handler behind Auth, every other method with the
// package's JSON 405 (claim.MethodNotAllowed, with "Allow: POST")
// without authentication, and the paths under the claim path with the JSON
// 404 of claim.NotFound, instead of echo's own {"message": ...} bodies:
// the claim route answers the same on echo as on net/http, chi and gin, in
// the language the client asks for.
//
// Auth verifies the request's bearer JWT with a *jwtauth.Authenticator.
// A request that fails is answered by the authenticator's ErrorHandler (by
// default 401 with a WWW-Authenticate challenge and a JSON {code, message}
// body) and the next handler is not called; no error is returned to echo,
// so echo's HTTPErrorHandler does not write a second body. A request that
// passes carries the verified jwtauth.User both in its context, where the
// red-packet handler and jwtauth.UserFrom find it, and in the
// echo.Context under UserKey, where User finds it.
package hongbaoecho
