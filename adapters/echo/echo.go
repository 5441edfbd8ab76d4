package hongbaoecho

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/hongbao-go/hongbao/middleware/claim"
	"github.com/hongbao-go/hongbao/middleware/jwtauth"
)

// UserKey is the echo.Context key under which Auth stores the verified
// jwtauth.User.
const UserKey = "hongbao.user"

// Auth returns an echo middleware that verifies the request's bearer JWT
// with a. On failure the response is written by a's ErrorHandler, exactly as
// a.Middleware writes it, and next is not called. On success the user is put
// in the request context (jwtauth.ContextWithUser) and in the
// echo.Context under UserKey, and next is called.
func Auth(a *jwtauth.Authenticator) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			passed := false
			a.Middleware(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
				passed = true
				c.SetRequest(r)
			})).ServeHTTP(c.Response(), c.Request())
			if !passed {
				return nil
			}
			if u, ok := jwtauth.UserFrom(c.Request().Context()); ok {
				c.Set(UserKey, u)
			}
			return next(c)
		}
	}
}

// User returns the user stored by Auth: from the echo.Context, or else from
// the request context.
func User(c echo.Context) (jwtauth.User, bool) {
	if c == nil {
		return jwtauth.User{}, false
	}
	if u, ok := c.Get(UserKey).(jwtauth.User); ok {
		return u, true
	}
	if c.Request() == nil {
		return jwtauth.User{}, false
	}
	return jwtauth.UserFrom(c.Request().Context())
}

// Handler adapts h, typically the red-packet handler of
// claim.NewHandler, to echo. A user that another echo middleware stored
// under UserKey, but not in the request context, is copied into the request
// context first, so h finds it with jwtauth.UserFrom. It always returns
// nil: h writes every response itself.
func Handler(h http.Handler) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if _, ok := jwtauth.UserFrom(r.Context()); !ok {
			if u, ok := User(c); ok {
				r = r.WithContext(jwtauth.ContextWithUser(r.Context(), u))
				c.SetRequest(r)
			}
		}
		h.ServeHTTP(c.Response(), r)
		return nil
	}
}

// Router is where Mount registers routes: *echo.Echo and *echo.Group both
// are one.
type Router interface {
	Add(method, path string, handler echo.HandlerFunc, middleware ...echo.MiddlewareFunc) *echo.Route
}

// otherMethods are the methods of echo's Any but POST.
var otherMethods = []string{
	http.MethodConnect, http.MethodDelete, http.MethodGet, http.MethodHead, http.MethodOptions,
	http.MethodPatch, echo.PROPFIND, http.MethodPut, http.MethodTrace, echo.REPORT,
}

// Mount registers the claim route on r, an *echo.Echo or an *echo.Group, at
// path: POST runs Auth(a) then Handler(h); every other method is answered
// by claim.MethodNotAllowed (405, "Allow: POST", the JSON error body)
// before authentication, and the paths under path by claim.NotFound
// (404, JSON). These are routes of their own, so echo's 405 and 404 (and
// its HTTPErrorHandler) never answer the claim route, which answers as on
// every other router.
//
//	e := echo.New()
//	hongbaoecho.Mount(e, "/hongbao/send", auth, h)
//
// The methods of echo's Any get a route each; any other method, which
// wx.request cannot send, gets a route-not-found handler on path (see
// echo.RouteNotFound), which a "/*" route-not-found handler of an enclosing
// group (Group.Use adds one) takes over. Mount owns path and the paths
// under it: a route registered there later replaces Mount's for its method.
func Mount(r Router, path string, a *jwtauth.Authenticator, h http.Handler) {
	mount(r, path, Handler(h), Auth(a))
}

// mount registers post, behind mw, for POST on path, and the JSON 405 of
// every other method and 404 of the paths under path (see Mount).
func mount(r Router, path string, post echo.HandlerFunc, mw ...echo.MiddlewareFunc) {
	notAllowed := echo.WrapHandler(http.HandlerFunc(claim.MethodNotAllowed))
	r.Add(http.MethodPost, path, post, mw...)
	for _, m := range otherMethods {
		r.Add(m, path, notAllowed)
	}
	r.Add(echo.RouteNotFound, path, notAllowed)
	r.Add(echo.RouteNotFound, strings.TrimSuffix(path, "/")+"/*", echo.WrapHandler(http.HandlerFunc(claim.NotFound)))
}
