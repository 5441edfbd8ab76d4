package hongbaochi_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go-chi/chi/v5"

	hongbaochi "github.com/hongbao-go/hongbao/adapters/chi"
	"github.com/hongbao-go/hongbao/adapters/internal/adaptertest"
	"github.com/hongbao-go/hongbao/middleware"
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

// Other methods get chi's 405 with Allow: POST, before authentication.
func TestMethodNotAllowed(t *testing.T) {
	for _, name := range []string{"Mount", "Routes"} {
		t.Run(name, func(t *testing.T) {
			env := adaptertest.New(t)
			srv := httptest.NewServer(routers(env)[name])
			defer srv.Close()
			for _, tok := range []string{"", env.Token(t, openID)} {
				resp, body := adaptertest.Do(t, http.MethodGet, srv.URL+"/hongbao/send", tok, "")
				if resp.StatusCode != http.StatusMethodNotAllowed {
					t.Fatalf("GET: status %d, want 405; body %s", resp.StatusCode, body)
				}
				if got := resp.Header.Get("Allow"); got != http.MethodPost {
					t.Errorf("Allow %q, want POST", got)
				}
			}
			if n := len(env.Host.Requests()); n != 0 {
				t.Errorf("the host saw %d calls", n)
			}
		})
	}
}

// Handlers behind the middleware read the user from the request context.
func TestUserInContext(t *testing.T) {
	env := adaptertest.New(t)
	r := chi.NewRouter()
	seen := make(chan string, 1)
	hongbaochi.Mount(r, "/hongbao/send", env.Auth, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := middleware.UserFrom(r.Context())
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
