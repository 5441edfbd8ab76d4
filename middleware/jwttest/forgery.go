package jwttest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/hongbao-go/hongbao/middleware/jwtauth"
)

// A Forgery is a request that a route behind an Authenticator built from
// the Signer's AuthConfig must refuse with 401 Unauthorized, without calling
// the handler behind it: a forged, tampered or out-of-date token, or a token
// where the Authenticator does not look for one.
type Forgery struct {
	// Name says what is wrong, for t.Run.
	Name string
	// Token is the token the request carries, if any, so that a test can
	// check that no answer or log line repeats it.
	Token string
	// Header holds the request's headers (Authorization, Cookie), Query its
	// query parameters; NewRequest sets both.
	Header http.Header
	Query  url.Values
	// Want is the error jwtauth.Authenticator.Authenticate returns for the
	// request, for errors.Is (the sentinels wrap jwtauth.ErrInvalidToken
	// where the token itself is refused).
	Want error
}

// NewRequest returns a request to target with the Forgery's headers and
// query parameters added, as http.NewRequest builds it from method and body.
func (f Forgery) NewRequest(method, target string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		return nil, fmt.Errorf("jwttest: %w", err)
	}
	for name, values := range f.Header {
		for _, v := range values {
			req.Header.Add(name, v)
		}
	}
	if len(f.Query) > 0 {
		q := req.URL.Query()
		for name, values := range f.Query {
			q[name] = append(q[name], values...)
		}
		req.URL.RawQuery = q.Encode()
	}
	return req, nil
}

// Forgeries returns the requests an Authenticator built from AuthConfig
// (with a Leeway under an hour and the default MaxHeaderBytes) must refuse,
// built around a good token for openid: the algorithm "none" or missing,
// another algorithm (for an ES256 Signer, HS256 keyed with its public key),
// an unknown kid, another key's signature, a tampered payload, a stripped
// signature, an expired or not yet valid token, one issued in the future,
// without exp or openid, from another issuer or for another audience (when
// Config sets them), and a token in the wrong place (no Authorization
// header, another scheme, no scheme, two headers, an oversized header, the
// query string, a cookie). Each is new: the keys of the forged signatures
// are drawn for the call.
func (s *Signer) Forgeries(openid string) ([]Forgery, error) {
	good, err := s.Token(openid)
	if err != nil {
		return nil, err
	}
	parts := strings.Split(good, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("jwttest: a token of %d parts", len(parts))
	}
	payload, sig := parts[1], parts[2]
	raw := func(header map[string]any, payload, sig string) (string, error) {
		h, err := json.Marshal(header)
		if err != nil {
			return "", fmt.Errorf("jwttest: %w", err)
		}
		return base64.RawURLEncoding.EncodeToString(h) + "." + payload + "." + sig, nil
	}
	tamperedClaims, err := json.Marshal(map[string]any{s.cfg.OpenIDClaim: "attacker", "exp": s.cfg.Now().Add(s.cfg.TTL).Unix()})
	if err != nil {
		return nil, fmt.Errorf("jwttest: %w", err)
	}

	// Tokens signed by keys the Authenticator does not hold.
	var other *Signer
	var otherAlg jwt.SigningMethod
	var otherKey any
	switch s.method {
	case jwt.SigningMethodHS256:
		other, err = NewHS256(s.cfg)
		ec, gerr := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if gerr != nil {
			return nil, fmt.Errorf("jwttest: generating an ES256 key: %w", gerr)
		}
		otherAlg, otherKey = jwt.SigningMethodES256, ec
	default:
		other, err = NewES256(s.cfg)
		// Key confusion: the public key, known to all, as an HMAC secret.
		otherAlg, otherKey = jwt.SigningMethodHS256, s.pubPEM
	}
	if err != nil {
		return nil, err
	}
	sign := func(m jwt.SigningMethod, key any, header map[string]any, opts ...Option) (string, error) {
		tok, err := other.Token(openid, opts...)
		if err != nil {
			return "", err
		}
		claims := jwt.MapClaims{}
		if _, _, err := jwt.NewParser().ParseUnverified(tok, claims); err != nil {
			return "", fmt.Errorf("jwttest: %w", err)
		}
		t := jwt.NewWithClaims(m, claims)
		for k, v := range header {
			t.Header[k] = v
		}
		signed, err := t.SignedString(key)
		if err != nil {
			return "", fmt.Errorf("jwttest: signing the token: %w", err)
		}
		return signed, nil
	}
	kid := map[string]any{}
	if s.cfg.KID != "" {
		kid["kid"] = s.cfg.KID
	}

	var out []Forgery
	var firstErr error
	bearer := func(name string, want error, tok string, err error) {
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			return
		}
		out = append(out, Forgery{Name: name, Token: tok, Header: http.Header{"Authorization": {"Bearer " + tok}}, Want: want})
	}
	token := func(name string, want error, opts ...Option) {
		tok, err := s.Token(openid, opts...)
		bearer(name, want, tok, err)
	}
	withKID := func(h map[string]any) map[string]any {
		for k, v := range kid {
			h[k] = v
		}
		return h
	}

	t, err := raw(withKID(map[string]any{"alg": "none", "typ": "JWT"}), payload, "")
	bearer("alg none, no signature", jwtauth.ErrAlgorithm, t, err)
	t, err = raw(withKID(map[string]any{"alg": "none"}), payload, sig)
	bearer("alg none with the good signature", jwtauth.ErrAlgorithm, t, err)
	t, err = raw(withKID(map[string]any{"alg": "NONE"}), payload, "")
	bearer("alg NONE", jwtauth.ErrAlgorithm, t, err)
	t, err = raw(withKID(map[string]any{"typ": "JWT"}), payload, sig)
	bearer("alg missing", jwtauth.ErrAlgorithm, t, err)
	t, err = raw(withKID(map[string]any{"alg": 256}), payload, sig)
	bearer("alg not a string", jwtauth.ErrAlgorithm, t, err)
	t, err = sign(otherAlg, otherKey, kid)
	bearer(otherAlg.Alg()+" instead of "+s.Alg(), jwtauth.ErrAlgorithm, t, err)
	t, err = sign(s.method, other.signKey, map[string]any{"kid": "jwttest-unknown-" + s.cfg.KID})
	bearer("unknown kid", jwtauth.ErrUnknownKey, t, err)
	t, err = sign(s.method, other.signKey, kid)
	bearer("signed by another key", jwtauth.ErrInvalidToken, t, err)
	bearer("tampered payload", jwtauth.ErrInvalidToken,
		parts[0]+"."+base64.RawURLEncoding.EncodeToString(tamperedClaims)+"."+sig, nil)
	bearer("signature stripped", jwtauth.ErrInvalidToken, parts[0]+"."+payload+".", nil)
	bearer("four segments", jwtauth.ErrInvalidToken, good+".x", nil)
	bearer("garbage", jwtauth.ErrInvalidToken, "a.b.c", nil)
	token("expired", jwtauth.ErrExpired, Expired())
	token("not yet valid", jwtauth.ErrNotYetValid, NotYetValid())
	token("issued in the future", jwtauth.ErrIssuedInFuture, Claim("iat", s.cfg.Now().Add(shift)))
	token("no exp", jwtauth.ErrMissingExp, Claim("exp", nil))
	token("no openid", jwtauth.ErrNoOpenID, Claim(s.cfg.OpenIDClaim, nil))
	token("empty openid", jwtauth.ErrNoOpenID, Claim(s.cfg.OpenIDClaim, ""))
	if s.cfg.Issuer != "" {
		token("another issuer", jwtauth.ErrIssuer, Claim("iss", s.cfg.Issuer+".evil"))
		token("no issuer", jwtauth.ErrIssuer, Claim("iss", nil))
	}
	if s.cfg.Audience != "" {
		token("another audience", jwtauth.ErrAudience, Claim("aud", s.cfg.Audience+"-other"))
		token("no audience", jwtauth.ErrAudience, Claim("aud", nil))
	}
	if firstErr != nil {
		return nil, firstErr
	}

	header := func(name string, want error, h http.Header) {
		out = append(out, Forgery{Name: name, Token: good, Header: h, Want: want})
	}
	header("no Authorization header", jwtauth.ErrNoToken, http.Header{"X-Other": {"1"}})
	header("empty bearer", jwtauth.ErrMalformedHeader, http.Header{"Authorization": {"Bearer "}})
	header("bearer with trailing junk", jwtauth.ErrMalformedHeader, http.Header{"Authorization": {"Bearer " + good + " extra"}})
	header("two Authorization headers", jwtauth.ErrMalformedHeader, http.Header{"Authorization": {"Bearer " + good, "Bearer " + good}})
	header("Basic scheme", jwtauth.ErrNoToken, http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte("user:"+good))}})
	header("token without scheme", jwtauth.ErrNoToken, http.Header{"Authorization": {good}})
	header("16 KiB header", jwtauth.ErrHeaderTooLarge, http.Header{"Authorization": {"Bearer " + good + strings.Repeat("A", 16<<10)}})
	header("token only in a cookie", jwtauth.ErrNoToken, http.Header{"Cookie": {"access_token=" + good}})
	out = append(out, Forgery{Name: "token only in the query string", Token: good, Query: url.Values{"access_token": {good}}, Want: jwtauth.ErrNoToken})
	return out, nil
}

// MustForgeries is Forgeries for tests: it fails tb on error.
func (s *Signer) MustForgeries(tb testing.TB, openid string) []Forgery {
	tb.Helper()
	f, err := s.Forgeries(openid)
	if err != nil {
		tb.Fatal(err)
	}
	return f
}
