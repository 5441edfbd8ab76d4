package hongbaoecho

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/hongbao-go/hongbao/middleware"
)

// UserKey is the echo.Context key under which Auth stores the verified
// middleware.User.
const UserKey = "hongbao.user"

// Auth returns an echo middleware that verifies the request's bearer JWT
// with a. On failure the response is written by a's ErrorHandler, exactly as
// a.Middleware writes it, and next is not called. On success the user is put
// in the request context (middleware.ContextWithUser) and in the
// echo.Context under UserKey, and next is called.
func Auth(a *middleware.Authenticator) echo.MiddlewareFunc {
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
			if u, ok := middleware.UserFrom(c.Request().Context()); ok {
				c.Set(UserKey, u)
			}
			return next(c)
		}
	}
}

// User returns the user stored by Auth: from the echo.Context, or else from
// the request context.
func User(c echo.Context) (middleware.User, bool) {
	if c == nil {
		return middleware.User{}, false
	}
	if u, ok := c.Get(UserKey).(middleware.User); ok {
		return u, true
	}
	if c.Request() == nil {
		return middleware.User{}, false
	}
	return middleware.UserFrom(c.Request().Context())
}

// Handler adapts h, typically the red-packet handler of
// middleware.NewHandler, to echo. A user that another echo middleware stored
// under UserKey, but not in the request context, is copied into the request
// context first, so h finds it with middleware.UserFrom. It always returns
// nil: h writes every response itself.
func Handler(h http.Handler) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if _, ok := middleware.UserFrom(r.Context()); !ok {
			if u, ok := User(c); ok {
				r = r.WithContext(middleware.ContextWithUser(r.Context(), u))
				c.SetRequest(r)
			}
		}
		h.ServeHTTP(c.Response(), r)
		return nil
	}
}
