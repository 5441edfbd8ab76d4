package httperr

import (
	"encoding/json"
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

// WriteLocalized writes the error body with message in the language r
// prefers (see Localize), and says so: Vary: Accept-Language, and
// Content-Language when the language of the message is known.
func WriteLocalized(w http.ResponseWriter, r *http.Request, status int, code, message string) {
	msg, lang := LocalizeTo(PreferredLanguage(r), code, message)
	WriteIn(w, status, code, msg, lang)
}

// WriteIn writes the error body with message, which is in lang ("" when
// its language is not known: then no Content-Language is set), and adds
// Vary: Accept-Language.
func WriteIn(w http.ResponseWriter, status int, code, message string, lang Language) {
	h := w.Header()
	if !headerHasToken(h, "Vary", "Accept-Language") {
		h.Add("Vary", "Accept-Language")
	}
	if lang != "" {
		h.Set("Content-Language", string(lang))
	}
	WriteError(w, status, code, message)
}
