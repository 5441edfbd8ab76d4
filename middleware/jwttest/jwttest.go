// Package jwttest mints JSON Web Tokens for tests of handlers mounted behind
// a jwtauth.Authenticator, as net/http/httptest serves HTTP for tests.
//
// A Signer holds a fresh random key: an HS256 secret (NewHS256) or an ES256
// key pair (NewES256). Key gives the matching jwtauth.Key for
// AuthConfig.Keys, AuthConfig a whole jwtauth.Config that accepts the
// Signer's tokens, and Token mints a token for an openid:
//
//	tokens := jwttest.HS256(t, jwttest.Config{})
//	auth, err := jwtauth.NewAuthenticator(tokens.AuthConfig())
//	if err != nil {
//		t.Fatal(err)
//	}
//	handler := auth.Middleware(send)
//	req := httptest.NewRequest(http.MethodPost, "/hongbao/send", strings.NewReader(`{"scene": 1047}`))
//	req.Header.Set("Authorization", "Bearer "+tokens.MustToken(t, "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"))
//
// A token carries the openid under Config.OpenIDClaim ("sub" by default,
// the claim the Authenticator reads unless AuthConfig.OpenIDClaim says
// otherwise), iat now, exp Config.TTL (one hour) later, and iss and aud
// when Config sets them, so that it passes an Authenticator configured the
// same way. Options make the tokens a test needs to see refused: Expired,
// NotYetValid, and Claim to set or remove any claim.
//
// Forgeries goes further: the requests a route behind the Signer's
// Authenticator must refuse with 401 before its handler runs (the algorithm
// "none", another algorithm or key, a tampered payload, an out-of-date
// token, a token outside the Authorization header...), each with the jwtauth
// error Authenticate returns for it. A test sends each one (NewRequest) and
// checks that nothing was paid:
//
//	for _, f := range tokens.MustForgeries(t, "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o") {
//		req, err := f.NewRequest(http.MethodPost, srv.URL+"/hongbao/send", strings.NewReader(`{"scene": 1047}`))
//		...
//	}
//
// Nothing is refused silently: every mistake (an empty openid, a negative
// TTL, an empty claim name) is an error from Token and the constructors,
// and the variants taking a testing.TB (HS256, ES256, MustToken) fail the
// test with it.
//
// The tokens are signed by github.com/golang-jwt/jwt/v5, the library the
// Authenticator verifies them with; a test needs no other dependency.
// Keys are drawn from crypto/rand and live only as long as the Signer: never
// use this package outside tests.
package jwttest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/hongbao-go/hongbao/middleware/jwtauth"
)

// DefaultTTL is how long a token is valid when Config.TTL is zero.
const DefaultTTL = time.Hour

// shift is how far Expired and NotYetValid move a token out of its
// validity: far beyond the Authenticator's default leeway of 30 seconds.
const shift = time.Hour

// secretBytes is the length of an HS256 secret: the least HMACKey accepts.
const secretBytes = 32

// Config shapes a Signer's key and tokens. The zero value is ready to use:
// tokens without a kid, issuer or audience, the openid in "sub", valid for
// an hour from time.Now.
type Config struct {
	// KID is the key id: the kid header of every token and the kid of
	// Key. Empty means no kid header, which an Authenticator verifies
	// with its key whose kid is "".
	KID string
	// Issuer and Audience, when set, are the iss and aud claims of every
	// token, and the Issuer and Audience of AuthConfig.
	Issuer, Audience string
	// OpenIDClaim names the claim that carries the openid; default "sub",
	// as jwtauth.Config.OpenIDClaim. AuthConfig passes it on.
	OpenIDClaim string
	// TTL is how long a token is valid after its iat; default DefaultTTL.
	// Negative is an error.
	TTL time.Duration
	// Now is the clock of iat and exp; default time.Now. AuthConfig passes
	// it on, so that a test with a fixed clock verifies with the same one.
	Now func() time.Time
}

// Signer mints tokens with one random key. It is immutable and safe for
// concurrent use.
type Signer struct {
	method  jwt.SigningMethod
	signKey any    // []byte for HS256, *ecdsa.PrivateKey for ES256
	secret  []byte // HS256 only
	pubPEM  []byte // ES256 only
	key     jwtauth.Key
	cfg     Config
}

// NewHS256 returns a Signer with a random 32-byte HS256 secret.
func NewHS256(cfg Config) (*Signer, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	secret := make([]byte, secretBytes)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("jwttest: drawing an HS256 secret: %w", err)
	}
	key, err := jwtauth.HMACKey(cfg.KID, secret, "HS256")
	if err != nil {
		return nil, fmt.Errorf("jwttest: %w", err)
	}
	return &Signer{method: jwt.SigningMethodHS256, signKey: secret, secret: secret, key: key, cfg: cfg}, nil
}

// NewES256 returns a Signer with a random ECDSA P-256 key pair, for tests
// of public-key verification (jwtauth.PublicKey, PublicKeyPEM).
func NewES256(cfg Config) (*Signer, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("jwttest: generating an ES256 key: %w", err)
	}
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("jwttest: encoding the ES256 public key: %w", err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	key, err := jwtauth.PublicKeyPEM(cfg.KID, pubPEM)
	if err != nil {
		return nil, fmt.Errorf("jwttest: %w", err)
	}
	return &Signer{method: jwt.SigningMethodES256, signKey: priv, pubPEM: pubPEM, key: key, cfg: cfg}, nil
}

// HS256 is NewHS256 for tests: it fails tb on error.
func HS256(tb testing.TB, cfg Config) *Signer {
	tb.Helper()
	s, err := NewHS256(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// ES256 is NewES256 for tests: it fails tb on error.
func ES256(tb testing.TB, cfg Config) *Signer {
	tb.Helper()
	s, err := NewES256(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func (c Config) withDefaults() (Config, error) {
	if c.TTL < 0 {
		return c, errors.New("jwttest: Config.TTL is negative")
	}
	if c.TTL == 0 {
		c.TTL = DefaultTTL
	}
	if c.OpenIDClaim == "" {
		c.OpenIDClaim = "sub"
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c, nil
}

// Alg returns the JWS algorithm of the tokens: "HS256" or "ES256".
func (s *Signer) Alg() string { return s.method.Alg() }

// Key returns the key that verifies the Signer's tokens, for
// jwtauth.Config.Keys. It accepts only the Signer's algorithm.
func (s *Signer) Key() jwtauth.Key { return s.key }

// AuthConfig returns a jwtauth.Config that accepts the Signer's
// tokens: Keys holds Key, and Issuer, Audience, OpenIDClaim and Now are the
// Signer's Config. Set its other fields (Leeway, ErrorHandler...) before
// jwtauth.NewAuthenticator.
func (s *Signer) AuthConfig() jwtauth.Config {
	return jwtauth.Config{
		Keys:        []jwtauth.Key{s.key},
		Issuer:      s.cfg.Issuer,
		Audience:    s.cfg.Audience,
		OpenIDClaim: s.cfg.OpenIDClaim,
		Now:         s.cfg.Now,
	}
}

// Secret returns a copy of the HS256 secret (for a server under test that
// reads it from its environment), or nil for an ES256 Signer.
func (s *Signer) Secret() []byte { return slices.Clone(s.secret) }

// PublicKeyPEM returns the ES256 public key as a PKIX "PUBLIC KEY" PEM
// block, as jwtauth.PublicKeyPEM reads it, or nil for an HS256 Signer.
func (s *Signer) PublicKeyPEM() []byte { return slices.Clone(s.pubPEM) }

// An Option changes one token.
type Option func(*token)

// token is a token being minted.
type token struct {
	now    time.Time
	ttl    time.Duration
	claims jwt.MapClaims
	sets   []claimSet // applied last, in order
	err    error
}

type claimSet struct {
	name  string
	value any
}

// Expired makes the token expired an hour ago: exp one hour before now,
// iat one TTL before that. An Authenticator refuses it with
// jwtauth.ErrExpired (unless its Leeway exceeds an hour).
func Expired() Option {
	return func(t *token) {
		exp := t.now.Add(-shift)
		t.claims["exp"] = exp.Unix()
		t.claims["iat"] = exp.Add(-t.ttl).Unix()
	}
}

// NotYetValid makes the token valid only an hour from now: nbf one hour
// after now and exp one TTL after that; iat stays now. An Authenticator
// refuses it with jwtauth.ErrNotYetValid (unless its Leeway exceeds an
// hour).
func NotYetValid() Option {
	return func(t *token) {
		nbf := t.now.Add(shift)
		t.claims["nbf"] = nbf.Unix()
		t.claims["exp"] = nbf.Add(t.ttl).Unix()
	}
}

// Claim sets the claim name to value, after every other option, or removes
// it when value is nil: Claim("exp", nil) mints a token without exp,
// Claim("iss", "someone-else") one from another issuer, Claim("scope",
// "hongbao") an extra claim for a Policy to read (User.Claims). value must
// be JSON-encodable; a time.Time is written as NumericDate (Unix seconds).
// An empty name is an error from Token.
func Claim(name string, value any) Option {
	return func(t *token) {
		if name == "" {
			t.err = errors.New("jwttest: Claim needs a claim name")
			return
		}
		if tm, ok := value.(time.Time); ok {
			value = tm.Unix()
		}
		t.sets = append(t.sets, claimSet{name, value})
	}
}

// Token mints a token for openid: the openid under Config.OpenIDClaim, iat
// now, exp Config.TTL later, iss and aud as Config sets them, the kid
// header when Config.KID is set; then opts. An empty openid is an error
// (use Claim to mint a token without one).
func (s *Signer) Token(openid string, opts ...Option) (string, error) {
	if openid == "" {
		return "", errors.New("jwttest: Token needs an openid")
	}
	now := s.cfg.Now()
	t := &token{now: now, ttl: s.cfg.TTL, claims: jwt.MapClaims{
		s.cfg.OpenIDClaim: openid,
		"iat":             now.Unix(),
		"exp":             now.Add(s.cfg.TTL).Unix(),
	}}
	if s.cfg.Issuer != "" {
		t.claims["iss"] = s.cfg.Issuer
	}
	if s.cfg.Audience != "" {
		t.claims["aud"] = s.cfg.Audience
	}
	for _, o := range opts {
		if o == nil {
			return "", errors.New("jwttest: nil Option")
		}
		o(t)
		if t.err != nil {
			return "", t.err
		}
	}
	for _, c := range t.sets {
		if c.value == nil {
			delete(t.claims, c.name)
		} else {
			t.claims[c.name] = c.value
		}
	}
	tok := jwt.NewWithClaims(s.method, t.claims)
	if s.cfg.KID != "" {
		tok.Header["kid"] = s.cfg.KID
	}
	signed, err := tok.SignedString(s.signKey)
	if err != nil {
		return "", fmt.Errorf("jwttest: signing the token: %w", err)
	}
	return signed, nil
}

// MustToken is Token for tests: it fails tb on error.
func (s *Signer) MustToken(tb testing.TB, openid string, opts ...Option) string {
	tb.Helper()
	tok, err := s.Token(openid, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}
