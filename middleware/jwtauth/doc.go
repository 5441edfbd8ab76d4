// Package jwtauth verifies the bearer JWT of each request and puts the
// verified user in the request context. It knows nothing of red packets: any
// server may put it in front of its handlers.
//
//	key, err := jwtauth.HMACKey("", secret) // or PublicKeyPEM, PublicKey
//	auth, err := jwtauth.NewAuthenticator(jwtauth.Config{Keys: []jwtauth.Key{key}, Issuer: iss, Audience: aud})
//	mux.Handle("/api/", auth.Middleware(api))
//	// in api: user, ok := jwtauth.UserFrom(r.Context())
//
// An [Authenticator] reads the token from the RFC 6750 "Authorization:
// Bearer <token>" header only (never the query string, a form body or a
// cookie), verifies its signature with the one [Key] its kid names (or the
// key without a kid), accepts only that key's algorithms ("none" never),
// enforces exp (required), nbf, iat, iss and aud with Config.Leeway, and
// stores the verified [User], with the caller's openid (Config.OpenIDClaim,
// "sub" by default), in the request context ([UserFrom],
// [ContextWithUser]). Tokens and the Authorization header are bounded by
// Config.MaxHeaderBytes.
//
// A request that fails goes to Config.ErrorHandler, by default
// [DefaultErrorHandler]: 401 with an RFC 6750 WWW-Authenticate challenge
// and the JSON body {"code", "message"} of package middleware/httperr, its
// message in the language the request prefers; the challenge's
// error_description stays English (RFC 6750 allows only ASCII there).
// Every verification error wraps [ErrInvalidToken] and matches one of the
// sentinels (ErrExpired, ErrIssuer, ErrUnknownKey, ...) with errors.Is;
// [ErrorCode] gives its snake_case code. No error, answer or log carries
// the token.
//
// Tokens are verified with github.com/golang-jwt/jwt/v5. Tests mint tokens
// for an Authenticator with package middleware/jwttest.
package jwtauth
