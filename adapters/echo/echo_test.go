package hongbaoecho_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	hongbaoecho "github.com/hongbao-go/hongbao/adapters/echo"
	"github.com/hongbao-go/hongbao/adapters/internal/adaptertest"
	"github.com/hongbao-go/hongbao/middleware/httperr"
	"github.com/hongbao-go/hongbao/middleware/jwtauth"
)

const openID = "oEchoUser_0001"

// serve starts an echo router with the claim route and a /me route that
// reports the user as echo and the request context see it.
func serve(t *testing.T, env *adaptertest.Env, auth *jwtauth.Authenticator) *httptest.Server {
	t.Helper()
	e := echo.New()
	e.HideBanner = true
	e.POST("/hongbao/send", hongbaoecho.Handler(env.Handler), hongbaoecho.Auth(auth))
	e.GET("/me", func(c echo.Context) error {
		u, ok := hongbaoecho.User(c)
		v, _ := c.Get(hongbaoecho.UserKey).(jwtauth.User)
		fromCtx, ctxOK := jwtauth.UserFrom(c.Request().Context())
		return c.JSON(http.StatusOK, map[string]any{
			"ok": ok, "openid": u.OpenID,
			"key": v.OpenID,
			"ctx": ctxOK, "ctx_openid": fromCtx.OpenID,
		})
	}, hongbaoecho.Auth(auth))
	srv := httptest.NewServer(e)
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
	var e struct{ Code string }
	if err := json.Unmarshal(body, &e); err != nil || e.Code != "invalid_token" {
		t.Errorf("body %s: want exactly one JSON body with code invalid_token", body)
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
	e := echo.New()
	c := e.NewContext(httptest.NewRequest(http.MethodGet, "/", nil), httptest.NewRecorder())
	if _, ok := hongbaoecho.User(c); ok {
		t.Error("User reported a user on an unauthenticated request")
	}
	if _, ok := hongbaoecho.User(nil); ok {
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

// A user that another echo middleware stored under UserKey reaches the
// handler.
func TestHandlerTakesUserFromEchoContext(t *testing.T) {
	env := adaptertest.New(t)
	e := echo.New()
	e.POST("/hongbao/send", hongbaoecho.Handler(env.Handler), func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			c.Set(hongbaoecho.UserKey, jwtauth.User{OpenID: openID, Subject: openID})
			return next(c)
		}
	})
	srv := httptest.NewServer(e)
	defer srv.Close()
	resp, body := adaptertest.Do(t, http.MethodPost, srv.URL+"/hongbao/send", "", "")
	env.CheckClaim(t, resp, body, openID)
}

func TestMount(t *testing.T) {
	cases := map[string]func(e *echo.Echo, env *adaptertest.Env) string{
		"echo": func(e *echo.Echo, env *adaptertest.Env) string {
			hongbaoecho.Mount(e, "/hongbao/send", env.Auth, env.Handler)
			return "/hongbao/send"
		},
		// Group.Use adds "/*" route-not-found handlers to the group, and a
		// param route may take the path's other methods: Mount's own routes
		// win over both.
		"group with middleware": func(e *echo.Echo, env *adaptertest.Env) string {
			api := e.Group("/api")
			api.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
				return func(c echo.Context) error {
					c.Response().Header().Set("X-Api", "1")
					return next(c)
				}
			})
			api.GET("/hongbao/:id", func(c echo.Context) error { return c.NoContent(http.StatusTeapot) })
			hongbaoecho.Mount(api, "/hongbao/send", env.Auth, env.Handler)
			return "/api/hongbao/send"
		},
	}
	for name, mount := range cases {
		t.Run(name, func(t *testing.T) {
			env := adaptertest.New(t)
			e := echo.New()
			e.HideBanner = true
			path := mount(e, env)
			srv := httptest.NewServer(e)
			defer srv.Close()
			env.CheckRouteAnswers(t, srv.URL+path)
			env.CheckNoToken(t, srv.URL+path)
			env.CheckClaimAndRepeat(t, srv.URL+path, openID)

			// Methods outside echo's Any, which wx.request cannot send,
			// get the JSON 405 too unless a group's "/*" handler takes them.
			resp, body := adaptertest.Do(t, "FOO", srv.URL+path, "", "")
			if name == "echo" && (resp.StatusCode != http.StatusMethodNotAllowed || !strings.Contains(string(body), `"method_not_allowed"`)) {
				t.Errorf("FOO: %d %s", resp.StatusCode, body)
			}
		})
	}
}
