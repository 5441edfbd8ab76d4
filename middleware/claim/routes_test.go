package claim

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hongbao-go/hongbao/middleware/httperr"
	"github.com/hongbao-go/hongbao/middleware/jwtauth"
)

// Mount answers every method and the paths under the claim path with the
// package's JSON, before authentication; other paths stay the mux's.
func TestMountServeMux(t *testing.T) {
	e := newI18nEnv(t, nil)
	tok := e.token(t, nil)
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodTrace, "PROPFIND"} {
		for _, token := range []string{"", tok} {
			a := e.do(t, m, "/hongbao/send", token, "", "")
			if a.status != http.StatusMethodNotAllowed || a.header.Get("Allow") != "POST" ||
				a.header.Get("Content-Type") != "application/json; charset=utf-8" {
				t.Errorf("%s: status %d, Allow %q, Content-Type %q", m, a.status, a.header.Get("Allow"), a.header.Get("Content-Type"))
			}
			if m != http.MethodHead && a.code != "method_not_allowed" {
				t.Errorf("%s: code %q", m, a.code)
			}
			if a.header.Get("WWW-Authenticate") != "" {
				t.Errorf("%s: authenticated before the method was checked", m)
			}
		}
	}
	for _, p := range []string{"/hongbao/send/", "/hongbao/send/x", "/hongbao/send/x/y"} {
		for _, m := range []string{http.MethodGet, http.MethodPost} {
			a := e.do(t, m, p, tok, "zh", "")
			a.check(t, http.StatusNotFound, "not_found", httperr.Chinese, zhOf("not_found"))
		}
	}
	if n := len(e.host.Requests()); n != 0 {
		t.Errorf("the host saw %d calls", n)
	}
	a := e.do(t, http.MethodPost, "/hongbao/send", "", "", "")
	a.check(t, http.StatusUnauthorized, "missing_token", httperr.English, httperr.Message("missing_token", nil))
	if a := e.do(t, http.MethodPost, "/hongbao/send", tok, "", `{"scene":1047}`); a.status != http.StatusOK {
		t.Fatalf("claim: status %d %s", a.status, a.message)
	}

	// Paths that are not the claim path's remain the mux's own.
	resp, err := http.Get(e.url + "/hongbao/sendx")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || strings.Contains(string(b), "not_found") {
		t.Errorf("/hongbao/sendx: status %d, body %q: want the mux's own 404", resp.StatusCode, b)
	}
}

func TestMountPatterns(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	auth := &jwtauth.Authenticator{}

	// A host pattern; routes under the path registered by the application
	// win over NotFound.
	mux := http.NewServeMux()
	Mount(mux, "api.example/hongbao/send", auth, h)
	mux.HandleFunc("api.example/hongbao/send/status", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusAccepted) })
	for _, c := range []struct {
		method, url string
		status      int
	}{
		{http.MethodGet, "http://api.example/hongbao/send", http.StatusMethodNotAllowed},
		{http.MethodGet, "http://api.example/hongbao/send/x", http.StatusNotFound},
		{http.MethodGet, "http://other.example/hongbao/send", http.StatusNotFound},
		{http.MethodGet, "http://api.example/hongbao/send/status", http.StatusAccepted},
	} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(c.method, c.url, nil))
		if rec.Code != c.status {
			t.Errorf("%s %s: %d, want %d", c.method, c.url, rec.Code, c.status)
		}
	}

	// A path ending in "/" is a subtree of its own: nothing is added.
	mux = http.NewServeMux()
	Mount(mux, "/hongbao/", auth, h)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/hongbao/send", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET under a subtree pattern: %d", rec.Code)
	}

	for _, bad := range []string{"POST /hongbao/send", "GET\t/x"} {
		func() {
			defer func() {
				if p := recover(); p == nil || !strings.Contains(p.(string), "method") {
					t.Errorf("Mount(%q): panic %v, want one about the method", bad, p)
				}
			}()
			Mount(http.NewServeMux(), bad, auth, h)
		}()
	}
}

// The two answers on their own, as custom routing uses them.
func TestMethodNotAllowedAndNotFound(t *testing.T) {
	for _, c := range []struct {
		h      http.HandlerFunc
		status int
		code   string
	}{
		{MethodNotAllowed, http.StatusMethodNotAllowed, "method_not_allowed"},
		{NotFound, http.StatusNotFound, "not_found"},
	} {
		for _, lang := range []httperr.Language{httperr.English, httperr.Chinese} {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.Header.Set("Accept-Language", string(lang))
			rec := httptest.NewRecorder()
			c.h(rec, r)
			want := `{"code":"` + c.code + `","message":"` + httperr.Message(c.code, r) + "\"}\n"
			if rec.Code != c.status || rec.Body.String() != want {
				t.Errorf("%s in %s: %d %q, want %d %q", c.code, lang, rec.Code, rec.Body, c.status, want)
			}
			if got := rec.Header().Get("Content-Language"); got != string(lang) {
				t.Errorf("%s: Content-Language %q", c.code, got)
			}
			if allow := rec.Header().Get("Allow"); (c.status == http.StatusMethodNotAllowed) != (allow == "POST") {
				t.Errorf("%s: Allow %q", c.code, allow)
			}
		}
	}
}
