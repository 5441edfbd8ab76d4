package hongbaogin_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/gin-gonic/gin"

	hongbaogin "github.com/hongbao-go/hongbao/adapters/gin"
	"github.com/hongbao-go/hongbao/adapters/internal/adaptertest"
	"github.com/hongbao-go/hongbao/middleware/httperr"
	"github.com/hongbao-go/hongbao/middleware/jwtauth"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode)
	os.Exit(m.Run())
}

const openID = "oGinUser_0001"

// serve starts a gin router with the claim route and a /me route that
// reports the user as gin and the request context see it.
func serve(t *testing.T, env *adaptertest.Env, auth *jwtauth.Authenticator) *httptest.Server {
	t.Helper()
	r := gin.New()
	r.POST("/hongbao/send", hongbaogin.Auth(auth), hongbaogin.Handler(env.Handler))
	r.GET("/me", hongbaogin.Auth(auth), func(c *gin.Context) {
		u, ok := hongbaogin.User(c)
		v, _ := c.Get(hongbaogin.UserKey)
		fromCtx, ctxOK := jwtauth.UserFrom(c.Request.Context())
		c.JSON(http.StatusOK, gin.H{
			"ok": ok, "openid": u.OpenID,
			"key": v.(jwtauth.User).OpenID,
			"ctx": ctxOK, "ctx_openid": fromCtx.OpenID,
		})
	})
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return srv
}

func TestClaimAndRepeat(t *testing.T) {
	env := adaptertest.New(t)
	srv := serve(t, env, env.Auth)
	env.CheckClaimAndRepeat(t, srv.URL+"/hongbao/send", openID)
}

func TestNoToken(t *testing.T) {
	env := adaptertest.New(t)
	srv := serve(t, env, env.Auth)
	env.CheckNoToken(t, srv.URL+"/hongbao/send")
}

func TestBadTokenStopsChain(t *testing.T) {
	env := adaptertest.New(t)
	srv := serve(t, env, env.Auth)
	resp, body := adaptertest.Do(t, http.MethodPost, srv.URL+"/hongbao/send", env.Token(t, openID)+"x", `{}`)
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("status %d, WWW-Authenticate %q; body %s", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
	}
	if n := len(env.Host.Requests()); n != 0 {
		t.Errorf("the host saw %d calls", n)
	}
}

func TestUserInContexts(t *testing.T) {
	env := adaptertest.New(t)
	srv := serve(t, env, env.Auth)
	resp, body := adaptertest.Do(t, http.MethodGet, srv.URL+"/me", env.Token(t, openID), "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d; body %s", resp.StatusCode, body)
	}
	var got struct {
		OK        bool   `json:"ok"`
		OpenID    string `json:"openid"`
		Key       string `json:"key"`
		Ctx       bool   `json:"ctx"`
		CtxOpenID string `json:"ctx_openid"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if !got.OK || got.OpenID != openID || got.Key != openID || !got.Ctx || got.CtxOpenID != openID {
		t.Errorf("got %+v, want the user %s everywhere", got, openID)
	}
}

func TestUserWithoutAuth(t *testing.T) {
	c, _ := gin.CreateTestContext(httptest.NewRecorder())
	c.Request = httptest.NewRequest(http.MethodGet, "/", nil)
	if _, ok := hongbaogin.User(c); ok {
		t.Error("User reported a user on an unauthenticated request")
	}
	if _, ok := hongbaogin.User(nil); ok {
		t.Error("User(nil) reported a user")
	}
}

// The authenticator's own ErrorHandler answers, as with its Middleware.
func TestCustomErrorHandler(t *testing.T) {
	env := adaptertest.New(t)
	key, err := jwtauth.HMACKey("", []byte("another-secret-of-at-least-32-bytes"))
	if err != nil {
		t.Fatal(err)
	}
	auth, err := jwtauth.NewAuthenticator(jwtauth.Config{
		Keys: []jwtauth.Key{key},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			httperr.WriteError(w, http.StatusTeapot, "custom", jwtauth.ErrorCode(err))
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := serve(t, env, auth)
	resp, body := adaptertest.Do(t, http.MethodPost, srv.URL+"/hongbao/send", "", `{}`)
	if resp.StatusCode != http.StatusTeapot {
		t.Fatalf("status %d, want 418; body %s", resp.StatusCode, body)
	}
}

// A user that another gin middleware stored under UserKey reaches the
// handler.
func TestHandlerTakesUserFromGinContext(t *testing.T) {
	env := adaptertest.New(t)
	r := gin.New()
	r.POST("/hongbao/send", func(c *gin.Context) {
		c.Set(hongbaogin.UserKey, jwtauth.User{OpenID: openID, Subject: openID})
	}, hongbaogin.Handler(env.Handler))
	srv := httptest.NewServer(r)
	defer srv.Close()
	resp, body := adaptertest.Do(t, http.MethodPost, srv.URL+"/hongbao/send", "", "")
	env.CheckClaim(t, resp, body, openID)
}

// mounted returns gin routers with the claim route mounted by Mount: on the
// engine, with HandleMethodNotAllowed on or off, and on a group with
// middleware, at /api/hongbao/send.
func mounted(env *adaptertest.Env) map[string]struct {
	r    *gin.Engine
	path string
} {
	plain := gin.New()
	hongbaogin.Mount(plain, "/hongbao/send", env.Auth, env.Handler)
	strict := gin.New()
	strict.HandleMethodNotAllowed = true
	hongbaogin.Mount(strict, "/hongbao/send", env.Auth, env.Handler)
	grouped := gin.New()
	api := grouped.Group("/api", func(c *gin.Context) { c.Header("X-Api", "1") })
	hongbaogin.Mount(api, "/hongbao/send", env.Auth, env.Handler)
	return map[string]struct {
		r    *gin.Engine
		path string
	}{
		"engine":                 {plain, "/hongbao/send"},
		"HandleMethodNotAllowed": {strict, "/hongbao/send"},
		"group":                  {grouped, "/api/hongbao/send"},
	}
}

func TestMount(t *testing.T) {
	for _, name := range []string{"engine", "HandleMethodNotAllowed", "group"} {
		t.Run(name, func(t *testing.T) {
			env := adaptertest.New(t)
			m := mounted(env)[name]
			srv := httptest.NewServer(m.r)
			defer srv.Close()
			env.CheckRouteAnswers(t, srv.URL+m.path)
			env.CheckNoToken(t, srv.URL+m.path)
			env.CheckClaimAndRepeat(t, srv.URL+m.path, openID)
			if name == "group" {
				resp, _ := adaptertest.Do(t, http.MethodGet, srv.URL+m.path, "", "")
				if resp.Header.Get("X-Api") != "1" {
					t.Error("the group's middleware did not run for the 405")
				}
			}
		})
	}
}

// A path ending in "/" takes no routes under it in gin: Mount adds none.
func TestMountTrailingSlash(t *testing.T) {
	env := adaptertest.New(t)
	r := gin.New()
	hongbaogin.Mount(r.Group("/hongbao/send"), "/", env.Auth, env.Handler)
	srv := httptest.NewServer(r)
	defer srv.Close()
	resp, body := adaptertest.Do(t, http.MethodGet, srv.URL+"/hongbao/send/", "", "")
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != http.MethodPost {
		t.Errorf("GET: %d %s", resp.StatusCode, body)
	}
	env.CheckClaimAndRepeat(t, srv.URL+"/hongbao/send/", openID)
}
