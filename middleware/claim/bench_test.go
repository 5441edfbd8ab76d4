package claim

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/hongbao-go/hongbao"
	"github.com/hongbao-go/hongbao/middleware/jwtauth"
	"github.com/hongbao-go/hongbao/middleware/jwttest"
	"github.com/hongbao-go/hongbao/transport"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

// benchStack is the claim route as a server mounts it: the JWT middleware
// in front of the handler, with the rate limiter running (and never
// refusing), on a client of a wxpaytest host over mutual TLS.
type benchStack struct {
	stack http.Handler // jwtauth's Middleware, then the Handler
	bare  http.Handler // golang-jwt alone
	token func(openID string) string
}

func newBenchStack(b *testing.B, flow hongbao.FlowControl, tokenCache int) *benchStack {
	// Tokens on the real clock: the token cache ages its entries by it.
	tokens := jwttest.HS256(b, jwttest.Config{Issuer: testIssuer, Audience: testAudience})
	host := wxpaytest.Start(b, wxpaytest.Options{})
	cert := host.ClientCertificate()
	client, err := hongbao.New(hongbao.Config{
		AppID: host.AppID,
		Transport: transport.Config{MchID: host.MchID, APIKey: host.APIKey, Certificate: &cert,
			RootCAs: host.RootCAs(), BaseURL: host.URL},
		Retry:     hongbao.RetryPolicy{Attempts: testAttempts, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond},
		Flow:      flow,
		BillnoKey: testBillnoKey,
		Logger:    slog.New(slog.DiscardHandler),
	})
	if err != nil {
		b.Fatal(err)
	}
	authCfg := tokens.AuthConfig()
	authCfg.TokenCache = tokenCache
	auth, err := jwtauth.NewAuthenticator(authCfg)
	if err != nil {
		b.Fatal(err)
	}
	h, err := NewHandler(HandlerConfig{
		SceneOptional: true,
		Client:        client,
		Policy:        PolicyFunc(func(context.Context, jwtauth.User, []byte) (Grant, error) { return testGrant(), nil }),
		RateLimit:     math.MaxInt32, // the limiter runs, and never refuses
		// Silent, so that the first tap's INFO line stays out of the
		// benchmark's output; a repeat tap logs at DEBUG, off by default
		// as here.
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		b.Fatal(err)
	}
	secret := tokens.Secret()
	keyfunc := func(*jwt.Token) (any, error) { return secret, nil }
	return &benchStack{
		stack: auth.Middleware(h),
		// The floor of any authenticated route: verify the same JWT with
		// golang-jwt, answer a small JSON object.
		bare: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
		}),
		token: func(openID string) string { return tokens.MustToken(b, openID) },
	}
}

// benchTap is one POST of the claim body {"scene": 1047} with a token,
// reused from tap to tap.
type benchTap struct {
	w    *statusWriter
	req  *http.Request
	body *strings.Reader
}

const benchBody = `{"scene": 1047}`

func newBenchTap() *benchTap {
	t := &benchTap{w: &statusWriter{h: http.Header{}}, body: strings.NewReader(benchBody)}
	t.req = httptest.NewRequest(http.MethodPost, "/hongbao/send", nil)
	return t
}

func (t *benchTap) do(b *testing.B, h http.Handler, token string) {
	t.body.Reset(benchBody)
	t.req.Body = io.NopCloser(t.body)
	t.req.ContentLength = int64(len(benchBody))
	t.req.Header.Set("Authorization", "Bearer "+token)
	clear(t.w.h)
	t.w.status = 0
	h.ServeHTTP(t.w, t.req)
	if t.w.status != http.StatusOK {
		b.Fatalf("status %d", t.w.status)
	}
}

// BenchmarkHandler measures one tap through the mounted stack, in process,
// against a wxpaytest host over mutual TLS:
//
//   - bare-jwt: a handler that only verifies the same JWT with golang-jwt
//     and writes a small JSON answer, the floor of any authenticated route;
//   - repeat-tap: a user tapping again after being paid, answered from the
//     Store with fresh wx.sendBizRedPacket parameters, no platform call;
//   - first-tap: a new openid each iteration, so each tap pays through the
//     host (one keep-alive mTLS round trip). The client's pacing (flow
//     control, 1,800 sends a minute) is off: this measures the handler;
//   - first-tap-paced: the same with the client's default pacing, which
//     spaces sends 1/30 s apart: what a burst of new users waits for.
//
// BenchmarkRepeatTap compares repeat-tap with bare-jwt in one run.
func BenchmarkHandler(b *testing.B) {
	s := newBenchStack(b, hongbao.FlowControl{SendsPerMinute: -1}, 0)
	token := s.token(testOpenID)

	b.Run("bare-jwt", func(b *testing.B) {
		tap := newBenchTap()
		b.ReportAllocs()
		for b.Loop() {
			tap.do(b, s.bare, token)
		}
	})

	b.Run("repeat-tap", func(b *testing.B) {
		tap := newBenchTap()
		tap.do(b, s.stack, token) // paid once
		b.ReportAllocs()
		for b.Loop() {
			tap.do(b, s.stack, token)
		}
	})

	firstTaps := func(b *testing.B, s *benchStack) {
		tap := newBenchTap()
		var tokens []string
		next := func() string {
			if len(tokens) == 0 {
				b.StopTimer()
				for range 64 {
					tokens = append(tokens, s.token(fmt.Sprintf("oBench%022d", benchOpenIDs.Add(1))))
				}
				b.StartTimer()
			}
			t := tokens[0]
			tokens = tokens[1:]
			return t
		}
		b.ReportAllocs()
		for b.Loop() {
			tap.do(b, s.stack, next())
		}
	}
	b.Run("first-tap", func(b *testing.B) { firstTaps(b, s) })
	b.Run("first-tap-paced", func(b *testing.B) { firstTaps(b, newBenchStack(b, hongbao.FlowControl{}, 0)) })
}

// BenchmarkRepeatTap compares, in one process and request by request, a
// repeat tap through the whole stack (the JWT middleware, then the handler
// answering from the Store) with the bare golang-jwt handler of
// BenchmarkHandler: each iteration makes one request of each, alternating
// which goes first, and times each. It reports the time of each per
// request and their ratio, repeat/bare (the time of all repeat taps over
// the time of all bare requests); ns/op and allocs/op are those of the
// pair. tokens=cached is the default stack, whose Authenticator finds the
// token of a repeat tap in its cache of verified tokens (checking its time
// claims and key again); tokens=verified has the cache off, so the stack
// verifies every token as the bare handler does. With -count 8 and
// benchstat, the medians of the eight runs of each:
//
//	go test -run '^$' -bench RepeatTap -benchmem -count 8 ./middleware/claim | tee repeat.txt
//	benchstat -col /tokens repeat.txt
func BenchmarkRepeatTap(b *testing.B) {
	for _, c := range []struct {
		name  string
		cache int
	}{{"cached", 0}, {"verified", -1}} {
		b.Run("tokens="+c.name, func(b *testing.B) {
			s := newBenchStack(b, hongbao.FlowControl{SendsPerMinute: -1}, c.cache)
			token := s.token(testOpenID)
			tap := newBenchTap()
			tap.do(b, s.stack, token) // paid once
			for range 100 {           // warm both paths
				tap.do(b, s.stack, token)
				tap.do(b, s.bare, token)
			}
			var bare, repeat time.Duration
			b.ReportAllocs()
			b.ResetTimer()
			i := 0
			for b.Loop() {
				bareFirst := i%2 == 0
				first, second := s.bare, s.stack
				if !bareFirst {
					first, second = second, first
				}
				i++
				t0 := time.Now()
				tap.do(b, first, token)
				t1 := time.Now()
				tap.do(b, second, token)
				t2 := time.Now()
				if bareFirst {
					bare, repeat = bare+t1.Sub(t0), repeat+t2.Sub(t1)
				} else {
					repeat, bare = repeat+t1.Sub(t0), bare+t2.Sub(t1)
				}
			}
			n := float64(b.N)
			b.ReportMetric(float64(bare.Nanoseconds())/n, "bare-ns/req")
			b.ReportMetric(float64(repeat.Nanoseconds())/n, "repeat-ns/req")
			b.ReportMetric(float64(repeat)/float64(bare), "repeat/bare")
		})
	}
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
