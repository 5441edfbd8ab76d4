package jwtauth

import (
	"fmt"
	"maps"
	"strings"
	"sync"

	"github.com/golang-jwt/jwt/v5"
)

// tokenCache keeps the users of verified tokens, by the tokens' exact
// strings, so that a token presented again is not parsed and verified
// again: a mini program sends the same token with every tap until it
// expires. It holds at most max tokens; when full, one entry, chosen
// arbitrarily, makes room. Safe for concurrent use.
type tokenCache struct {
	mu  sync.Mutex
	max int
	m   map[string]*cachedToken
}

// cachedToken is a verified token's user and the key that verified it.
type cachedToken struct {
	user User
	kid  string
	key  *Key
}

func newTokenCache(max int) *tokenCache {
	return &tokenCache{max: max, m: make(map[string]*cachedToken)}
}

// cached answers a token verified before: found is false when it is not in
// the cache. A hit checks the time claims again (the token may have
// expired since) and that the key that verified it is still the one its
// kid names; a token that fails either leaves the cache and is answered
// with the error a verification would give.
func (a *Authenticator) cached(token string) (u User, found bool, err error) {
	if a.cache == nil {
		return User{}, false, nil
	}
	c := a.cache
	c.mu.Lock()
	e := c.m[token]
	c.mu.Unlock()
	if e == nil {
		return User{}, false, nil
	}
	if k, ok := a.keys[e.kid]; !ok || k != e.key {
		c.forget(token)
		return User{}, true, ErrUnknownKey
	}
	if verr := a.validator.Validate(e.user.Claims); verr != nil {
		c.forget(token)
		return User{}, true, a.mapError(nil, e.user.Claims, fmt.Errorf("%w: %w", jwt.ErrTokenInvalidClaims, verr))
	}
	u = e.user
	// The caller may change its user's claims: never the cached ones.
	u.Claims = maps.Clone(e.user.Claims)
	return u, true, nil
}

// remember caches the user of token, verified by the key of t's kid.
func (a *Authenticator) remember(token string, t *jwt.Token, u User) {
	if a.cache == nil || t == nil {
		return
	}
	kid, _ := t.Header["kid"].(string)
	k, ok := a.keys[kid]
	if !ok {
		return
	}
	u.Claims = maps.Clone(u.Claims)
	c := a.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[token]; ok {
		return
	}
	if len(c.m) >= c.max {
		for old := range c.m {
			delete(c.m, old)
			break
		}
	}
	// The token may be a piece of a larger header value: keep a copy.
	c.m[strings.Clone(token)] = &cachedToken{user: u, kid: kid, key: k}
}

func (c *tokenCache) forget(token string) {
	c.mu.Lock()
	delete(c.m, token)
	c.mu.Unlock()
}

func (c *tokenCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
