package claim_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/hongbao-go/hongbao/middleware/claim"
	"github.com/hongbao-go/hongbao/middleware/httperr"
	"github.com/hongbao-go/hongbao/middleware/jwtauth"
)

// A custom ErrorHandler of the red-packet handler, with a body of its own,
// writes its message in the client's language too. (One that keeps the
// default body calls DefaultSendErrorHandler after its own work.)
func ExampleHandlerConfig_errorHandler() {
	errorHandler := func(w http.ResponseWriter, r *http.Request, err error) {
		var e *claim.HandlerError
		if !errors.As(err, &e) { // the handler always passes one
			e = &claim.HandlerError{Status: http.StatusInternalServerError, Code: "internal_error"}
		}
		// ... count e.Code, log e.Err ...
		httperr.WriteError(w, e.Status, e.Code, httperr.Localize(r, e.Code, e.Message))
	}
	_ = claim.HandlerConfig{ErrorHandler: errorHandler}

	// What a client asking for Chinese gets for a rate-limited tap.
	r := httptest.NewRequest(http.MethodPost, "/hongbao/send", nil)
	r.Header.Set("Accept-Language", "zh-CN")
	w := httptest.NewRecorder()
	errorHandler(w, r, &claim.HandlerError{Status: http.StatusTooManyRequests, Code: "rate_limited",
		Message: "too many requests; retry later"})
	fmt.Println(w.Code)
	fmt.Print(w.Body)
	// Output:
	// 429
	// {"code":"rate_limited","message":"操作太频繁，请稍后再试"}
}

func ExampleMount() {
	key, err := jwtauth.HMACKey("", []byte("a secret of at least thirty-two bytes"))
	if err != nil {
		fmt.Println(err)
		return
	}
	auth, err := jwtauth.NewAuthenticator(jwtauth.Config{Keys: []jwtauth.Key{key}})
	if err != nil {
		fmt.Println(err)
		return
	}
	var send http.Handler // claim.NewHandler(...)

	mux := http.NewServeMux()
	claim.Mount(mux, "/hongbao/send", auth, send)

	r := httptest.NewRequest(http.MethodGet, "/hongbao/send", nil)
	r.Header.Set("Accept-Language", "zh-CN")
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, r)
	fmt.Println(w.Code, w.Header().Get("Allow"))
	fmt.Print(w.Body)
	// Output:
	// 405 POST
	// {"code":"method_not_allowed","message":"仅支持 POST 请求"}
}
