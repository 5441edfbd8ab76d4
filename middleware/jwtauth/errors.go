package jwtauth

import (
	"errors"
	"net/http"
)

// errorInfo describes how a known error is presented to clients.
type errorInfo struct {
	err     error
	status  int
	code    string
	message string // fixed client-facing text; no quotes or backslashes
}

// errorTable lists the known errors, most specific first: errors.Is is tried
// in order, and the specific token errors also match ErrInvalidToken.
var errorTable = []errorInfo{
	{ErrNoToken, http.StatusUnauthorized, "missing_token", "a bearer token is required"},
	{ErrMalformedHeader, http.StatusUnauthorized, "malformed_authorization", "the Authorization header is malformed"},
	{ErrHeaderTooLarge, http.StatusUnauthorized, "authorization_too_large", "the Authorization header is too large"},
	{ErrExpired, http.StatusUnauthorized, "token_expired", "the token has expired"},
	{ErrNotYetValid, http.StatusUnauthorized, "token_not_yet_valid", "the token is not valid yet"},
	{ErrIssuedInFuture, http.StatusUnauthorized, "token_issued_in_future", "the token was issued in the future"},
	{ErrMissingExp, http.StatusUnauthorized, "token_missing_exp", "the token has no expiration time"},
	{ErrIssuer, http.StatusUnauthorized, "invalid_issuer", "the token issuer is not accepted"},
	{ErrAudience, http.StatusUnauthorized, "invalid_audience", "the token audience is not accepted"},
	{ErrUnknownKey, http.StatusUnauthorized, "unknown_key", "the token key id is not known"},
	{ErrAlgorithm, http.StatusUnauthorized, "invalid_algorithm", "the token signing algorithm is not accepted"},
	{ErrNoOpenID, http.StatusUnauthorized, "missing_openid", "the token carries no openid"},
	{errMalformedToken, http.StatusUnauthorized, "invalid_token", "the token is malformed"},
	{errSignature, http.StatusUnauthorized, "invalid_token", "the token signature is invalid"},
	{errClaimType, http.StatusUnauthorized, "invalid_token", "the token claims are invalid"},
	{errCritical, http.StatusUnauthorized, "invalid_token", "the token has unsupported critical headers"},
	{errTokenTooLarge, http.StatusUnauthorized, "invalid_token", "the token is too large"},
	{ErrInvalidToken, http.StatusUnauthorized, "invalid_token", "the token is invalid"},
}

var internalError = errorInfo{nil, http.StatusInternalServerError, "internal_error", "internal error"}

// lookupError returns the presentation of err; unknown errors map to a 500
// "internal_error" whose message reveals nothing of err.
func lookupError(err error) errorInfo {
	for _, e := range errorTable {
		if errors.Is(err, e.err) {
			return e
		}
	}
	return internalError
}

// ErrorCode returns the snake_case code used in JSON error bodies for err:
// for example "token_expired" for ErrExpired, "invalid_token" for any other
// ErrInvalidToken and "missing_token" for ErrNoToken. It returns "" for a nil
// error and "internal_error" for errors this package does not know.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	return lookupError(err).code
}
