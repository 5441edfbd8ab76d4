package jwttest_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hongbao-go/hongbao/middleware/jwttest"
)

func TestForgeriesRefused(t *testing.T) {
	for _, cfg := range []jwttest.Config{
		{Now: fixedClock},
		{KID: "k1", Issuer: "https://auth.example.com", Audience: "hongbao", OpenIDClaim: "openid", TTL: 10 * time.Minute, Now: fixedClock},
	} {
		for _, s := range newSigners(t, cfg) {
			a := authFor(t, s)
			var calls atomic.Int64
			srv := httptest.NewServer(a.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
			})))
			t.Cleanup(srv.Close)
			forgeries := s.MustForgeries(t, openID)
			want := 27
			if cfg.Issuer != "" {
				want += 4
			}
			if len(forgeries) != want {
				t.Fatalf("%d forgeries, want %d", len(forgeries), want)
			}
			for _, f := range forgeries {
				t.Run(s.Alg()+"/"+cfg.KID+"/"+f.Name, func(t *testing.T) {
					req, err := f.NewRequest(http.MethodPost, srv.URL+"/send?x=1", strings.NewReader("{}"))
					if err != nil {
						t.Fatal(err)
					}
					if _, err := a.Authenticate(req); f.Want == nil || !errors.Is(err, f.Want) {
						t.Fatalf("Authenticate err %v, want %v", err, f.Want)
					}
					if req.URL.Query().Get("x") != "1" {
						t.Fatalf("query %q lost the target's own", req.URL.RawQuery)
					}
					res, err := srv.Client().Do(req)
					if err != nil {
						t.Fatal(err)
					}
					res.Body.Close()
					if res.StatusCode != http.StatusUnauthorized || f.Token == "" {
						t.Fatalf("status %d, token %q", res.StatusCode, f.Token)
					}
				})
			}
			if n := calls.Load(); n != 0 {
				t.Fatalf("the handler ran %d times", n)
			}
			// The good token of the same Signer passes the same route.
			good := jwttest.Forgery{Header: http.Header{"Authorization": {"Bearer " + s.MustToken(t, openID)}}}
			req, err := good.NewRequest(http.MethodGet, srv.URL, nil)
			if err != nil {
				t.Fatal(err)
			}
			res, err := srv.Client().Do(req)
			if err != nil || res.StatusCode != http.StatusOK || calls.Load() != 1 {
				t.Fatalf("good token: %v, %v", res, err)
			}
			res.Body.Close()
		}
	}
}

func TestForgeriesErrors(t *testing.T) {
	s := jwttest.HS256(t, jwttest.Config{})
	if f, err := s.Forgeries(""); err == nil || f != nil {
		t.Fatalf("Forgeries(\"\"): %d, %v; want an error", len(f), err)
	}
	tb := &fatalTB{TB: t}
	if f := s.MustForgeries(tb, ""); f != nil || !strings.Contains(tb.msg, "openid") {
		t.Fatalf("MustForgeries: %d, Fatal %q", len(f), tb.msg)
	}
	if _, err := (jwttest.Forgery{}).NewRequest("bad method", "http://x", nil); err == nil || !strings.HasPrefix(err.Error(), "jwttest: ") {
		t.Fatalf("NewRequest: %v", err)
	}
}
