package jwtauth

import (
	"context"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/hongbao-go/hongbao/middleware/httperr"
)

const (
	testIssuer   = "https://auth.hongbao.example"
	testAudience = "hongbao-api"
	testOpenID   = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
)

var testNow = time.Unix(1_700_000_000, 0)

func testClock() time.Time { return testNow }

// testKeys are real keys generated once per test binary.
type testKeys struct {
	hmac      []byte
	hmacOther []byte
	rsa       *rsa.PrivateKey
	rsaOther  *rsa.PrivateKey
	ec        *ecdsa.PrivateKey
	ed        ed25519.PrivateKey
	rsaPEM    []byte // PKIX "PUBLIC KEY" of rsa
	ecPEM     []byte
	edPEM     []byte
}

var getKeys = sync.OnceValue(func() *testKeys {
	k := &testKeys{hmac: make([]byte, 32), hmacOther: make([]byte, 32)}
	rand.Read(k.hmac)
	rand.Read(k.hmacOther)
	var err error
	if k.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		panic(err)
	}
	if k.rsaOther, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		panic(err)
	}
	if k.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		panic(err)
	}
	if _, k.ed, err = ed25519.GenerateKey(rand.Reader); err != nil {
		panic(err)
	}
	k.rsaPEM = pkixPEM(&k.rsa.PublicKey)
	k.ecPEM = pkixPEM(&k.ec.PublicKey)
	k.edPEM = pkixPEM(k.ed.Public())
	return k
})

func pkixPEM(pub any) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		panic(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// mixedKeys: HMAC as the default (kid ""), RSA "rsa" (RS256, PS256),
// ECDSA "ec", Ed25519 "ed".
func mixedKeys(k *testKeys) []Key {
	return []Key{
		must(HMACKey("", k.hmac)),
		must(PublicKeyPEM("rsa", k.rsaPEM, "RS256", "PS256")),
		must(PublicKeyPEM("ec", k.ecPEM)),
		must(PublicKeyPEM("ed", k.edPEM)),
	}
}

func newAuth(t testing.TB, keys []Key, mod func(*Config)) *Authenticator {
	t.Helper()
	cfg := Config{Keys: keys, Issuer: testIssuer, Audience: testAudience, Now: testClock}
	if mod != nil {
		mod(&cfg)
	}
	a, err := NewAuthenticator(cfg)
	if err != nil {
		t.Fatalf("NewAuthenticator: %v", err)
	}
	return a
}

// goodClaims returns valid claims at testNow, with overrides applied; a nil
// override value deletes the claim.
func goodClaims(over map[string]any) jwt.MapClaims {
	c := jwt.MapClaims{
		"sub": testOpenID,
		"iss": testIssuer,
		"aud": testAudience,
		"iat": testNow.Add(-time.Minute).Unix(),
		"nbf": testNow.Add(-time.Minute).Unix(),
		"exp": testNow.Add(time.Hour).Unix(),
	}
	for k, v := range over {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

func sign(t testing.TB, m jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign %s: %v", m.Alg(), err)
	}
	return s
}

func b64(v any) string {
	var b []byte
	switch x := v.(type) {
	case []byte:
		b = x
	case string:
		b = []byte(x)
	default:
		b, _ = json.Marshal(x)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// rawToken assembles a token from a header, claims and signature of choice.
func rawToken(header map[string]any, claims jwt.MapClaims, sig string) string {
	return b64(header) + "." + b64(claims) + "." + sig
}

// hmacToken signs header and claims as given (any alg value) with HMAC-SHA256.
func hmacToken(header map[string]any, claims jwt.MapClaims, secret []byte) string {
	in := b64(header) + "." + b64(claims)
	sig, _ := jwt.SigningMethodHS256.Sign(in, secret)
	return in + "." + b64(sig)
}

// server runs a's middleware in front of a handler that counts its calls and
// echoes the user's openid.
type server struct {
	*httptest.Server
	calls atomic.Int64
}

func newServer(t *testing.T, a *Authenticator) *server {
	t.Helper()
	s := &server{}
	s.Server = httptest.NewServer(a.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.calls.Add(1)
		u, ok := UserFrom(r.Context())
		if !ok {
			http.Error(w, "no user", http.StatusInternalServerError)
			return
		}
		_, _ = io.WriteString(w, u.OpenID)
	})))
	t.Cleanup(s.Close)
	return s
}

type response struct {
	status int
	header http.Header
	body   string
}

func do(t *testing.T, req *http.Request) response {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return response{res.StatusCode, res.Header, string(b)}
}

func bearerRequest(t *testing.T, url, token string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	return req
}

func TestSuccessEachKeyType(t *testing.T) {
	k := getKeys()
	a := newAuth(t, mixedKeys(k), nil)
	srv := newServer(t, a)
	cases := []struct {
		name  string
		token string
	}{
		{"HS256 default key", sign(t, jwt.SigningMethodHS256, k.hmac, "", goodClaims(nil))},
		{"RS256", sign(t, jwt.SigningMethodRS256, k.rsa, "rsa", goodClaims(nil))},
		{"PS256", sign(t, jwt.SigningMethodPS256, k.rsa, "rsa", goodClaims(nil))},
		{"ES256", sign(t, jwt.SigningMethodES256, k.ec, "ec", goodClaims(nil))},
		{"EdDSA", sign(t, jwt.SigningMethodEdDSA, k.ed, "ed", goodClaims(nil))},
		{"aud array", sign(t, jwt.SigningMethodHS256, k.hmac, "", goodClaims(map[string]any{"aud": []string{"other", testAudience}}))},
		{"no nbf no iat", sign(t, jwt.SigningMethodHS256, k.hmac, "", goodClaims(map[string]any{"nbf": nil, "iat": nil}))},
		{"exp within leeway", sign(t, jwt.SigningMethodHS256, k.hmac, "", goodClaims(map[string]any{"exp": testNow.Add(-10 * time.Second).Unix()}))},
		{"nbf within leeway", sign(t, jwt.SigningMethodHS256, k.hmac, "", goodClaims(map[string]any{"nbf": testNow.Add(10 * time.Second).Unix()}))},
		{"iat within leeway", sign(t, jwt.SigningMethodHS256, k.hmac, "", goodClaims(map[string]any{"iat": testNow.Add(10 * time.Second).Unix()}))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := srv.calls.Load()
			res := do(t, bearerRequest(t, srv.URL, c.token))
			if res.status != http.StatusOK || res.body != testOpenID {
				t.Fatalf("got %d %q, want 200 %q", res.status, res.body, testOpenID)
			}
			if srv.calls.Load() != before+1 {
				t.Fatal("next handler not called exactly once")
			}
			u, err := a.VerifyToken(c.token)
			if err != nil {
				t.Fatalf("VerifyToken: %v", err)
			}
			if u.OpenID != testOpenID || u.Subject != testOpenID || u.Issuer != testIssuer {
				t.Errorf("user = %+v", u)
			}
			if exp, _ := u.Claims.GetExpirationTime(); exp == nil || !u.ExpiresAt.Equal(exp.Time) {
				t.Errorf("ExpiresAt = %v, claims exp %v", u.ExpiresAt, exp)
			}
		})
	}
}

func TestSchemeCaseInsensitive(t *testing.T) {
	k := getKeys()
	srv := newServer(t, newAuth(t, mixedKeys(k), nil))
	tok := sign(t, jwt.SigningMethodHS256, k.hmac, "", goodClaims(nil))
	for _, scheme := range []string{"bearer", "BEARER", "bEaReR"} {
		req := bearerRequest(t, srv.URL, tok)
		req.Header.Set("Authorization", scheme+"  "+tok)
		if res := do(t, req); res.status != http.StatusOK {
			t.Errorf("%s: status %d, body %s", scheme, res.status, res.body)
		}
	}
}

func TestUserInContext(t *testing.T) {
	k := getKeys()
	a := newAuth(t, mixedKeys(k), nil)
	claims := goodClaims(map[string]any{"scope": "hongbao:send"})
	tok := sign(t, jwt.SigningMethodES256, k.ec, "ec", claims)
	var got User
	var ok bool
	h := a.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok = UserFrom(r.Context())
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	if res := do(t, bearerRequest(t, srv.URL, tok)); res.status != http.StatusOK {
		t.Fatalf("status %d", res.status)
	}
	if !ok {
		t.Fatal("UserFrom: no user")
	}
	want := User{OpenID: testOpenID, Subject: testOpenID, Issuer: testIssuer, ExpiresAt: testNow.Add(time.Hour)}
	if got.OpenID != want.OpenID || got.Subject != want.Subject || got.Issuer != want.Issuer || !got.ExpiresAt.Equal(want.ExpiresAt) {
		t.Errorf("user = %+v, want %+v", got, want)
	}
	if got.Claims["scope"] != "hongbao:send" {
		t.Errorf("claims = %v", got.Claims)
	}
}

func TestUserFromContext(t *testing.T) {
	if _, ok := UserFrom(context.Background()); ok {
		t.Error("UserFrom(empty ctx) ok")
	}
	var nilCtx context.Context
	if _, ok := UserFrom(nilCtx); ok {
		t.Error("UserFrom(nil) ok")
	}
	ctx := ContextWithUser(context.Background(), User{OpenID: "x"})
	if u, ok := UserFrom(ctx); !ok || u.OpenID != "x" {
		t.Errorf("UserFrom = %+v, %v", u, ok)
	}
	// A value stored under another key of the same type is not picked up.
	type otherKey struct{}
	ctx = context.WithValue(context.Background(), otherKey{}, User{OpenID: "y"})
	if _, ok := UserFrom(ctx); ok {
		t.Error("UserFrom read a foreign key")
	}
}

func TestCustomOpenIDClaim(t *testing.T) {
	k := getKeys()
	a := newAuth(t, mixedKeys(k), func(c *Config) { c.OpenIDClaim = "openid" })
	srv := newServer(t, a)
	tok := sign(t, jwt.SigningMethodRS256, k.rsa, "rsa", goodClaims(map[string]any{"openid": "o-custom", "sub": "user-42"}))
	res := do(t, bearerRequest(t, srv.URL, tok))
	if res.status != http.StatusOK || res.body != "o-custom" {
		t.Fatalf("got %d %q", res.status, res.body)
	}
	u, err := a.VerifyToken(tok)
	if err != nil || u.OpenID != "o-custom" || u.Subject != "user-42" {
		t.Fatalf("VerifyToken = %+v, %v", u, err)
	}
	// sub alone is not enough when the claim is "openid".
	tok = sign(t, jwt.SigningMethodRS256, k.rsa, "rsa", goodClaims(nil))
	if _, err := a.VerifyToken(tok); !errors.Is(err, ErrNoOpenID) {
		t.Fatalf("err = %v, want ErrNoOpenID", err)
	}
}

// attack is one request that must be refused with 401.
type attack struct {
	name    string
	auth    string // which authenticator: "" mixed, "hs", "rs", "kid"
	token   string // sent as "Authorization: Bearer <token>" unless req is set
	req     func(t *testing.T, url string) *http.Request
	want    error
	wantMsg string // optional: the text of the unexported error expected
}

func attackCorpus(t *testing.T) []attack {
	k := getKeys()
	hs := func(c jwt.MapClaims) string { return sign(t, jwt.SigningMethodHS256, k.hmac, "", c) }
	good := goodClaims(nil)
	noneHeader := map[string]any{"alg": "none", "typ": "JWT"}
	goodHS := hs(good)
	goodSig := goodHS[strings.LastIndexByte(goodHS, '.')+1:]
	parts := strings.Split(goodHS, ".")

	// The signature of an HMAC-SHA256 token is 43 base64url characters with 2
	// spare bits; setting them keeps the decoded bytes but must be refused.
	last := strings.IndexByte(base64URLAlphabet, goodSig[len(goodSig)-1])
	nonCanonicalSig := goodSig[:len(goodSig)-1] + string(base64URLAlphabet[last|1])
	if last|1 == last {
		nonCanonicalSig = goodSig[:len(goodSig)-1] + string(base64URLAlphabet[last&^1])
	}

	withHeader := func(name, value string) func(*testing.T, string) *http.Request {
		return func(t *testing.T, u string) *http.Request {
			req, err := http.NewRequest(http.MethodGet, u, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set(name, value)
			return req
		}
	}

	return []attack{
		{name: "alg none empty signature", token: rawToken(noneHeader, good, ""), want: ErrAlgorithm},
		{name: "alg none with signature", token: rawToken(noneHeader, good, goodSig), want: ErrAlgorithm},
		{name: "alg none with kid", token: rawToken(map[string]any{"alg": "none", "kid": "rsa"}, good, ""), want: ErrAlgorithm},
		{name: "alg NONE", token: rawToken(map[string]any{"alg": "NONE"}, good, ""), want: ErrAlgorithm},
		{name: "alg missing", token: hmacToken(map[string]any{"typ": "JWT"}, good, k.hmac), want: ErrAlgorithm},
		{name: "alg not a string", token: hmacToken(map[string]any{"alg": 256}, good, k.hmac), want: ErrAlgorithm},
		{name: "key confusion: HS256 with RSA PEM as secret, kid rsa", token: sign(t, jwt.SigningMethodHS256, k.rsaPEM, "rsa", good), want: ErrAlgorithm},
		{name: "key confusion: HS256 with RSA PEM as secret, RSA-only set", auth: "rs", token: sign(t, jwt.SigningMethodHS256, k.rsaPEM, "", good), want: ErrAlgorithm},
		{name: "key confusion: HS256 with EC PEM as secret, kid ec", token: sign(t, jwt.SigningMethodHS256, k.ecPEM, "ec", good), want: ErrAlgorithm},
		{name: "key confusion: HS256 with RSA PEM as secret, default HMAC key", token: sign(t, jwt.SigningMethodHS256, k.rsaPEM, "", good), want: errSignature},
		{name: "RS256 token against HMAC-only set", auth: "hs", token: sign(t, jwt.SigningMethodRS256, k.rsa, "", good), want: ErrAlgorithm},
		{name: "HS256 token against RSA-only set", auth: "rs", token: hs(good), want: ErrAlgorithm},
		{name: "PS384 not allowed for the RSA key", token: sign(t, jwt.SigningMethodPS384, k.rsa, "rsa", good), want: ErrAlgorithm},
		{name: "kid of RSA key, ES256 signed", token: sign(t, jwt.SigningMethodES256, k.ec, "rsa", good), want: ErrAlgorithm},
		{name: "kid of Ed25519 key, HS256 signed", token: sign(t, jwt.SigningMethodHS256, k.hmac, "ed", good), want: ErrAlgorithm},
		{name: "kid of EC key, RS256 signed", token: sign(t, jwt.SigningMethodRS256, k.rsa, "ec", good), want: ErrAlgorithm},
		{name: "no kid, RS256 signed (default key is HMAC)", token: sign(t, jwt.SigningMethodRS256, k.rsa, "", good), want: ErrAlgorithm},
		{name: "unknown kid", token: sign(t, jwt.SigningMethodHS256, k.hmac, "nope", good), want: ErrUnknownKey},
		{name: "kid not a string", token: hmacToken(map[string]any{"alg": "HS256", "kid": 7}, good, k.hmac), want: ErrUnknownKey},
		{name: "no kid and no default key", auth: "kid", token: hs(good), want: ErrUnknownKey},
		{name: "RS256 signed by another RSA key", token: sign(t, jwt.SigningMethodRS256, k.rsaOther, "rsa", good), want: errSignature},
		{name: "HS256 signed by another secret", token: sign(t, jwt.SigningMethodHS256, k.hmacOther, "", good), want: errSignature},
		{name: "tampered payload", token: parts[0] + "." + b64(goodClaims(map[string]any{"sub": "attacker"})) + "." + parts[2], want: errSignature},
		{name: "signature stripped", token: parts[0] + "." + parts[1] + ".", want: errSignature},
		{name: "non-canonical signature encoding", token: parts[0] + "." + parts[1] + "." + nonCanonicalSig, want: errMalformedToken},
		{name: "crit header", token: hmacToken(map[string]any{"alg": "HS256", "crit": []string{"exp"}, "exp": 1}, good, k.hmac), want: errCritical},
		{name: "expired", token: hs(goodClaims(map[string]any{"exp": testNow.Add(-time.Hour).Unix()})), want: ErrExpired},
		{name: "expired beyond leeway", token: hs(goodClaims(map[string]any{"exp": testNow.Add(-31 * time.Second).Unix()})), want: ErrExpired},
		{name: "nbf in the future", token: hs(goodClaims(map[string]any{"nbf": testNow.Add(5 * time.Minute).Unix()})), want: ErrNotYetValid},
		{name: "iat in the future", token: hs(goodClaims(map[string]any{"iat": testNow.Add(5 * time.Minute).Unix(), "nbf": nil})), want: ErrIssuedInFuture},
		{name: "wrong iss", token: hs(goodClaims(map[string]any{"iss": "https://evil.example"})), want: ErrIssuer},
		{name: "missing iss", token: hs(goodClaims(map[string]any{"iss": nil})), want: ErrIssuer},
		{name: "non-string iss", token: hs(goodClaims(map[string]any{"iss": 1})), want: ErrIssuer},
		{name: "wrong aud", token: hs(goodClaims(map[string]any{"aud": "other-api"})), want: ErrAudience},
		{name: "wrong aud array", token: hs(goodClaims(map[string]any{"aud": []string{"a", "b"}})), want: ErrAudience},
		{name: "missing aud", token: hs(goodClaims(map[string]any{"aud": nil})), want: ErrAudience},
		{name: "missing exp", token: hs(goodClaims(map[string]any{"exp": nil})), want: ErrMissingExp},
		{name: "exp zero", token: hs(goodClaims(map[string]any{"exp": 0})), want: ErrMissingExp},
		{name: "exp not a number", token: hs(goodClaims(map[string]any{"exp": "tomorrow"})), want: errClaimType},
		{name: "missing sub", token: hs(goodClaims(map[string]any{"sub": nil})), want: ErrNoOpenID},
		{name: "empty sub", token: hs(goodClaims(map[string]any{"sub": ""})), want: ErrNoOpenID},
		{name: "numeric sub", token: hs(goodClaims(map[string]any{"sub": 12345})), want: ErrNoOpenID},
		{name: "object sub", token: hs(goodClaims(map[string]any{"sub": map[string]any{"id": testOpenID}})), want: ErrNoOpenID},
		{name: "garbage", token: "garbage", want: errMalformedToken},
		{name: "garbage three segments", token: "a.b.c", want: errMalformedToken},
		{name: "four segments", token: goodHS + ".x", want: errMalformedToken},
		{name: "header not JSON", token: b64("not json") + "." + parts[1] + "." + parts[2], want: errMalformedToken},
		{name: "garbage with non-token characters", req: withHeader("Authorization", "Bearer <script>"), want: ErrMalformedHeader},
		{name: "empty bearer", req: withHeader("Authorization", "Bearer "), want: ErrMalformedHeader},
		{name: "bearer with trailing junk", req: withHeader("Authorization", "Bearer "+goodHS+" extra"), want: ErrMalformedHeader},
		{name: "no Authorization header", req: withHeader("X-Other", "1"), want: ErrNoToken},
		{name: "Basic scheme", req: withHeader("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("user:"+goodHS))), want: ErrNoToken},
		{name: "token without scheme", req: withHeader("Authorization", goodHS), want: ErrNoToken},
		{name: "two Authorization headers", req: func(t *testing.T, u string) *http.Request {
			req := bearerRequest(t, u, goodHS)
			req.Header.Add("Authorization", "Bearer "+goodHS)
			return req
		}, want: ErrMalformedHeader},
		{name: "16 KiB header", req: withHeader("Authorization", "Bearer "+goodHS+strings.Repeat("A", 16<<10)), want: ErrHeaderTooLarge},
		{name: "token only in query string", req: func(t *testing.T, u string) *http.Request {
			req, err := http.NewRequest(http.MethodGet, u+"?access_token="+url.QueryEscape(goodHS), nil)
			if err != nil {
				t.Fatal(err)
			}
			return req
		}, want: ErrNoToken},
		{name: "token only in form body", req: func(t *testing.T, u string) *http.Request {
			form := url.Values{"access_token": {goodHS}}
			req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return req
		}, want: ErrNoToken},
		{name: "token only in a cookie", req: withHeader("Cookie", "access_token="+goodHS), want: ErrNoToken},
	}
}

const base64URLAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

func TestAttackCorpus(t *testing.T) {
	k := getKeys()
	auths := map[string]*Authenticator{
		"":   newAuth(t, mixedKeys(k), nil),
		"hs": newAuth(t, []Key{must(HMACKey("", k.hmac))}, nil),
		"rs": newAuth(t, []Key{must(PublicKeyPEM("", k.rsaPEM))}, nil),
		"kid": newAuth(t, []Key{
			must(HMACKey("hs", k.hmac)),
			must(PublicKeyPEM("rsa", k.rsaPEM)),
		}, nil),
	}
	servers := map[string]*server{}
	for name, a := range auths {
		servers[name] = newServer(t, a)
	}
	for _, c := range attackCorpus(t) {
		t.Run(c.name, func(t *testing.T) {
			srv, a := servers[c.auth], auths[c.auth]
			build := c.req
			if build == nil {
				build = func(t *testing.T, u string) *http.Request { return bearerRequest(t, u, c.token) }
			}

			// Direct: the exact error.
			_, err := a.Authenticate(build(t, srv.URL))
			if !errors.Is(err, c.want) {
				t.Fatalf("Authenticate err = %v, want %v", err, c.want)
			}
			if err == nil {
				t.Fatal("accepted")
			}
			if c.token != "" && strings.Contains(err.Error(), c.token) {
				t.Fatal("error text contains the token")
			}

			// Over HTTP: 401, challenge, JSON body, next never called.
			before := srv.calls.Load()
			res := do(t, build(t, srv.URL))
			if srv.calls.Load() != before {
				t.Fatal("next handler was called")
			}
			if res.status != http.StatusUnauthorized {
				t.Fatalf("status = %d, want 401", res.status)
			}
			info := lookupError(c.want)
			var wantChallenge string
			switch {
			case errors.Is(c.want, ErrNoToken):
				wantChallenge = "Bearer"
			case errors.Is(c.want, ErrInvalidToken):
				wantChallenge = `Bearer error="invalid_token", error_description="` + info.message + `"`
			default:
				wantChallenge = `Bearer error="invalid_request", error_description="` + info.message + `"`
			}
			if got := res.header.Values("WWW-Authenticate"); len(got) != 1 || got[0] != wantChallenge {
				t.Errorf("WWW-Authenticate = %q, want %q", got, wantChallenge)
			}
			checkErrorResponse(t, res, info.code, info.message)
			if c.token != "" && strings.Contains(res.body, c.token) {
				t.Error("body contains the token")
			}
		})
	}
}

func checkErrorResponse(t *testing.T, res response, code, message string) {
	t.Helper()
	if ct := res.header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	if v := res.header.Get("X-Content-Type-Options"); v != "nosniff" {
		t.Errorf("X-Content-Type-Options = %q", v)
	}
	if v := res.header.Get("Cache-Control"); v != "no-store" {
		t.Errorf("Cache-Control = %q", v)
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(res.body), &body); err != nil {
		t.Fatalf("body %q: %v", res.body, err)
	}
	if len(body) != 2 || body["code"] != code || body["message"] != message {
		t.Errorf("body = %v, want code %q message %q", body, code, message)
	}
}

func TestErrorHandlerHook(t *testing.T) {
	k := getKeys()
	var (
		mu     sync.Mutex
		gotErr error
	)
	a := newAuth(t, mixedKeys(k), func(c *Config) {
		c.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
			mu.Lock()
			gotErr = err
			mu.Unlock()
			httperr.WriteError(w, http.StatusForbidden, "custom_"+ErrorCode(err), "custom")
		}
	})
	srv := newServer(t, a)
	tok := sign(t, jwt.SigningMethodHS256, k.hmac, "", goodClaims(map[string]any{"exp": testNow.Add(-time.Hour).Unix()}))
	res := do(t, bearerRequest(t, srv.URL, tok))
	if res.status != http.StatusForbidden {
		t.Fatalf("status = %d", res.status)
	}
	checkErrorResponse(t, res, "custom_token_expired", "custom")
	if res.header.Get("WWW-Authenticate") != "" {
		t.Error("default challenge written by custom handler")
	}
	mu.Lock()
	defer mu.Unlock()
	if !errors.Is(gotErr, ErrExpired) || !errors.Is(gotErr, ErrInvalidToken) {
		t.Errorf("handler got %v", gotErr)
	}
	if srv.calls.Load() != 0 {
		t.Error("next called")
	}
}

func TestSentinels(t *testing.T) {
	tokenErrs := []error{ErrExpired, ErrNotYetValid, ErrIssuedInFuture, ErrMissingExp, ErrIssuer,
		ErrAudience, ErrUnknownKey, ErrAlgorithm, ErrNoOpenID,
		errMalformedToken, errSignature, errClaimType, errCritical, errTokenTooLarge}
	for _, e := range tokenErrs {
		if !errors.Is(e, ErrInvalidToken) {
			t.Errorf("%v does not wrap ErrInvalidToken", e)
		}
		if !strings.HasPrefix(e.Error(), "jwtauth: ") {
			t.Errorf("%q lacks the package prefix", e)
		}
	}
	for _, e := range []error{ErrNoToken, ErrMalformedHeader, ErrHeaderTooLarge} {
		if errors.Is(e, ErrInvalidToken) {
			t.Errorf("%v wraps ErrInvalidToken", e)
		}
	}
	codes := map[error]string{
		ErrNoToken: "missing_token", ErrMalformedHeader: "malformed_authorization",
		ErrHeaderTooLarge: "authorization_too_large", ErrInvalidToken: "invalid_token",
		ErrExpired: "token_expired", ErrNotYetValid: "token_not_yet_valid",
		ErrIssuedInFuture: "token_issued_in_future", ErrMissingExp: "token_missing_exp",
		ErrIssuer: "invalid_issuer", ErrAudience: "invalid_audience", ErrUnknownKey: "unknown_key",
		ErrAlgorithm: "invalid_algorithm", ErrNoOpenID: "missing_openid",
		errMalformedToken: "invalid_token", errSignature: "invalid_token",
	}
	for e, want := range codes {
		if got := ErrorCode(e); got != want {
			t.Errorf("ErrorCode(%v) = %q, want %q", e, got, want)
		}
		if got := ErrorCode(errors.Join(errors.New("ctx"), e)); got != want {
			t.Errorf("ErrorCode(wrapped %v) = %q, want %q", e, got, want)
		}
	}
	if got := ErrorCode(nil); got != "" {
		t.Errorf("ErrorCode(nil) = %q", got)
	}
	if got := ErrorCode(io.EOF); got != "internal_error" {
		t.Errorf("ErrorCode(io.EOF) = %q", got)
	}
	for _, e := range errorTable {
		if !isSnakeCase(e.code) {
			t.Errorf("code %q is not snake_case", e.code)
		}
		// RFC 6750 section 3: error_description is %x20-21 / %x23-5B / %x5D-7E.
		for _, c := range []byte(e.message) {
			if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
				t.Errorf("message %q has %q, not allowed in error_description", e.message, c)
			}
		}
	}
}

func isSnakeCase(s string) bool {
	if s == "" || s[0] == '_' || s[len(s)-1] == '_' {
		return false
	}
	for _, c := range []byte(s) {
		if (c < 'a' || c > 'z') && c != '_' {
			return false
		}
	}
	return true
}

// Every code of the table of authentication errors is in the catalogue of
// package httperr, in both languages.
func TestErrorCodesInCatalogue(t *testing.T) {
	zh := httptest.NewRequest(http.MethodGet, "/", nil)
	zh.Header.Set("Accept-Language", "zh-CN")
	for _, e := range errorTable {
		if en := httperr.Message(e.code, nil); en == "" || httperr.Message(e.code, zh) == en {
			t.Errorf("errorTable code %s is not in the catalogue in both languages", e.code)
		}
	}
}

func TestDefaultErrorHandlerUnknownError(t *testing.T) {
	rec := httptest.NewRecorder()
	DefaultErrorHandler(rec, httptest.NewRequest(http.MethodGet, "/", nil), errors.New("db down: password=hunter2"))
	res := response{rec.Code, rec.Header(), rec.Body.String()}
	if res.status != http.StatusInternalServerError {
		t.Errorf("status = %d", res.status)
	}
	if res.header.Get("WWW-Authenticate") != "" {
		t.Error("challenge for a non-authentication error")
	}
	checkErrorResponse(t, res, "internal_error", "internal error")
}

func TestWriteError(t *testing.T) {
	rec := httptest.NewRecorder()
	httperr.WriteError(rec, http.StatusBadRequest, "bad_amount", `amount "x" <invalid>`)
	res := response{rec.Code, rec.Header(), rec.Body.String()}
	if res.status != http.StatusBadRequest {
		t.Errorf("status = %d", res.status)
	}
	checkErrorResponse(t, res, "bad_amount", `amount "x" <invalid>`)

	rec = httptest.NewRecorder()
	rec.Header().Set("Cache-Control", "max-age=10")
	httperr.WriteError(rec, 42, "weird", "status out of range")
	if rec.Code != http.StatusInternalServerError {
		t.Errorf("status = %d, want 500", rec.Code)
	}
	if got := rec.Header().Get("Cache-Control"); got != "max-age=10" {
		t.Errorf("Cache-Control overwritten: %q", got)
	}
}

func TestBearerToken(t *testing.T) {
	h := func(vals ...string) http.Header { return http.Header{"Authorization": vals} }
	cases := []struct {
		name string
		h    http.Header
		max  int
		want string
		err  error
	}{
		{"plain", h("Bearer abc.def.ghi"), 0, "abc.def.ghi", nil},
		{"lower case scheme", h("bearer abc"), 0, "abc", nil},
		{"upper case scheme", h("BEARER abc"), 0, "abc", nil},
		{"several spaces", h("Bearer   abc"), 0, "abc", nil},
		{"surrounding whitespace", h(" \tBearer abc\t "), 0, "abc", nil},
		{"b64token charset and padding", h("Bearer aZ09-._~+/=="), 0, "aZ09-._~+/==", nil},
		{"no header", http.Header{}, 0, "", ErrNoToken},
		{"nil header", nil, 0, "", ErrNoToken},
		{"empty value", h(""), 0, "", ErrNoToken},
		{"Basic", h("Basic dXNlcjpwYXNz"), 0, "", ErrNoToken},
		{"scheme prefix", h("Bearerabc"), 0, "", ErrNoToken},
		{"short scheme", h("Bear"), 0, "", ErrNoToken},
		{"scheme only", h("Bearer"), 0, "", ErrMalformedHeader},
		{"scheme and space", h("Bearer "), 0, "", ErrMalformedHeader},
		{"tab separator", h("Bearer\tabc"), 0, "", ErrNoToken},
		{"two tokens", h("Bearer abc def"), 0, "", ErrMalformedHeader},
		{"comma", h("Bearer abc, Bearer def"), 0, "", ErrMalformedHeader},
		{"padding in the middle", h("Bearer ab=c"), 0, "", ErrMalformedHeader},
		{"only padding", h("Bearer =="), 0, "", ErrMalformedHeader},
		{"control character", h("Bearer ab\x00c"), 0, "", ErrMalformedHeader},
		{"non-ASCII", h("Bearer abc\u00e9"), 0, "", ErrMalformedHeader},
		{"two values", h("Bearer abc", "Bearer abc"), 0, "", ErrMalformedHeader},
		{"too large", h("Bearer " + strings.Repeat("a", 100)), 64, "", ErrHeaderTooLarge},
		{"at the bound", h("Bearer " + strings.Repeat("a", 57)), 64, strings.Repeat("a", 57), nil},
		{"default bound", h("Bearer " + strings.Repeat("a", 4096)), 0, "", ErrHeaderTooLarge},
		{"non-canonical key ignored", http.Header{"authorization": {"Bearer abc"}}, 0, "", ErrNoToken},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := BearerToken(c.h, c.max)
			if got != c.want || !errors.Is(err, c.err) || (c.err == nil) != (err == nil) {
				t.Errorf("BearerToken = %q, %v; want %q, %v", got, err, c.want, c.err)
			}
		})
	}
}

func TestVerifyTokenBound(t *testing.T) {
	k := getKeys()
	a := newAuth(t, mixedKeys(k), func(c *Config) { c.MaxHeaderBytes = 64 })
	tok := sign(t, jwt.SigningMethodHS256, k.hmac, "", goodClaims(nil))
	if _, err := a.VerifyToken(tok); !errors.Is(err, errTokenTooLarge) || !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("err = %v", err)
	}
	if _, err := a.VerifyToken(""); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("empty token: err = %v", err)
	}
}

func TestZeroAuthenticator(t *testing.T) {
	var a *Authenticator
	if _, err := a.VerifyToken("x"); err == nil || errors.Is(err, ErrInvalidToken) {
		t.Errorf("nil VerifyToken err = %v", err)
	}
	if _, err := (&Authenticator{}).Authenticate(httptest.NewRequest(http.MethodGet, "/", nil)); err == nil {
		t.Error("zero Authenticate accepted")
	}
	called := false
	h := a.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called = true }))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if called || rec.Code != http.StatusInternalServerError {
		t.Errorf("nil authenticator: called=%v status=%d", called, rec.Code)
	}
}

func TestNilNextHandler(t *testing.T) {
	k := getKeys()
	h := newAuth(t, mixedKeys(k), nil).Middleware(nil)
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Authorization", "Bearer "+sign(t, jwt.SigningMethodHS256, k.hmac, "", goodClaims(nil)))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusInternalServerError {
		t.Errorf("status = %d", rec.Code)
	}
}

func TestNewAuthenticatorConfig(t *testing.T) {
	k := getKeys()
	hk := must(HMACKey("", k.hmac))
	bad := []struct {
		name string
		cfg  Config
	}{
		{"no keys", Config{}},
		{"zero key", Config{Keys: []Key{{}}}},
		{"duplicate kid", Config{Keys: []Key{hk, must(PublicKeyPEM("", k.rsaPEM))}}},
		{"negative leeway", Config{Keys: []Key{hk}, Leeway: -time.Second}},
		{"negative header bound", Config{Keys: []Key{hk}, MaxHeaderBytes: -1}},
	}
	for _, c := range bad {
		if a, err := NewAuthenticator(c.cfg); err == nil || a != nil {
			t.Errorf("%s: NewAuthenticator = %v, %v", c.name, a, err)
		} else if !strings.HasPrefix(err.Error(), "jwtauth: ") {
			t.Errorf("%s: error %q lacks prefix", c.name, err)
		}
	}

	a, err := NewAuthenticator(Config{Keys: []Key{hk}})
	if err != nil {
		t.Fatal(err)
	}
	if a.openIDClaim != "sub" || a.maxBytes != 4096 {
		t.Errorf("defaults: claim %q, max %d", a.openIDClaim, a.maxBytes)
	}
	// Default clock and leeway: a token valid now is accepted; one that
	// expired 20s ago is inside the 30s default leeway, 40s ago is not.
	now := time.Now()
	mk := func(exp time.Time) string {
		return sign(t, jwt.SigningMethodHS256, k.hmac, "", jwt.MapClaims{"sub": "o", "exp": exp.Unix()})
	}
	if _, err := a.VerifyToken(mk(now.Add(-20 * time.Second))); err != nil {
		t.Errorf("within default leeway: %v", err)
	}
	if _, err := a.VerifyToken(mk(now.Add(-40 * time.Second))); !errors.Is(err, ErrExpired) {
		t.Errorf("beyond default leeway: %v", err)
	}
	// Without Issuer/Audience configured, those claims are not required.
	if _, err := a.VerifyToken(mk(now.Add(time.Hour))); err != nil {
		t.Errorf("no iss/aud configured: %v", err)
	}
}

func TestCustomLeeway(t *testing.T) {
	k := getKeys()
	a := newAuth(t, mixedKeys(k), func(c *Config) { c.Leeway = 5 * time.Minute })
	tok := sign(t, jwt.SigningMethodHS256, k.hmac, "", goodClaims(map[string]any{"exp": testNow.Add(-4 * time.Minute).Unix()}))
	if _, err := a.VerifyToken(tok); err != nil {
		t.Errorf("within 5m leeway: %v", err)
	}
	tok = sign(t, jwt.SigningMethodHS256, k.hmac, "", goodClaims(map[string]any{"exp": testNow.Add(-6 * time.Minute).Unix()}))
	if _, err := a.VerifyToken(tok); !errors.Is(err, ErrExpired) {
		t.Errorf("beyond 5m leeway: %v", err)
	}
}

func TestHMACKey(t *testing.T) {
	secret := make([]byte, 64)
	rand.Read(secret)
	good := []struct {
		n    int
		algs []string
		want []string
	}{
		{32, nil, []string{"HS256"}},
		{48, []string{"HS384"}, []string{"HS384"}},
		{64, []string{"HS512", "HS256", "HS512"}, []string{"HS512", "HS256"}},
	}
	for _, c := range good {
		k, err := HMACKey("k", secret[:c.n], c.algs...)
		if err != nil {
			t.Errorf("HMACKey(%d, %v): %v", c.n, c.algs, err)
			continue
		}
		if strings.Join(k.algs, ",") != strings.Join(c.want, ",") {
			t.Errorf("algs = %v, want %v", k.algs, c.want)
		}
	}
	bad := []struct {
		n    int
		algs []string
	}{
		{31, nil}, {0, nil}, {32, []string{"HS384"}}, {47, []string{"HS384"}}, {63, []string{"HS512"}},
		{64, []string{"RS256"}}, {64, []string{"none"}}, {64, []string{"hs256"}},
	}
	for _, c := range bad {
		if _, err := HMACKey("k", secret[:c.n], c.algs...); err == nil {
			t.Errorf("HMACKey(%d bytes, %v) accepted", c.n, c.algs)
		} else if strings.Contains(err.Error(), string(secret[:c.n])) && c.n > 0 {
			t.Error("error contains the secret")
		}
	}
	// The secret is copied.
	buf := append([]byte(nil), secret[:32]...)
	k := must(HMACKey("", buf))
	buf[0] ^= 0xff
	if k.key.([]byte)[0] == buf[0] {
		t.Error("secret not copied")
	}
}

func TestPublicKeyPEM(t *testing.T) {
	k := getKeys()
	rsaPKCS1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&k.rsa.PublicKey)})
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "issuer"},
		NotBefore:    testNow.Add(-time.Hour),
		NotAfter:     testNow.Add(time.Hour),
	}
	der := must(x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.rsa.PublicKey, k.rsa))
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	p384 := must(ecdsa.GenerateKey(elliptic.P384(), rand.Reader))
	p521 := must(ecdsa.GenerateKey(elliptic.P521(), rand.Reader))
	small := must(rsa.GenerateKey(rand.Reader, 1024))
	privDER := must(x509.MarshalPKCS8PrivateKey(k.ec))

	good := []struct {
		name string
		pem  []byte
		algs []string
		want string
	}{
		{"RSA PKIX", k.rsaPEM, nil, "RS256"},
		{"RSA PKCS1", rsaPKCS1, nil, "RS256"},
		{"RSA certificate", certPEM, nil, "RS256"},
		{"RSA all algs", k.rsaPEM, []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}, "RS256,RS384,RS512,PS256,PS384,PS512"},
		{"P-256", k.ecPEM, nil, "ES256"},
		{"P-256 explicit", k.ecPEM, []string{"ES256"}, "ES256"},
		{"P-384", pkixPEM(&p384.PublicKey), nil, "ES384"},
		{"P-521", pkixPEM(&p521.PublicKey), nil, "ES512"},
		{"Ed25519", k.edPEM, nil, "EdDSA"},
	}
	for _, c := range good {
		key, err := PublicKeyPEM("kid", c.pem, c.algs...)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if got := strings.Join(key.algs, ","); got != c.want || key.kid != "kid" {
			t.Errorf("%s: kid %q algs %s, want %s", c.name, key.kid, got, c.want)
		}
	}

	bad := []struct {
		name string
		pem  []byte
		algs []string
	}{
		{"empty", nil, nil},
		{"not PEM", []byte("hello"), nil},
		{"DER without PEM", must(x509.MarshalPKIXPublicKey(&k.rsa.PublicKey)), nil},
		{"RSA 1024", pkixPEM(&small.PublicKey), nil},
		{"RSA with ES256", k.rsaPEM, []string{"ES256"}},
		{"RSA with HS256", k.rsaPEM, []string{"HS256"}},
		{"RSA with none", k.rsaPEM, []string{"none"}},
		{"P-256 with ES384", k.ecPEM, []string{"ES384"}},
		{"P-256 with RS256", k.ecPEM, []string{"RS256"}},
		{"P-384 with ES256", pkixPEM(&p384.PublicKey), []string{"ES256"}},
		{"Ed25519 with ES256", k.edPEM, []string{"ES256"}},
		{"PKCS8 private key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}), nil},
		{"RSA private key", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k.rsa)}), nil},
		{"unknown block", pem.EncodeToMemory(&pem.Block{Type: "FOO", Bytes: []byte{1}}), nil},
		{"corrupt PKIX", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1, 2, 3}}), nil},
		{"corrupt certificate", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1, 2, 3}}), nil},
	}
	for _, c := range bad {
		if _, err := PublicKeyPEM("kid", c.pem, c.algs...); err == nil {
			t.Errorf("%s: accepted", c.name)
		} else if !strings.HasPrefix(err.Error(), "jwtauth: ") {
			t.Errorf("%s: %q lacks prefix", c.name, err)
		}
	}
}

func TestPublicKey(t *testing.T) {
	k := getKeys()
	xk := must(ecdh.X25519().GenerateKey(rand.Reader))
	edPub := k.ed.Public().(ed25519.PublicKey)
	for _, c := range []struct {
		name string
		pub  crypto.PublicKey
		ok   bool
	}{
		{"rsa", &k.rsa.PublicKey, true},
		{"ecdsa", &k.ec.PublicKey, true},
		{"ed25519", edPub, true},
		{"*ed25519", &edPub, true},
		{"nil", nil, false},
		{"nil rsa", (*rsa.PublicKey)(nil), false},
		{"nil ecdsa", (*ecdsa.PublicKey)(nil), false},
		{"rsa without modulus", &rsa.PublicKey{E: 65537}, false},
		{"short ed25519", ed25519.PublicKey{1, 2, 3}, false},
		{"bytes", k.hmac, false},
		{"x25519", xk.PublicKey(), false},
		{"private key", k.rsa, false},
	} {
		_, err := PublicKey("kid", c.pub)
		if (err == nil) != c.ok {
			t.Errorf("%s: err = %v", c.name, err)
		}
	}
}

// TestConcurrentUse exercises one Authenticator from many goroutines (run
// with -race).
func TestConcurrentUse(t *testing.T) {
	k := getKeys()
	a := newAuth(t, mixedKeys(k), nil)
	srv := newServer(t, a)
	toks := []string{
		sign(t, jwt.SigningMethodHS256, k.hmac, "", goodClaims(nil)),
		sign(t, jwt.SigningMethodES256, k.ec, "ec", goodClaims(nil)),
		sign(t, jwt.SigningMethodEdDSA, k.ed, "ed", goodClaims(nil)),
	}
	var wg sync.WaitGroup
	for i := range 24 {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
			req.Header.Set("Authorization", "Bearer "+toks[i%len(toks)])
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				t.Errorf("status %d", res.StatusCode)
			}
		})
	}
	wg.Wait()
}

// discardWriter is a minimal ResponseWriter for benchmarks.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}

// BenchmarkAuthMiddleware measures the full middleware (header parsing,
// verification, context) against a bare golang-jwt Parse of the same token.
func BenchmarkAuthMiddleware(b *testing.B) {
	k := getKeys()
	now := time.Now()
	claims := jwt.MapClaims{"sub": testOpenID, "iss": testIssuer, "aud": testAudience,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	for _, c := range []struct {
		name   string
		method jwt.SigningMethod
		sign   any
		verify any
		key    Key
	}{
		{"HS256", jwt.SigningMethodHS256, k.hmac, k.hmac, must(HMACKey("", k.hmac))},
		{"ES256", jwt.SigningMethodES256, k.ec, &k.ec.PublicKey, must(PublicKey("", &k.ec.PublicKey))},
	} {
		tok := sign(b, c.method, c.sign, "", claims)
		middleware := func(b *testing.B, cache int) {
			a := newAuth(b, []Key{c.key}, func(cfg *Config) { cfg.Now, cfg.TokenCache = nil, cache })
			var seen int
			h := a.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if _, ok := UserFrom(r.Context()); ok {
					seen++
				}
			}))
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(w, req)
			}
			if seen == 0 {
				b.Fatal("never authenticated")
			}
		}
		// The token presented again, as a mini program does: verified each
		// time, or found in the cache of verified tokens.
		b.Run(c.name+"/middleware", func(b *testing.B) { middleware(b, -1) })
		b.Run(c.name+"/middleware-cached", func(b *testing.B) { middleware(b, 0) })
		b.Run(c.name+"/jwt.Parse", func(b *testing.B) {
			keyfunc := func(*jwt.Token) (any, error) { return c.verify, nil }
			opts := []jwt.ParserOption{jwt.WithValidMethods([]string{c.method.Alg()})}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := jwt.Parse(tok, keyfunc, opts...); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
