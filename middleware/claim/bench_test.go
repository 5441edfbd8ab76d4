package claim

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/hongbao-go/hongbao/middleware/jwtauth"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

// BenchmarkHandler measures one tap through the mounted stack (JWT
// middleware, rate limit, policy, Store, signing), in process, against a
// wxpaytest host over mutual TLS:
//
//   - bare-jwt: a handler that only verifies the same JWT with golang-jwt
//     and writes a small JSON answer, the floor of any authenticated route;
//   - cached: the repeat tap of one user, answered from the Store with
//     fresh wx.sendBizRedPacket parameters, no platform call;
//   - first-tap: a new openid each iteration, so each tap pays through the
//     host (one keep-alive mTLS round trip).
func BenchmarkHandler(b *testing.B) {
	k := getKeys()
	host := wxpaytest.Start(b, wxpaytest.Options{})
	client := newTestClient(b, host, nil)
	auth := newAuth(b, []jwtauth.Key{must(jwtauth.HMACKey("", k.hmac))}, func(c *jwtauth.Config) { c.Now = nil })
	h, err := NewHandler(HandlerConfig{
		SceneOptional: true,
		Client:        client,
		Policy:        PolicyFunc(func(context.Context, jwtauth.User, []byte) (Grant, error) { return testGrant(), nil }),
		RateLimit:     math.MaxInt32, // the limiter runs, and never refuses
	})
	if err != nil {
		b.Fatal(err)
	}
	stack := auth.Middleware(h)

	tokenFor := func(openID string) string {
		now := time.Now()
		return sign(b, jwt.SigningMethodHS256, k.hmac, "", jwt.MapClaims{"sub": openID, "iss": testIssuer,
			"aud": testAudience, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()})
	}
	token := tokenFor(testOpenID)

	run := func(b *testing.B, handler http.Handler, tokens func(i int) string) {
		w := &statusWriter{h: http.Header{}}
		body := strings.NewReader(`{}`)
		req := httptest.NewRequest(http.MethodPost, "/hongbao/send", nil)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			body.Reset(`{}`)
			req.Body = io.NopCloser(body)
			req.ContentLength = 2
			req.Header.Set("Authorization", "Bearer "+tokens(i))
			w.status = 0
			handler.ServeHTTP(w, req)
			if w.status != http.StatusOK {
				b.Fatalf("status %d", w.status)
			}
		}
	}

	b.Run("bare-jwt", func(b *testing.B) {
		keyfunc := func(*jwt.Token) (any, error) { return k.hmac, nil }
		bare := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			if _, err := jwt.Parse(tok, keyfunc, jwt.WithValidMethods([]string{"HS256"}),
				jwt.WithIssuer(testIssuer), jwt.WithAudience(testAudience), jwt.WithExpirationRequired()); err != nil {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			_, _ = io.WriteString(w, `{"ok":true}`)
		})
		run(b, bare, func(int) string { return token })
	})

	b.Run("cached", func(b *testing.B) {
		warm := &statusWriter{h: http.Header{}}
		req := httptest.NewRequest(http.MethodPost, "/hongbao/send", strings.NewReader(`{}`))
		req.Header.Set("Authorization", "Bearer "+token)
		stack.ServeHTTP(warm, req)
		if warm.status != http.StatusOK {
			b.Fatalf("warm-up status %d", warm.status)
		}
		run(b, stack, func(int) string { return token })
	})

	b.Run("first-tap", func(b *testing.B) {
		tokens := make([]string, b.N)
		for i := range tokens {
			tokens[i] = tokenFor(fmt.Sprintf("oBench%022d", benchOpenIDs.Add(1)))
		}
		run(b, stack, func(i int) string { return tokens[i] })
	})
}

// benchOpenIDs numbers the openids of first taps across runs.
var benchOpenIDs atomic.Int64

// statusWriter is a ResponseWriter that discards the body and keeps the
// status.
type statusWriter struct {
	h      http.Header
	status int
}

func (w *statusWriter) Header() http.Header         { return w.h }
func (w *statusWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *statusWriter) WriteHeader(s int)           { w.status = s }
