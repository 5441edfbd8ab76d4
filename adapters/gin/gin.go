package hongbaogin

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/hongbao-go/hongbao/middleware/claim"
	"github.com/hongbao-go/hongbao/middleware/jwtauth"
)

// UserKey is the gin.Context key under which Auth stores the verified
// jwtauth.User.
const UserKey = "hongbao.user"

// Auth returns a gin middleware that verifies the request's bearer JWT with
// a. On failure the response is written by a's ErrorHandler, exactly as
// a.Middleware writes it, and the chain is aborted. On success the user is
// put in the request context (jwtauth.ContextWithUser) and in the
// gin.Context under UserKey, and the chain continues.
func Auth(a *jwtauth.Authenticator) gin.HandlerFunc {
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
		if u, ok := jwtauth.UserFrom(c.Request.Context()); ok {
			c.Set(UserKey, u)
		}
		c.Next()
	}
}

// User returns the user stored by Auth: from the gin.Context, or else from
// the request context.
func User(c *gin.Context) (jwtauth.User, bool) {
	if c == nil {
		return jwtauth.User{}, false
	}
	if v, ok := c.Get(UserKey); ok {
		if u, ok := v.(jwtauth.User); ok {
			return u, true
		}
	}
	if c.Request == nil {
		return jwtauth.User{}, false
	}
	return jwtauth.UserFrom(c.Request.Context())
}

// Handler adapts h, typically the red-packet handler of
// claim.NewHandler, to gin. A user that another gin middleware stored
// under UserKey, but not in the request context, is copied into the request
// context first, so h finds it with jwtauth.UserFrom.
func Handler(h http.Handler) gin.HandlerFunc {
	return func(c *gin.Context) {
		r := c.Request
		if _, ok := jwtauth.UserFrom(r.Context()); !ok {
			if u, ok := User(c); ok {
				r = r.WithContext(jwtauth.ContextWithUser(r.Context(), u))
				c.Request = r
			}
		}
		h.ServeHTTP(c.Writer, r)
	}
}

// otherMethods are the methods of gin's Any but POST.
var otherMethods = []string{
	http.MethodGet, http.MethodHead, http.MethodPut, http.MethodPatch, http.MethodDelete,
	http.MethodOptions, http.MethodConnect, http.MethodTrace,
}

// Mount registers the claim route on r, a *gin.Engine or a *gin.RouterGroup,
// at path: POST runs Auth(a) then Handler(h); every other method of gin's
// Any is answered by claim.MethodNotAllowed (405, "Allow: POST", the
// JSON error body) before authentication; the paths under path by
// claim.NotFound (404, JSON). So the route answers as on every other
// router, whatever HandleMethodNotAllowed says, instead of gin's plain-text
// "405 method not allowed" or "404 page not found".
//
//	r := gin.New()
//	hongbaogin.Mount(r, "/hongbao/send", auth, h)
//
// Mount owns path and the paths under it: gin panics when a route there
// was registered before, or is registered after. A path that ends in "/"
// cannot have routes under it in gin: Mount then adds no 404. Methods outside gin's Any
// (PROPFIND, ...), which wx.request cannot send, stay gin's to answer.
// Global middleware (r.Use) must be added before Mount, as for any gin
// route.
func Mount(r gin.IRoutes, path string, a *jwtauth.Authenticator, h http.Handler) {
	mount(r, path, Auth(a), Handler(h))
}

// mount registers post for POST on path, and the JSON 405 of every other
// method of gin's Any and 404 of the paths under path (see Mount).
func mount(r gin.IRoutes, path string, post ...gin.HandlerFunc) {
	r.POST(path, post...)
	r.Match(otherMethods, path, gin.WrapF(claim.MethodNotAllowed))
	if !strings.HasSuffix(path, "/") {
		r.Any(path+"/*hongbaoSubpath", gin.WrapF(claim.NotFound))
	}
}
