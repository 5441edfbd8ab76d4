package middleware_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/hongbao-go/hongbao/middleware"
)

func ExampleLocalize() {
	r := httptest.NewRequest(http.MethodPost, "/hongbao/send", nil)
	r.Header.Set("Accept-Language", "zh-CN,zh;q=0.9,en;q=0.8")

	fmt.Println(middleware.PreferredLanguage(r))
	fmt.Println(middleware.Message("rate_limited", r))
	fmt.Println(middleware.Localize(r, "scene_not_supported", "red packets cannot be claimed from this scene: 1001"))
	// A code outside the catalogue (a policy's own) keeps its message.
	fmt.Println(middleware.Localize(r, "campaign_over", "the campaign is over"))
	// Output:
	// zh-CN
	// 操作太频繁，请稍后再试
	// 当前场景不支持领取红包：1001
	// the campaign is over
}

// A custom ErrorHandler of the red-packet handler, with a body of its own,
// writes its message in the client's language too. (One that keeps the
// default body calls DefaultSendErrorHandler after its own work.)
func ExampleLocalize_errorHandler() {
	errorHandler := func(w http.ResponseWriter, r *http.Request, err error) {
		var e *middleware.HandlerError
		if !errors.As(err, &e) { // the handler always passes one
			e = &middleware.HandlerError{Status: http.StatusInternalServerError, Code: "internal_error"}
		}
		// ... count e.Code, log e.Err ...
		middleware.WriteError(w, e.Status, e.Code, middleware.Localize(r, e.Code, e.Message))
	}
	_ = middleware.HandlerConfig{ErrorHandler: errorHandler}

	// What a client asking for Chinese gets for a rate-limited tap.
	r := httptest.NewRequest(http.MethodPost, "/hongbao/send", nil)
	r.Header.Set("Accept-Language", "zh-CN")
	w := httptest.NewRecorder()
	errorHandler(w, r, &middleware.HandlerError{Status: http.StatusTooManyRequests, Code: "rate_limited",
		Message: "too many requests; retry later"})
	fmt.Println(w.Code)
	fmt.Print(w.Body)
	// Output:
	// 429
	// {"code":"rate_limited","message":"操作太频繁，请稍后再试"}
}

func ExampleMount() {
	key, err := middleware.HMACKey("", []byte("a secret of at least thirty-two bytes"))
	if err != nil {
		fmt.Println(err)
		return
	}
	auth, err := middleware.NewAuthenticator(middleware.AuthConfig{Keys: []middleware.Key{key}})
	if err != nil {
		fmt.Println(err)
		return
	}
	var send http.Handler // middleware.NewHandler(...)

	mux := http.NewServeMux()
	middleware.Mount(mux, "/hongbao/send", auth, send)

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
