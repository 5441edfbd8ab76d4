package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/hongbao-go/hongbao/middleware/httperr"
)

// routeAnswer is one request to the example and the answer expected of
// every router.
type routeAnswer struct {
	method, path, lang string
	token              bool
	status             int
	code               string
}

// TestRouteAnswersAlike checks that every router answers the claim route's
// errors alike: the JSON error shape with the package's code and a message
// in the language asked for, Allow: POST on 405, whatever the router would
// answer by itself.
func TestRouteAnswersAlike(t *testing.T) {
	const zh = "zh-CN,zh;q=0.9,en;q=0.8"
	cases := []routeAnswer{
		{http.MethodGet, claimPath, "", false, 405, "method_not_allowed"},
		{http.MethodGet, claimPath, "", true, 405, "method_not_allowed"},
		{http.MethodPut, claimPath, zh, true, 405, "method_not_allowed"},
		{http.MethodDelete, claimPath, "en-US", false, 405, "method_not_allowed"},
		{http.MethodOptions, claimPath, zh, false, 405, "method_not_allowed"},
		{http.MethodHead, claimPath, "", false, 405, "method_not_allowed"},
		{http.MethodGet, claimPath + "/x", "", false, 404, "not_found"},
		{http.MethodPost, claimPath + "/x/y", zh, true, 404, "not_found"},
		{http.MethodPost, claimPath, zh, false, 401, "missing_token"},
		{http.MethodPost, claimPath, "", false, 401, "missing_token"},
	}
	for _, router := range routers {
		t.Run(router, func(t *testing.T) {
			base, out := start(t, map[string]string{envRouter: router})
			token := demoTokenOf(t, out.String())
			for _, c := range cases {
				req, err := http.NewRequest(c.method, base+c.path, nil)
				if err != nil {
					t.Fatal(err)
				}
				if c.lang != "" {
					req.Header.Set("Accept-Language", c.lang)
				}
				if c.token {
					req.Header.Set("Authorization", "Bearer "+token)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil {
					t.Fatal(err)
				}
				what := c.method + " " + c.path + " [" + c.lang + "]"
				if resp.StatusCode != c.status {
					t.Errorf("%s: status %d, want %d; body %q", what, resp.StatusCode, c.status, body)
					continue
				}
				if ct := resp.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
					t.Errorf("%s: Content-Type %q", what, ct)
				}
				if c.status == http.StatusMethodNotAllowed {
					if got := resp.Header.Values("Allow"); len(got) != 1 || got[0] != http.MethodPost {
						t.Errorf("%s: Allow %q, want POST", what, got)
					}
				}
				if lang := httperr.PreferredLanguage(req); resp.Header.Get("Content-Language") != string(lang) {
					t.Errorf("%s: Content-Language %q, want %q", what, resp.Header.Get("Content-Language"), lang)
				}
				if c.method == http.MethodHead {
					continue
				}
				var e struct{ Code, Message string }
				dec := json.NewDecoder(bytes.NewReader(body))
				dec.DisallowUnknownFields()
				if err := dec.Decode(&e); err != nil {
					t.Errorf("%s: body %q: %v", what, body, err)
					continue
				}
				if want := httperr.Message(c.code, req); e.Code != c.code || e.Message != want {
					t.Errorf("%s: body %q, want code %q message %q", what, body, c.code, want)
				}
			}
		})
	}
}
