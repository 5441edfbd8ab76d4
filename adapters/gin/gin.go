package hongbaogin

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/hongbao-go/hongbao/middleware"
)

// UserKey is the gin.Context key under which Auth stores the verified
// middleware.User.
const UserKey = "hongbao.user"

// Auth returns a gin middleware that verifies the request's bearer JWT with
// a. On failure the response is written by a's ErrorHandler, exactly as
// a.Middleware writes it, and the chain is aborted. On success the user is
// put in the request context (middleware.ContextWithUser) and in the
// gin.Context under UserKey, and the chain continues.
func Auth(a *middleware.Authenticator) gin.HandlerFunc {
	return func(c *gin.Context) {
		passed := false
		a.Middleware(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
			passed = true
			c.Request = r
		})).ServeHTTP(c.Writer, c.Request)
		if !passed {
			c.Abort()
			return
		}
		if u, ok := middleware.UserFrom(c.Request.Context()); ok {
			c.Set(UserKey, u)
		}
		c.Next()
	}
}

// User returns the user stored by Auth: from the gin.Context, or else from
// the request context.
func User(c *gin.Context) (middleware.User, bool) {
	if c == nil {
		return middleware.User{}, false
	}
	if v, ok := c.Get(UserKey); ok {
		if u, ok := v.(middleware.User); ok {
			return u, true
		}
	}
	if c.Request == nil {
		return middleware.User{}, false
	}
	return middleware.UserFrom(c.Request.Context())
}

// Handler adapts h, typically the red-packet handler of
// middleware.NewHandler, to gin. A user that another gin middleware stored
// under UserKey, but not in the request context, is copied into the request
// context first, so h finds it with middleware.UserFrom.
func Handler(h http.Handler) gin.HandlerFunc {
	return func(c *gin.Context) {
		r := c.Request
		if _, ok := middleware.UserFrom(r.Context()); !ok {
			if u, ok := User(c); ok {
				r = r.WithContext(middleware.ContextWithUser(r.Context(), u))
				c.Request = r
			}
		}
		h.ServeHTTP(c.Writer, r)
	}
}
