// Package hongbaogin connects the hongbao middleware to the gin web
// framework. It is glue only: authentication, the red-packet handler and
// every response body come from package middleware.
//
//	r := gin.New()
//	r.POST("/hongbao/send", hongbaogin.Auth(auth), hongbaogin.Handler(h))
//
// Auth verifies the request's bearer JWT with a *middleware.Authenticator.
// A request that fails is answered by the authenticator's ErrorHandler (by
// default 401 with a WWW-Authenticate challenge and a JSON {code, message}
// body) and the chain is aborted. A request that passes carries the
// verified middleware.User both in its context, where the red-packet handler
// and middleware.UserFrom find it, and in the gin.Context under UserKey,
// where User finds it.
package hongbaogin
