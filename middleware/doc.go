// Package middleware holds the HTTP layer of the hongbao service.
//
// Authentication: an [Authenticator] verifies the bearer JWT of each request
// (RFC 6750 "Authorization: Bearer <token>" header only; never the query string
// or a form body), checks its signature against a fixed set of [Key]s, enforces
// exp, nbf, iat, iss and aud, and stores the verified [User] (with the caller's
// openid) in the request context, from where handlers read it with [UserFrom].
// Requests that fail are answered with 401, an RFC 6750 WWW-Authenticate
// challenge and a JSON body written by [WriteError].
//
// Errors: every response error body is the JSON object
// {"code": "...", "message": "..."}, where code is a short snake_case string
// (see [ErrorCode]) and message is a fixed human-readable text that never
// contains credentials or tokens.
package middleware
