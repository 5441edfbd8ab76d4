package jwtauth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/hongbao-go/hongbao/middleware/httperr"
)

// Errors returned by BearerToken and Authenticate before any token is verified.
var (
	// ErrNoToken: the request has no Authorization header, an empty one, or
	// one with a scheme other than Bearer (RFC 6750 section 3.1 treats the
	// latter as "no authentication information").
	ErrNoToken = errors.New("jwtauth: no bearer token")
	// ErrMalformedHeader: more than one Authorization header, or a Bearer
	// header whose token is missing or not an RFC 6750 b64token.
	ErrMalformedHeader = errors.New("jwtauth: malformed Authorization header")
	// ErrHeaderTooLarge: the Authorization header exceeds the configured bound.
	ErrHeaderTooLarge = errors.New("jwtauth: Authorization header too large")
)

// ErrInvalidToken is wrapped by every token verification failure, so
// errors.Is(err, ErrInvalidToken) holds for all errors below.
var ErrInvalidToken = errors.New("jwtauth: invalid token")

// Token verification failures. Each one wraps ErrInvalidToken.
var (
	ErrExpired        = fmt.Errorf("%w: token is expired", ErrInvalidToken)
	ErrNotYetValid    = fmt.Errorf("%w: token is not valid yet", ErrInvalidToken)
	ErrIssuedInFuture = fmt.Errorf("%w: token issued in the future", ErrInvalidToken)
	ErrMissingExp     = fmt.Errorf("%w: token has no exp claim", ErrInvalidToken)
	ErrIssuer         = fmt.Errorf("%w: issuer not accepted", ErrInvalidToken)
	ErrAudience       = fmt.Errorf("%w: audience not accepted", ErrInvalidToken)
	ErrUnknownKey     = fmt.Errorf("%w: unknown key id", ErrInvalidToken)
	ErrAlgorithm      = fmt.Errorf("%w: signing algorithm not accepted", ErrInvalidToken)
	ErrNoOpenID       = fmt.Errorf("%w: no openid claim", ErrInvalidToken)

	errMalformedToken = fmt.Errorf("%w: malformed token", ErrInvalidToken)
	errSignature      = fmt.Errorf("%w: signature is invalid", ErrInvalidToken)
	errClaimType      = fmt.Errorf("%w: claim of invalid type", ErrInvalidToken)
	errCritical       = fmt.Errorf("%w: unsupported critical header", ErrInvalidToken)
	errTokenTooLarge  = fmt.Errorf("%w: token too large", ErrInvalidToken)
	errNotConfigured  = errors.New("jwtauth: authenticator not configured")
)

const (
	defaultLeeway         = 30 * time.Second
	defaultOpenIDClaim    = "sub"
	defaultMaxHeaderBytes = 4096
	minHMACSecret         = 32
	minRSABits            = 2048
	defaultTokenCache     = 1024
)

// Key is a token verification key: an HMAC secret or a public key, the key id
// (kid) it answers to and the JWS algorithms it accepts. Build one with
// HMACKey, PublicKeyPEM or PublicKey; the zero Key is rejected by
// NewAuthenticator.
type Key struct {
	kid  string
	algs []string
	key  any // []byte, *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey
}

var (
	hmacAlgs = []string{"HS256", "HS384", "HS512"}
	rsaAlgs  = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
)

// HMACKey returns a key that verifies HS256 (the default), HS384 or HS512
// tokens with secret. The secret must be at least 32 bytes, and at least as
// long as the hash output of every algorithm allowed (48 bytes for HS384, 64
// for HS512; RFC 7518 section 3.2). The secret is copied.
func HMACKey(kid string, secret []byte, algs ...string) (Key, error) {
	algs, err := chooseAlgs("HMAC", algs, hmacAlgs, "HS256")
	if err != nil {
		return Key{}, err
	}
	need := minHMACSecret
	for _, a := range algs {
		switch a {
		case "HS384":
			need = max(need, 48)
		case "HS512":
			need = max(need, 64)
		}
	}
	if len(secret) < need {
		return Key{}, fmt.Errorf("jwtauth: HMAC secret for key %q is %d bytes, need at least %d", kid, len(secret), need)
	}
	return Key{kid: kid, algs: algs, key: slices.Clone(secret)}, nil
}

// PublicKeyPEM returns a key for the public key in the first PEM block of
// pemBytes, which must be a PKIX "PUBLIC KEY", a PKCS #1 "RSA PUBLIC KEY" or a
// "CERTIFICATE" (whose subject key is used; the certificate itself is not
// validated). Private keys are refused. Algorithms are chosen as by PublicKey.
func PublicKeyPEM(kid string, pemBytes []byte, algs ...string) (Key, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return Key{}, fmt.Errorf("jwtauth: key %q: no PEM block found", kid)
	}
	var (
		pub any
		err error
	)
	switch block.Type {
	case "PUBLIC KEY":
		pub, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		cert, err = x509.ParseCertificate(block.Bytes)
		if err == nil {
			pub = cert.PublicKey
		}
	default:
		if strings.Contains(block.Type, "PRIVATE") {
			return Key{}, fmt.Errorf("jwtauth: key %q: PEM block is a private key; a public key is required", kid)
		}
		return Key{}, fmt.Errorf("jwtauth: key %q: unsupported PEM block type %q", kid, block.Type)
	}
	if err != nil {
		return Key{}, fmt.Errorf("jwtauth: key %q: parsing %s: %w", kid, block.Type, err)
	}
	return PublicKey(kid, pub, algs...)
}

// PublicKey returns a key for pub:
//
//   - *rsa.PublicKey of at least 2048 bits: RS256 by default; RS384, RS512,
//     PS256, PS384 and PS512 may be allowed instead or as well;
//   - *ecdsa.PublicKey: exactly the algorithm of its curve, ES256 for P-256,
//     ES384 for P-384 and ES512 for P-521;
//   - ed25519.PublicKey: EdDSA.
//
// Any other key type, or an algorithm outside these, is an error.
func PublicKey(kid string, pub crypto.PublicKey, algs ...string) (Key, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k == nil || k.N == nil || k.N.Sign() <= 0 || k.E < 3 || k.E%2 == 0 {
			return Key{}, fmt.Errorf("jwtauth: key %q: invalid RSA public key", kid)
		}
		if bits := k.N.BitLen(); bits < minRSABits {
			return Key{}, fmt.Errorf("jwtauth: key %q: RSA key is %d bits, need at least %d", kid, bits, minRSABits)
		}
		algs, err := chooseAlgs("RSA", algs, rsaAlgs, "RS256")
		if err != nil {
			return Key{}, err
		}
		cp := *k
		return Key{kid: kid, algs: algs, key: &cp}, nil
	case *ecdsa.PublicKey:
		if k == nil || k.Curve == nil {
			return Key{}, fmt.Errorf("jwtauth: key %q: invalid ECDSA public key", kid)
		}
		var alg string
		switch k.Curve {
		case elliptic.P256():
			alg = "ES256"
		case elliptic.P384():
			alg = "ES384"
		case elliptic.P521():
			alg = "ES512"
		default:
			return Key{}, fmt.Errorf("jwtauth: key %q: unsupported ECDSA curve", kid)
		}
		if _, err := k.ECDH(); err != nil {
			return Key{}, fmt.Errorf("jwtauth: key %q: invalid ECDSA public key", kid)
		}
		algs, err := chooseAlgs("ECDSA "+k.Curve.Params().Name, algs, []string{alg}, alg)
		if err != nil {
			return Key{}, err
		}
		cp := *k
		return Key{kid: kid, algs: algs, key: &cp}, nil
	case ed25519.PublicKey:
		return ed25519Key(kid, k, algs)
	case *ed25519.PublicKey:
		if k == nil {
			return Key{}, fmt.Errorf("jwtauth: key %q: invalid Ed25519 public key", kid)
		}
		return ed25519Key(kid, *k, algs)
	case []byte, string:
		return Key{}, fmt.Errorf("jwtauth: key %q: use HMACKey for shared secrets", kid)
	case nil:
		return Key{}, fmt.Errorf("jwtauth: key %q: nil public key", kid)
	default:
		return Key{}, fmt.Errorf("jwtauth: key %q: unsupported public key type %T", kid, pub)
	}
}

func ed25519Key(kid string, k ed25519.PublicKey, algs []string) (Key, error) {
	if len(k) != ed25519.PublicKeySize {
		return Key{}, fmt.Errorf("jwtauth: key %q: invalid Ed25519 public key", kid)
	}
	algs, err := chooseAlgs("Ed25519", algs, []string{"EdDSA"}, "EdDSA")
	if err != nil {
		return Key{}, err
	}
	return Key{kid: kid, algs: algs, key: slices.Clone(k)}, nil
}

// chooseAlgs returns the deduplicated requested algorithms, or def when none
// is requested, after checking that each is one of allowed.
func chooseAlgs(kind string, requested, allowed []string, def string) ([]string, error) {
	if len(requested) == 0 {
		return []string{def}, nil
	}
	out := make([]string, 0, len(requested))
	for _, a := range requested {
		if !slices.Contains(allowed, a) {
			return nil, fmt.Errorf("jwtauth: algorithm %q not allowed for a %s key (allowed: %s)", a, kind, strings.Join(allowed, ", "))
		}
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out, nil
}

// Config configures an Authenticator. Only Keys is required.
type Config struct {
	// Keys are the verification keys; key ids must be unique. A token with a
	// kid header is verified only by the key with that kid (none: ErrUnknownKey);
	// a token without one only by the key whose kid is "". Each key accepts
	// only its own algorithms; "none" is never accepted.
	Keys []Key
	// Issuer and Audience, when non-empty, must match the iss claim and one
	// of the aud claim's values; a token without the claim is then refused.
	Issuer, Audience string
	// Leeway is the clock skew allowed for exp, nbf and iat. Zero means 30s;
	// negative is an error.
	Leeway time.Duration
	// OpenIDClaim names the claim holding the user's openid; default "sub".
	// A token whose claim is missing, empty or not a string is refused.
	OpenIDClaim string
	// MaxHeaderBytes bounds the Authorization header, and the length of a
	// token given to VerifyToken. Zero means 4096; negative is an error.
	MaxHeaderBytes int
	// ErrorHandler answers requests that fail authentication; nil means
	// DefaultErrorHandler. err is never nil and never contains the token.
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// TokenCache bounds the cache of verified tokens, in tokens. A token
	// that passed verification is found again by its exact string, and on
	// every hit its time claims (exp, nbf, iat, with Leeway) are checked
	// again against Now, and its key must still be the one its kid names;
	// its signature, iss and aud, which cannot have changed, are not
	// verified again. Zero means 1024 tokens; negative disables the cache.
	TokenCache int
}

// User is the verified identity of a request.
type User struct {
	OpenID    string        // value of the configured OpenIDClaim
	Subject   string        // sub claim ("" when absent or not a string)
	Issuer    string        // iss claim ("" when absent or not a string)
	ExpiresAt time.Time     // exp claim
	Claims    jwt.MapClaims // every claim of the verified token
}

// Authenticator verifies bearer JWTs. It is immutable and safe for
// concurrent use.
type Authenticator struct {
	keys        map[string]*Key
	algs        []string // union of all keys' algorithms
	parser      *jwt.Parser
	keyfunc     jwt.Keyfunc
	openIDClaim string
	maxBytes    int
	issuer      string
	audience    string
	onError     func(http.ResponseWriter, *http.Request, error)
	validator   *jwt.Validator // the parser's time checks (exp, nbf, iat), for cache hits
	cache       *tokenCache    // nil: disabled
}

// NewAuthenticator checks cfg and returns an Authenticator.
func NewAuthenticator(cfg Config) (*Authenticator, error) {
	if len(cfg.Keys) == 0 {
		return nil, errors.New("jwtauth: Config.Keys is empty")
	}
	if cfg.Leeway < 0 {
		return nil, errors.New("jwtauth: Config.Leeway is negative")
	}
	if cfg.MaxHeaderBytes < 0 {
		return nil, errors.New("jwtauth: Config.MaxHeaderBytes is negative")
	}
	if cfg.TokenCache == 0 {
		cfg.TokenCache = defaultTokenCache
	}
	a := &Authenticator{
		keys:        make(map[string]*Key, len(cfg.Keys)),
		openIDClaim: cfg.OpenIDClaim,
		maxBytes:    cfg.MaxHeaderBytes,
		issuer:      cfg.Issuer,
		audience:    cfg.Audience,
		onError:     cfg.ErrorHandler,
	}
	for i := range cfg.Keys {
		k := cfg.Keys[i]
		if k.key == nil || len(k.algs) == 0 {
			return nil, fmt.Errorf("jwtauth: Config.Keys[%d] was not built by HMACKey, PublicKeyPEM or PublicKey", i)
		}
		if _, dup := a.keys[k.kid]; dup {
			return nil, fmt.Errorf("jwtauth: Config.Keys has duplicate kid %q", k.kid)
		}
		k.algs = slices.Clone(k.algs)
		a.keys[k.kid] = &k
		for _, alg := range k.algs {
			if !slices.Contains(a.algs, alg) {
				a.algs = append(a.algs, alg)
			}
		}
	}
	slices.Sort(a.algs)
	if a.openIDClaim == "" {
		a.openIDClaim = defaultOpenIDClaim
	}
	if a.maxBytes == 0 {
		a.maxBytes = defaultMaxHeaderBytes
	}
	if a.onError == nil {
		a.onError = DefaultErrorHandler
	}
	leeway := cfg.Leeway
	if leeway == 0 {
		leeway = defaultLeeway
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	timeOpts := []jwt.ParserOption{
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(leeway),
		jwt.WithTimeFunc(now),
	}
	opts := append([]jwt.ParserOption{jwt.WithValidMethods(a.algs), jwt.WithStrictDecoding()}, timeOpts...)
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	a.parser = jwt.NewParser(opts...)
	a.validator = jwt.NewValidator(timeOpts...)
	a.keyfunc = a.lookupKey
	if cfg.TokenCache > 0 {
		a.cache = newTokenCache(cfg.TokenCache)
	}
	return a, nil
}

// lookupKey selects the verification key for a parsed, not yet verified
// token: by kid only, then checks the token's algorithm against that key's.
func (a *Authenticator) lookupKey(t *jwt.Token) (any, error) {
	if _, ok := t.Header["crit"]; ok {
		// No JWS extensions are understood (RFC 7515 section 4.1.11).
		return nil, errCritical
	}
	kid := ""
	if v, ok := t.Header["kid"]; ok {
		s, isString := v.(string)
		if !isString {
			return nil, ErrUnknownKey
		}
		kid = s
	}
	k, ok := a.keys[kid]
	if !ok {
		return nil, ErrUnknownKey
	}
	if t.Method == nil || !slices.Contains(k.algs, t.Method.Alg()) {
		return nil, ErrAlgorithm
	}
	return k.key, nil
}

// VerifyToken verifies a compact JWS token and returns its user. Every error
// wraps ErrInvalidToken and none contains the token.
func (a *Authenticator) VerifyToken(token string) (User, error) {
	if a == nil || a.parser == nil {
		return User{}, errNotConfigured
	}
	if len(token) > a.maxBytes {
		return User{}, errTokenTooLarge
	}
	if u, found, err := a.cached(token); found {
		return u, err
	}
	claims := jwt.MapClaims{}
	t, err := a.parser.ParseWithClaims(token, claims, a.keyfunc)
	if err != nil {
		return User{}, a.mapError(t, claims, err)
	}
	openID, _ := claims[a.openIDClaim].(string)
	if openID == "" {
		return User{}, ErrNoOpenID
	}
	u := User{OpenID: openID, Claims: claims}
	u.Subject, _ = claims["sub"].(string)
	u.Issuer, _ = claims["iss"].(string)
	if exp, err := claims.GetExpirationTime(); err == nil && exp != nil {
		u.ExpiresAt = exp.Time
	}
	a.remember(token, t, u)
	return u, nil
}

// mapError turns a jwt error into one of this package's errors, so that no
// token-derived text (such as an attacker-chosen alg) reaches the caller.
func (a *Authenticator) mapError(t *jwt.Token, claims jwt.MapClaims, err error) error {
	// Errors from lookupKey come back wrapped by the parser.
	for _, e := range [...]error{ErrUnknownKey, ErrAlgorithm, errCritical} {
		if errors.Is(err, e) {
			return e
		}
	}
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return errMalformedToken
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		// alg missing or not implemented (for example "NONE").
		return ErrAlgorithm
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		if t != nil && t.Method != nil && !slices.Contains(a.algs, t.Method.Alg()) {
			// Refused by WithValidMethods, for example alg "none".
			return ErrAlgorithm
		}
		return errSignature
	case errors.Is(err, jwt.ErrTokenInvalidClaims):
		// The signature has been verified: claims can be inspected.
		switch {
		case errors.Is(err, jwt.ErrTokenExpired):
			return ErrExpired
		case errors.Is(err, jwt.ErrTokenNotValidYet):
			return ErrNotYetValid
		case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
			return ErrIssuedInFuture
		case errors.Is(err, jwt.ErrTokenInvalidIssuer):
			return ErrIssuer
		case errors.Is(err, jwt.ErrTokenInvalidAudience):
			return ErrAudience
		case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
			if exp, e := claims.GetExpirationTime(); e == nil && exp == nil {
				return ErrMissingExp
			}
			if a.issuer != "" {
				if iss, _ := claims["iss"].(string); iss == "" {
					return ErrIssuer
				}
			}
			if a.audience != "" {
				return ErrAudience
			}
			return errClaimType
		case errors.Is(err, jwt.ErrInvalidType):
			if _, e := claims.GetIssuer(); e != nil && a.issuer != "" {
				return ErrIssuer
			}
			if _, e := claims.GetAudience(); e != nil && a.audience != "" {
				return ErrAudience
			}
			return errClaimType
		}
	}
	return ErrInvalidToken
}

// BearerToken returns the token of the request's single
// "Authorization: Bearer <token>" header. The scheme is matched
// case-insensitively; the token must be an RFC 6750 b64token. No other source
// (query string, form body, cookie) is ever consulted. max bounds the header
// length in bytes; max <= 0 means 4096.
//
// Errors: ErrNoToken when there is no Authorization header, it is empty, or
// it uses another scheme; ErrMalformedHeader when there are several
// Authorization headers or the Bearer credentials are malformed;
// ErrHeaderTooLarge when the header exceeds max.
func BearerToken(h http.Header, max int) (string, error) {
	if max <= 0 {
		max = defaultMaxHeaderBytes
	}
	vals := h["Authorization"]
	switch len(vals) {
	case 0:
		return "", ErrNoToken
	case 1:
	default:
		return "", ErrMalformedHeader
	}
	v := vals[0]
	if len(v) > max {
		return "", ErrHeaderTooLarge
	}
	v = strings.Trim(v, " \t")
	if v == "" {
		return "", ErrNoToken
	}
	const scheme = "bearer"
	if len(v) < len(scheme) || !asciiEqualFold(v[:len(scheme)], scheme) {
		return "", ErrNoToken
	}
	rest := v[len(scheme):]
	if rest == "" {
		return "", ErrMalformedHeader // "Bearer" without a token
	}
	if rest[0] != ' ' {
		return "", ErrNoToken // another scheme, such as "Bearerx"
	}
	tok := strings.TrimLeft(rest, " ")
	if !isB64Token(tok) {
		return "", ErrMalformedHeader
	}
	return tok, nil
}

func asciiEqualFold(s, lower string) bool {
	for i := 0; i < len(lower); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// isB64Token reports whether s matches RFC 6750's
// b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isB64Token(s string) bool {
	i := 0
	for i < len(s) {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/' {
			i++
			continue
		}
		break
	}
	if i == 0 {
		return false
	}
	for ; i < len(s); i++ {
		if s[i] != '=' {
			return false
		}
	}
	return true
}

// Authenticate extracts the bearer token of r and verifies it.
func (a *Authenticator) Authenticate(r *http.Request) (User, error) {
	if a == nil || a.parser == nil {
		return User{}, errNotConfigured
	}
	if r == nil {
		return User{}, ErrNoToken
	}
	tok, err := BearerToken(r.Header, a.maxBytes)
	if err != nil {
		return User{}, err
	}
	return a.VerifyToken(tok)
}

// Middleware returns a handler that authenticates each request and calls next
// with the verified User in the request context (see UserFrom). Failed
// requests go to the configured ErrorHandler and never reach next. A nil next
// answers authenticated requests with 500.
func (a *Authenticator) Middleware(next http.Handler) http.Handler {
	onError := DefaultErrorHandler
	if a != nil && a.onError != nil {
		onError = a.onError
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, err := a.Authenticate(r)
		if err != nil {
			onError(w, r, err)
			return
		}
		if next == nil {
			httperr.WriteLocalized(w, r, http.StatusInternalServerError, internalError.code, internalError.message)
			return
		}
		next.ServeHTTP(w, r.WithContext(ContextWithUser(r.Context(), u)))
	})
}

// DefaultErrorHandler is the ErrorHandler used when Config.ErrorHandler
// is nil; custom handlers may call it after logging. It answers 401 with an
// RFC 6750 challenge:
//
//   - ErrNoToken: "WWW-Authenticate: Bearer" with no error attribute (RFC 6750
//     section 3.1: the request carried no bearer credentials);
//   - ErrMalformedHeader and ErrHeaderTooLarge: error="invalid_request" (still
//     401 rather than RFC 6750's 400, so that every authentication failure
//     has the same status);
//   - any ErrInvalidToken: error="invalid_token".
//
// The body is written by httperr.WriteError with the code of ErrorCode and a fixed
// message in the language the request prefers (see httperr.Localize; the
// challenge's error_description stays in English, as RFC 6750 allows only
// ASCII there); Cache-Control is no-store. Errors this package does not know are
// answered 500 "internal_error" without a challenge.
func DefaultErrorHandler(w http.ResponseWriter, r *http.Request, err error) {
	info := lookupError(err)
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	switch {
	case info.err == nil:
		// Not an authentication error: no challenge.
	case errors.Is(err, ErrNoToken):
		h.Set("WWW-Authenticate", "Bearer")
	case errors.Is(err, ErrInvalidToken):
		h.Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="`+info.message+`"`)
	default:
		h.Set("WWW-Authenticate", `Bearer error="invalid_request", error_description="`+info.message+`"`)
	}
	httperr.WriteLocalized(w, r, info.status, info.code, info.message)
}

type userKey struct{}

// ContextWithUser returns a copy of ctx carrying u, for UserFrom.
func ContextWithUser(ctx context.Context, u User) context.Context {
	if ctx == nil {
		ctx = context.Background()
	}
	return context.WithValue(ctx, userKey{}, u)
}

// UserFrom returns the User stored by the middleware (or ContextWithUser).
func UserFrom(ctx context.Context) (User, bool) {
	if ctx == nil {
		return User{}, false
	}
	u, ok := ctx.Value(userKey{}).(User)
	return u, ok
}
