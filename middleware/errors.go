package middleware

import (
	"encoding/json"
	"errors"
	"net/http"
)

// errorBody is the JSON shape of every error response.
type errorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// WriteError writes the JSON error body {"code": code, "message": message}
// with the given status. It sets Content-Type to application/json with a
// UTF-8 charset, X-Content-Type-Options to nosniff and, unless the caller
// already set one, Cache-Control to no-store. A status outside 100..999, which
// net/http would reject, is replaced by 500.
//
// The message is sent to the client as is: it must never contain secrets,
// tokens or other credentials.
func WriteError(w http.ResponseWriter, status int, code, message string) {
	if status < 100 || status > 999 {
		status = http.StatusInternalServerError
	}
	body, err := json.Marshal(errorBody{Code: code, Message: message})
	if err != nil {
		// Unreachable for two strings; keep a valid body regardless.
		body = []byte(`{"code":"internal_error","message":"internal error"}`)
	}
	body = append(body, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	if h.Get("Cache-Control") == "" {
		h.Set("Cache-Control", "no-store")
	}
	h.Del("Content-Length")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

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
