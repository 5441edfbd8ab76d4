package hongbaochi_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go-chi/chi/v5"

	hongbaochi "github.com/hongbao-go/hongbao/adapters/chi"
	"github.com/hongbao-go/hongbao/adapters/internal/adaptertest"
	"github.com/hongbao-go/hongbao/middleware/jwtauth"
)

const openID = "oChiUser_0001"

// routers builds the two ways of mounting: Mount on a router, and Routes
// mounted under the path.
func routers(env *adaptertest.Env) map[string]http.Handler {
	mounted := chi.NewRouter()
	hongbaochi.Mount(mounted, "/hongbao/send", env.Auth, env.Handler)
	sub := chi.NewRouter()
	sub.Mount("/hongbao/send", hongbaochi.Routes(env.Auth, env.Handler))
	return map[string]http.Handler{"Mount": mounted, "Routes": sub}
}

func TestClaimAndRepeat(t *testing.T) {
	for _, name := range []string{"Mount", "Routes"} {
		t.Run(name, func(t *testing.T) {
			env := adaptertest.New(t)
			srv := httptest.NewServer(routers(env)[name])
			defer srv.Close()
			env.CheckClaimAndRepeat(t, srv.URL+"/hongbao/send", openID)
		})
	}
}

func TestNoToken(t *testing.T) {
	for _, name := range []string{"Mount", "Routes"} {
		t.Run(name, func(t *testing.T) {
			env := adaptertest.New(t)
			srv := httptest.NewServer(routers(env)[name])
			defer srv.Close()
			env.CheckNoToken(t, srv.URL+"/hongbao/send")
		})
	}
}

// Other methods get the package's JSON 405 with Allow: POST, before
// authentication, and the paths under the claim path its JSON 404, however
// the claim route is mounted, whatever r's own handlers are.
func TestRouteAnswers(t *testing.T) {
	for _, name := range []string{"Mount", "Routes"} {
		t.Run(name, func(t *testing.T) {
			env := adaptertest.New(t)
			srv := httptest.NewServer(routers(env)[name])
			defer srv.Close()
			env.CheckRouteAnswers(t, srv.URL+"/hongbao/send")
		})
	}
	t.Run("custom handlers of the router", func(t *testing.T) {
		env := adaptertest.New(t)
		r := chi.NewRouter()
		r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
		r.NotFound(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
		r.Route("/api", func(r chi.Router) {
			hongbaochi.Mount(r, "/hongbao/send", env.Auth, env.Handler)
		})
		srv := httptest.NewServer(r)
		defer srv.Close()
		env.CheckRouteAnswers(t, srv.URL+"/api/hongbao/send")
		env.CheckClaimAndRepeat(t, srv.URL+"/api/hongbao/send", openID)
		// The router's own handlers still answer everything else.
		resp, _ := adaptertest.Do(t, http.MethodGet, srv.URL+"/api/other", "", "")
		if resp.StatusCode != http.StatusTeapot {
			t.Errorf("GET /api/other: %d, want the router's NotFound", resp.StatusCode)
		}
	})
}

// Handlers behind the middleware read the user from the request context.
func TestUserInContext(t *testing.T) {
	env := adaptertest.New(t)
	r := chi.NewRouter()
	seen := make(chan string, 1)
	hongbaochi.Mount(r, "/hongbao/send", env.Auth, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := jwtauth.UserFrom(r.Context())
		seen <- u.OpenID
		env.Handler.ServeHTTP(w, r)
	}))
	srv := httptest.NewServer(r)
	defer srv.Close()
	resp, body := adaptertest.Do(t, http.MethodPost, srv.URL+"/hongbao/send", env.Token(t, openID), "")
	env.CheckClaim(t, resp, body, openID)
	if got := <-seen; got != openID {
		t.Errorf("user %q in the context, want %q", got, openID)
	}
}
