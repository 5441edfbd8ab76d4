package jwttest_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/hongbao-go/hongbao/middleware/jwtauth"
	"github.com/hongbao-go/hongbao/middleware/jwttest"
)

const openID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"

var fixedNow = time.Date(2026, 2, 12, 10, 0, 0, 0, time.UTC)

func fixedClock() time.Time { return fixedNow }

// newSigners returns an HS256 and an ES256 Signer for cfg.
func newSigners(t *testing.T, cfg jwttest.Config) []*jwttest.Signer {
	t.Helper()
	return []*jwttest.Signer{jwttest.HS256(t, cfg), jwttest.ES256(t, cfg)}
}

func authFor(t *testing.T, s *jwttest.Signer) *jwtauth.Authenticator {
	t.Helper()
	a, err := jwtauth.NewAuthenticator(s.AuthConfig())
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// claims decodes a token without verifying it.
func claims(t *testing.T, tok string) (jwt.MapClaims, map[string]any) {
	t.Helper()
	c := jwt.MapClaims{}
	parsed, _, err := jwt.NewParser().ParseUnverified(tok, c)
	if err != nil {
		t.Fatal(err)
	}
	return c, parsed.Header
}

func TestDefaults(t *testing.T) {
	for _, s := range newSigners(t, jwttest.Config{Now: fixedClock}) {
		t.Run(s.Alg(), func(t *testing.T) {
			tok := s.MustToken(t, openID)
			u, err := authFor(t, s).VerifyToken(tok)
			if err != nil {
				t.Fatal(err)
			}
			if u.OpenID != openID || u.Subject != openID {
				t.Fatalf("OpenID %q, Subject %q; want %q", u.OpenID, u.Subject, openID)
			}
			if !u.ExpiresAt.Equal(fixedNow.Add(jwttest.DefaultTTL)) {
				t.Fatalf("exp %v, want %v", u.ExpiresAt, fixedNow.Add(jwttest.DefaultTTL))
			}
			c, h := claims(t, tok)
			if len(c) != 3 || c["iat"] != float64(fixedNow.Unix()) {
				t.Fatalf("claims %v, want exactly sub, iat (now) and exp", c)
			}
			if _, ok := h["kid"]; ok || h["alg"] != s.Alg() {
				t.Fatalf("header %v, want alg %s and no kid", h, s.Alg())
			}
		})
	}
}

func TestRealClock(t *testing.T) {
	s := jwttest.HS256(t, jwttest.Config{})
	a, err := jwtauth.NewAuthenticator(jwtauth.Config{Keys: []jwtauth.Key{s.Key()}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.VerifyToken(s.MustToken(t, openID)); err != nil {
		t.Fatal(err)
	}
	for _, o := range []jwttest.Option{jwttest.Expired(), jwttest.NotYetValid()} {
		if _, err := a.VerifyToken(s.MustToken(t, openID, o)); err == nil {
			t.Fatal("a token out of its validity passed")
		}
	}
}

func TestConfig(t *testing.T) {
	cfg := jwttest.Config{
		KID:         "test-2026",
		Issuer:      "https://auth.example.com",
		Audience:    "hongbao",
		OpenIDClaim: "openid",
		TTL:         10 * time.Minute,
		Now:         fixedClock,
	}
	for _, s := range newSigners(t, cfg) {
		t.Run(s.Alg(), func(t *testing.T) {
			ac := s.AuthConfig()
			if ac.Issuer != cfg.Issuer || ac.Audience != cfg.Audience || ac.OpenIDClaim != "openid" || ac.Now == nil || len(ac.Keys) != 1 {
				t.Fatalf("AuthConfig %+v does not follow the Config", ac)
			}
			tok := s.MustToken(t, openID)
			u, err := authFor(t, s).VerifyToken(tok)
			if err != nil {
				t.Fatal(err)
			}
			if u.OpenID != openID || u.Subject != "" || u.Issuer != cfg.Issuer {
				t.Fatalf("user %+v", u)
			}
			if !u.ExpiresAt.Equal(fixedNow.Add(10 * time.Minute)) {
				t.Fatalf("exp %v, want now + TTL", u.ExpiresAt)
			}
			c, h := claims(t, tok)
			if h["kid"] != "test-2026" || c["aud"] != "hongbao" {
				t.Fatalf("header %v, claims %v", h, c)
			}

			// The Authenticator of the default claim finds no openid.
			plain, err := jwtauth.NewAuthenticator(jwtauth.Config{
				Keys: []jwtauth.Key{s.Key()}, Issuer: cfg.Issuer, Audience: cfg.Audience, Now: fixedClock,
			})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := plain.VerifyToken(tok); !errors.Is(err, jwtauth.ErrNoOpenID) {
				t.Fatalf("err %v, want ErrNoOpenID", err)
			}
		})
	}
}

func TestRefusedTokens(t *testing.T) {
	cfg := jwttest.Config{Issuer: "https://auth.example.com", Audience: "hongbao", Now: fixedClock}
	for _, s := range newSigners(t, cfg) {
		a := authFor(t, s)
		for _, tc := range []struct {
			name string
			opts []jwttest.Option
			want error
		}{
			{"expired", []jwttest.Option{jwttest.Expired()}, jwtauth.ErrExpired},
			{"not yet valid", []jwttest.Option{jwttest.NotYetValid()}, jwtauth.ErrNotYetValid},
			{"issued in the future", []jwttest.Option{jwttest.Claim("iat", fixedNow.Add(time.Hour))}, jwtauth.ErrIssuedInFuture},
			{"no exp", []jwttest.Option{jwttest.Claim("exp", nil)}, jwtauth.ErrMissingExp},
			{"other issuer", []jwttest.Option{jwttest.Claim("iss", "https://evil.example.com")}, jwtauth.ErrIssuer},
			{"no issuer", []jwttest.Option{jwttest.Claim("iss", nil)}, jwtauth.ErrIssuer},
			{"other audience", []jwttest.Option{jwttest.Claim("aud", "other")}, jwtauth.ErrAudience},
			{"no openid", []jwttest.Option{jwttest.Claim("sub", nil)}, jwtauth.ErrNoOpenID},
			// Claim applies after Expired, whatever the order given.
			{"claim wins", []jwttest.Option{jwttest.Claim("exp", fixedNow.Add(time.Hour)), jwttest.Expired()}, nil},
		} {
			t.Run(s.Alg()+"/"+tc.name, func(t *testing.T) {
				_, err := a.VerifyToken(s.MustToken(t, openID, tc.opts...))
				if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
					t.Fatalf("err %v, want %v", err, tc.want)
				}
			})
		}
	}
}

func TestExtraClaim(t *testing.T) {
	s := jwttest.HS256(t, jwttest.Config{Now: fixedClock})
	u, err := authFor(t, s).VerifyToken(s.MustToken(t, openID, jwttest.Claim("scope", "hongbao"), jwttest.Claim("level", 3)))
	if err != nil {
		t.Fatal(err)
	}
	if u.Claims["scope"] != "hongbao" || u.Claims["level"] != float64(3) {
		t.Fatalf("claims %v", u.Claims)
	}
}

// TestKeysAreSeparate: each Signer has its own key, and a key accepts only
// its own algorithm.
func TestKeysAreSeparate(t *testing.T) {
	a1 := jwttest.HS256(t, jwttest.Config{Now: fixedClock})
	a2 := jwttest.HS256(t, jwttest.Config{Now: fixedClock})
	e1 := jwttest.ES256(t, jwttest.Config{Now: fixedClock})
	e2 := jwttest.ES256(t, jwttest.Config{Now: fixedClock})
	if string(a1.Secret()) == string(a2.Secret()) || len(a1.Secret()) != 32 {
		t.Fatal("two HS256 Signers share a secret, or it is not 32 bytes")
	}
	if string(e1.PublicKeyPEM()) == string(e2.PublicKeyPEM()) {
		t.Fatal("two ES256 Signers share a key")
	}
	if a1.PublicKeyPEM() != nil || e1.Secret() != nil {
		t.Fatal("an HS256 Signer has a public key, or an ES256 one a secret")
	}
	sec := a1.Secret()
	sec[0] ^= 0xff
	if a1.Secret()[0] == sec[0] {
		t.Fatal("Secret returns the Signer's own slice")
	}
	for _, tc := range []struct {
		verify, mint *jwttest.Signer
		want         error
	}{
		{a1, a2, jwtauth.ErrInvalidToken},
		{e1, e2, jwtauth.ErrInvalidToken},
		{a1, e1, jwtauth.ErrAlgorithm},
		{e1, a1, jwtauth.ErrAlgorithm},
	} {
		if _, err := authFor(t, tc.verify).VerifyToken(tc.mint.MustToken(t, openID)); !errors.Is(err, tc.want) {
			t.Fatalf("%s token verified by another %s key: err %v, want %v", tc.mint.Alg(), tc.verify.Alg(), err, tc.want)
		}
	}

	// The public key in PEM form is what jwtauth.PublicKeyPEM reads.
	k, err := jwtauth.PublicKeyPEM("", e1.PublicKeyPEM())
	if err != nil {
		t.Fatal(err)
	}
	a, err := jwtauth.NewAuthenticator(jwtauth.Config{Keys: []jwtauth.Key{k}, Now: fixedClock})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.VerifyToken(e1.MustToken(t, openID)); err != nil {
		t.Fatal(err)
	}
}

func TestErrors(t *testing.T) {
	if _, err := jwttest.NewHS256(jwttest.Config{TTL: -time.Second}); err == nil {
		t.Fatal("NewHS256 accepted a negative TTL")
	}
	if _, err := jwttest.NewES256(jwttest.Config{TTL: -time.Second}); err == nil {
		t.Fatal("NewES256 accepted a negative TTL")
	}
	s := jwttest.HS256(t, jwttest.Config{})
	for name, mint := range map[string]func() (string, error){
		"empty openid":  func() (string, error) { return s.Token("") },
		"empty claim":   func() (string, error) { return s.Token(openID, jwttest.Claim("", 1)) },
		"nil option":    func() (string, error) { return s.Token(openID, nil) },
		"not encodable": func() (string, error) { return s.Token(openID, jwttest.Claim("c", make(chan int))) },
	} {
		if tok, err := mint(); err == nil || tok != "" || !strings.HasPrefix(err.Error(), "jwttest: ") {
			t.Errorf("%s: token %q, err %v; want a jwttest error and no token", name, tok, err)
		}
	}
}

// fatalTB records Fatal instead of stopping the test.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper()           {}
func (f *fatalTB) Fatal(args ...any) { f.msg = fmt.Sprint(args...) }

func TestTBVariantsFail(t *testing.T) {
	tb := &fatalTB{TB: t}
	if s := jwttest.HS256(tb, jwttest.Config{TTL: -1}); s != nil || !strings.Contains(tb.msg, "TTL") {
		t.Fatalf("HS256: Signer %v, Fatal %q", s, tb.msg)
	}
	tb.msg = ""
	if s := jwttest.ES256(tb, jwttest.Config{TTL: -1}); s != nil || !strings.Contains(tb.msg, "TTL") {
		t.Fatalf("ES256: Signer %v, Fatal %q", s, tb.msg)
	}
	tb.msg = ""
	s := jwttest.HS256(t, jwttest.Config{})
	if tok := s.MustToken(tb, ""); tok != "" || !strings.Contains(tb.msg, "openid") {
		t.Fatalf("MustToken: token %q, Fatal %q", tok, tb.msg)
	}
}

func TestConcurrent(t *testing.T) {
	s := jwttest.ES256(t, jwttest.Config{Now: fixedClock})
	a := authFor(t, s)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			id := fmt.Sprintf("openid-%d", i)
			tok, err := s.Token(id)
			if err != nil {
				t.Error(err)
				return
			}
			if u, err := a.VerifyToken(tok); err != nil || u.OpenID != id {
				t.Errorf("user %q, err %v", u.OpenID, err)
			}
		})
	}
	wg.Wait()
}
