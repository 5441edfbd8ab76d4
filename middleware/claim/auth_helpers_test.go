package claim

// The test keys, tokens and requests of the jwtauth package's tests, for the
// handler behind a real Authenticator.

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/hongbao-go/hongbao/middleware/jwtauth"
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
func mixedKeys(k *testKeys) []jwtauth.Key {
	return []jwtauth.Key{
		must(jwtauth.HMACKey("", k.hmac)),
		must(jwtauth.PublicKeyPEM("rsa", k.rsaPEM, "RS256", "PS256")),
		must(jwtauth.PublicKeyPEM("ec", k.ecPEM)),
		must(jwtauth.PublicKeyPEM("ed", k.edPEM)),
	}
}

func newAuth(t testing.TB, keys []jwtauth.Key, mod func(*jwtauth.Config)) *jwtauth.Authenticator {
	t.Helper()
	cfg := jwtauth.Config{Keys: keys, Issuer: testIssuer, Audience: testAudience, Now: testClock}
	if mod != nil {
		mod(&cfg)
	}
	a, err := jwtauth.NewAuthenticator(cfg)
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

func newServer(t *testing.T, a *jwtauth.Authenticator) *server {
	t.Helper()
	s := &server{}
	s.Server = httptest.NewServer(a.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.calls.Add(1)
		u, ok := jwtauth.UserFrom(r.Context())
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

// attackCorpus is the jwtauth tests' corpus of requests that must be refused
// with 401 (want is the error that package reports; its unexported errors
// are ErrInvalidToken here).
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
		{name: "alg none empty signature", token: rawToken(noneHeader, good, ""), want: jwtauth.ErrAlgorithm},
		{name: "alg none with signature", token: rawToken(noneHeader, good, goodSig), want: jwtauth.ErrAlgorithm},
		{name: "alg none with kid", token: rawToken(map[string]any{"alg": "none", "kid": "rsa"}, good, ""), want: jwtauth.ErrAlgorithm},
		{name: "alg NONE", token: rawToken(map[string]any{"alg": "NONE"}, good, ""), want: jwtauth.ErrAlgorithm},
		{name: "alg missing", token: hmacToken(map[string]any{"typ": "JWT"}, good, k.hmac), want: jwtauth.ErrAlgorithm},
		{name: "alg not a string", token: hmacToken(map[string]any{"alg": 256}, good, k.hmac), want: jwtauth.ErrAlgorithm},
		{name: "key confusion: HS256 with RSA PEM as secret, kid rsa", token: sign(t, jwt.SigningMethodHS256, k.rsaPEM, "rsa", good), want: jwtauth.ErrAlgorithm},
		{name: "key confusion: HS256 with RSA PEM as secret, RSA-only set", auth: "rs", token: sign(t, jwt.SigningMethodHS256, k.rsaPEM, "", good), want: jwtauth.ErrAlgorithm},
		{name: "key confusion: HS256 with EC PEM as secret, kid ec", token: sign(t, jwt.SigningMethodHS256, k.ecPEM, "ec", good), want: jwtauth.ErrAlgorithm},
		{name: "key confusion: HS256 with RSA PEM as secret, default HMAC key", token: sign(t, jwt.SigningMethodHS256, k.rsaPEM, "", good), want: jwtauth.ErrInvalidToken},
		{name: "RS256 token against HMAC-only set", auth: "hs", token: sign(t, jwt.SigningMethodRS256, k.rsa, "", good), want: jwtauth.ErrAlgorithm},
		{name: "HS256 token against RSA-only set", auth: "rs", token: hs(good), want: jwtauth.ErrAlgorithm},
		{name: "PS384 not allowed for the RSA key", token: sign(t, jwt.SigningMethodPS384, k.rsa, "rsa", good), want: jwtauth.ErrAlgorithm},
		{name: "kid of RSA key, ES256 signed", token: sign(t, jwt.SigningMethodES256, k.ec, "rsa", good), want: jwtauth.ErrAlgorithm},
		{name: "kid of Ed25519 key, HS256 signed", token: sign(t, jwt.SigningMethodHS256, k.hmac, "ed", good), want: jwtauth.ErrAlgorithm},
		{name: "kid of EC key, RS256 signed", token: sign(t, jwt.SigningMethodRS256, k.rsa, "ec", good), want: jwtauth.ErrAlgorithm},
		{name: "no kid, RS256 signed (default key is HMAC)", token: sign(t, jwt.SigningMethodRS256, k.rsa, "", good), want: jwtauth.ErrAlgorithm},
		{name: "unknown kid", token: sign(t, jwt.SigningMethodHS256, k.hmac, "nope", good), want: jwtauth.ErrUnknownKey},
		{name: "kid not a string", token: hmacToken(map[string]any{"alg": "HS256", "kid": 7}, good, k.hmac), want: jwtauth.ErrUnknownKey},
		{name: "no kid and no default key", auth: "kid", token: hs(good), want: jwtauth.ErrUnknownKey},
		{name: "RS256 signed by another RSA key", token: sign(t, jwt.SigningMethodRS256, k.rsaOther, "rsa", good), want: jwtauth.ErrInvalidToken},
		{name: "HS256 signed by another secret", token: sign(t, jwt.SigningMethodHS256, k.hmacOther, "", good), want: jwtauth.ErrInvalidToken},
		{name: "tampered payload", token: parts[0] + "." + b64(goodClaims(map[string]any{"sub": "attacker"})) + "." + parts[2], want: jwtauth.ErrInvalidToken},
		{name: "signature stripped", token: parts[0] + "." + parts[1] + ".", want: jwtauth.ErrInvalidToken},
		{name: "non-canonical signature encoding", token: parts[0] + "." + parts[1] + "." + nonCanonicalSig, want: jwtauth.ErrInvalidToken},
		{name: "crit header", token: hmacToken(map[string]any{"alg": "HS256", "crit": []string{"exp"}, "exp": 1}, good, k.hmac), want: jwtauth.ErrInvalidToken},
		{name: "expired", token: hs(goodClaims(map[string]any{"exp": testNow.Add(-time.Hour).Unix()})), want: jwtauth.ErrExpired},
		{name: "expired beyond leeway", token: hs(goodClaims(map[string]any{"exp": testNow.Add(-31 * time.Second).Unix()})), want: jwtauth.ErrExpired},
		{name: "nbf in the future", token: hs(goodClaims(map[string]any{"nbf": testNow.Add(5 * time.Minute).Unix()})), want: jwtauth.ErrNotYetValid},
		{name: "iat in the future", token: hs(goodClaims(map[string]any{"iat": testNow.Add(5 * time.Minute).Unix(), "nbf": nil})), want: jwtauth.ErrIssuedInFuture},
		{name: "wrong iss", token: hs(goodClaims(map[string]any{"iss": "https://evil.example"})), want: jwtauth.ErrIssuer},
		{name: "missing iss", token: hs(goodClaims(map[string]any{"iss": nil})), want: jwtauth.ErrIssuer},
		{name: "non-string iss", token: hs(goodClaims(map[string]any{"iss": 1})), want: jwtauth.ErrIssuer},
		{name: "wrong aud", token: hs(goodClaims(map[string]any{"aud": "other-api"})), want: jwtauth.ErrAudience},
		{name: "wrong aud array", token: hs(goodClaims(map[string]any{"aud": []string{"a", "b"}})), want: jwtauth.ErrAudience},
		{name: "missing aud", token: hs(goodClaims(map[string]any{"aud": nil})), want: jwtauth.ErrAudience},
		{name: "missing exp", token: hs(goodClaims(map[string]any{"exp": nil})), want: jwtauth.ErrMissingExp},
		{name: "exp zero", token: hs(goodClaims(map[string]any{"exp": 0})), want: jwtauth.ErrMissingExp},
		{name: "exp not a number", token: hs(goodClaims(map[string]any{"exp": "tomorrow"})), want: jwtauth.ErrInvalidToken},
		{name: "missing sub", token: hs(goodClaims(map[string]any{"sub": nil})), want: jwtauth.ErrNoOpenID},
		{name: "empty sub", token: hs(goodClaims(map[string]any{"sub": ""})), want: jwtauth.ErrNoOpenID},
		{name: "numeric sub", token: hs(goodClaims(map[string]any{"sub": 12345})), want: jwtauth.ErrNoOpenID},
		{name: "object sub", token: hs(goodClaims(map[string]any{"sub": map[string]any{"id": testOpenID}})), want: jwtauth.ErrNoOpenID},
		{name: "garbage", token: "garbage", want: jwtauth.ErrInvalidToken},
		{name: "garbage three segments", token: "a.b.c", want: jwtauth.ErrInvalidToken},
		{name: "four segments", token: goodHS + ".x", want: jwtauth.ErrInvalidToken},
		{name: "header not JSON", token: b64("not json") + "." + parts[1] + "." + parts[2], want: jwtauth.ErrInvalidToken},
		{name: "garbage with non-token characters", req: withHeader("Authorization", "Bearer <script>"), want: jwtauth.ErrMalformedHeader},
		{name: "empty bearer", req: withHeader("Authorization", "Bearer "), want: jwtauth.ErrMalformedHeader},
		{name: "bearer with trailing junk", req: withHeader("Authorization", "Bearer "+goodHS+" extra"), want: jwtauth.ErrMalformedHeader},
		{name: "no Authorization header", req: withHeader("X-Other", "1"), want: jwtauth.ErrNoToken},
		{name: "Basic scheme", req: withHeader("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("user:"+goodHS))), want: jwtauth.ErrNoToken},
		{name: "token without scheme", req: withHeader("Authorization", goodHS), want: jwtauth.ErrNoToken},
		{name: "two Authorization headers", req: func(t *testing.T, u string) *http.Request {
			req := bearerRequest(t, u, goodHS)
			req.Header.Add("Authorization", "Bearer "+goodHS)
			return req
		}, want: jwtauth.ErrMalformedHeader},
		{name: "16 KiB header", req: withHeader("Authorization", "Bearer "+goodHS+strings.Repeat("A", 16<<10)), want: jwtauth.ErrHeaderTooLarge},
		{name: "token only in query string", req: func(t *testing.T, u string) *http.Request {
			req, err := http.NewRequest(http.MethodGet, u+"?access_token="+url.QueryEscape(goodHS), nil)
			if err != nil {
				t.Fatal(err)
			}
			return req
		}, want: jwtauth.ErrNoToken},
		{name: "token only in form body", req: func(t *testing.T, u string) *http.Request {
			form := url.Values{"access_token": {goodHS}}
			req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return req
		}, want: jwtauth.ErrNoToken},
		{name: "token only in a cookie", req: withHeader("Cookie", "access_token="+goodHS), want: jwtauth.ErrNoToken},
	}
}

const base64URLAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
