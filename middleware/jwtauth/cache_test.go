package jwtauth

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// movingClock is a clock the test moves.
type movingClock struct{ off atomic.Int64 }

func (c *movingClock) now() time.Time          { return testNow.Add(time.Duration(c.off.Load())) }
func (c *movingClock) advance(d time.Duration) { c.off.Add(int64(d)) }

func TestTokenCacheHit(t *testing.T) {
	k := getKeys()
	a := newAuth(t, mixedKeys(k), nil)
	tok := sign(t, jwt.SigningMethodHS256, k.hmac, "", goodClaims(nil))
	u1, err := a.VerifyToken(tok)
	if err != nil {
		t.Fatal(err)
	}
	if a.cache.len() != 1 {
		t.Fatalf("%d cached tokens", a.cache.len())
	}
	// The caller owns its claims: changing them changes no later answer.
	u1.Claims["sub"] = "attacker"
	u2, err := a.VerifyToken(tok)
	if err != nil || u2.OpenID != testOpenID || u2.Claims["sub"] != testOpenID || u2.ExpiresAt != u1.ExpiresAt {
		t.Fatalf("hit: %+v %v", u2, err)
	}
	u2.Claims["sub"] = "attacker"
	if u3, _ := a.VerifyToken(tok); u3.Claims["sub"] != testOpenID {
		t.Fatal("a hit shares its claims with an earlier caller")
	}
	// A token that differs by one character of its signature is
	// verified, and refused.
	i := len(tok) - 10
	c := byte('A')
	if tok[i] == c {
		c = 'B'
	}
	if _, err := a.VerifyToken(tok[:i] + string(c) + tok[i+1:]); err == nil {
		t.Fatal("a changed signature was accepted")
	}
}

// Expiry, not-before and issued-at are checked again on every hit.
func TestTokenCacheChecksTimeOnEveryHit(t *testing.T) {
	k := getKeys()
	clk := &movingClock{}
	a := newAuth(t, mixedKeys(k), func(c *Config) { c.Now = clk.now })
	tok := sign(t, jwt.SigningMethodHS256, k.hmac, "", goodClaims(map[string]any{"exp": testNow.Add(time.Minute).Unix()}))
	if _, err := a.VerifyToken(tok); err != nil {
		t.Fatal(err)
	}
	clk.advance(time.Minute + 29*time.Second) // within the 30 s leeway
	if _, err := a.VerifyToken(tok); err != nil {
		t.Fatalf("within the leeway: %v", err)
	}
	clk.advance(2 * time.Second)
	if _, err := a.VerifyToken(tok); !errors.Is(err, ErrExpired) {
		t.Fatalf("after exp: %v", err)
	}
	if a.cache.len() != 0 {
		t.Fatal("the expired token stayed in the cache")
	}
	// A clock turned back before nbf refuses the cached token too.
	clk2 := &movingClock{}
	b := newAuth(t, mixedKeys(k), func(c *Config) { c.Now = clk2.now })
	tok2 := sign(t, jwt.SigningMethodHS256, k.hmac, "", goodClaims(map[string]any{"nbf": testNow.Unix(), "iat": testNow.Unix()}))
	if _, err := b.VerifyToken(tok2); err != nil {
		t.Fatal(err)
	}
	clk2.advance(-time.Hour)
	if _, err := b.VerifyToken(tok2); !errors.Is(err, ErrNotYetValid) && !errors.Is(err, ErrIssuedInFuture) {
		t.Fatalf("before nbf: %v", err)
	}
}

// A hit is refused when the key that verified the token no longer answers
// to its kid (a key taken out of rotation).
func TestTokenCacheChecksTheKey(t *testing.T) {
	k := getKeys()
	a := newAuth(t, mixedKeys(k), nil)
	tok := sign(t, jwt.SigningMethodRS256, k.rsa, "rsa", goodClaims(nil))
	if _, err := a.VerifyToken(tok); err != nil {
		t.Fatal(err)
	}
	delete(a.keys, "rsa") // as a rotation without this key would leave it
	if _, err := a.VerifyToken(tok); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("after the key left: %v", err)
	}
	a.keys["rsa"] = &Key{kid: "rsa", algs: []string{"RS256"}, key: &k.rsaOther.PublicKey}
	if _, err := a.VerifyToken(tok); err == nil {
		t.Fatal("a token of the old key was accepted under a new key")
	}
}

func TestTokenCacheBoundedAndOff(t *testing.T) {
	k := getKeys()
	a := newAuth(t, mixedKeys(k), func(c *Config) { c.TokenCache = 4 })
	for i := range 10 {
		tok := sign(t, jwt.SigningMethodHS256, k.hmac, "", goodClaims(map[string]any{"jti": fmt.Sprint(i)}))
		if _, err := a.VerifyToken(tok); err != nil {
			t.Fatal(err)
		}
		if n := a.cache.len(); n > 4 {
			t.Fatalf("%d cached tokens, at most 4", n)
		}
	}
	off := newAuth(t, mixedKeys(k), func(c *Config) { c.TokenCache = -1 })
	tok := sign(t, jwt.SigningMethodHS256, k.hmac, "", goodClaims(nil))
	for range 2 {
		if _, err := off.VerifyToken(tok); err != nil || off.cache != nil {
			t.Fatalf("without a cache: %v", err)
		}
	}
	if def := newAuth(t, mixedKeys(k), nil); def.cache == nil || def.cache.max != defaultTokenCache {
		t.Fatal("no default cache")
	}
}

// Refused tokens are never cached: every attack is verified each time.
func TestTokenCacheKeepsNoRefusal(t *testing.T) {
	k := getKeys()
	a := newAuth(t, mixedKeys(k), nil)
	for _, c := range attackCorpus(t) {
		if c.token == "" || c.auth != "" {
			continue
		}
		for range 2 {
			if _, err := a.VerifyToken(c.token); err == nil {
				t.Fatalf("%s: accepted", c.name)
			}
		}
	}
	if n := a.cache.len(); n != 0 {
		t.Fatalf("%d refused tokens cached", n)
	}
}

func TestTokenCacheConcurrent(t *testing.T) {
	k := getKeys()
	a := newAuth(t, mixedKeys(k), func(c *Config) { c.TokenCache = 8 })
	toks := make([]string, 16)
	for i := range toks {
		toks[i] = sign(t, jwt.SigningMethodHS256, k.hmac, "", goodClaims(map[string]any{"sub": fmt.Sprintf("o%d", i)}))
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				j := (g + i) % len(toks)
				u, err := a.VerifyToken(toks[j])
				if err != nil || u.OpenID != fmt.Sprintf("o%d", j) {
					t.Errorf("%d: %+v %v", j, u, err)
					return
				}
				u.Claims["x"] = i
			}
		})
	}
	wg.Wait()
}
