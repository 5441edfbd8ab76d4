package wxpaytest

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// PathCode2Session is the mini-program API host's login endpoint
// (auth.code2Session): GET with appid, secret, js_code and
// grant_type=authorization_code.
const PathCode2Session = "/sns/jscode2session"

// PathIssueCode is the LoginHost's own endpoint for clients outside Go (a
// mini program's tests, a shell): GET ?openid=...[&unionid=...] answers
// {"code": "..."}, as IssueCode. The platform has no such endpoint.
const PathIssueCode = "/wxpaytest/code"

// DefaultAppSecret is the app secret of a LoginHost when
// LoginOptions.AppSecret is empty.
const DefaultAppSecret = "wxpaytest0appsecret0tests0only00"

// The errcodes of code2Session that LoginHost answers by itself; Inject
// answers any other as well.
const (
	LoginBusy          = -1    // the platform is busy: try again
	LoginInvalidAppID  = 40013 // the appid is not a mini program's
	LoginInvalidCode   = 40029 // the code is not one the host issued (or expired)
	LoginInvalidSecret = 40125 // the secret is not the appid's
	LoginCodeUsed      = 40163 // the code was already exchanged
	LoginRateLimited   = 45011 // too many calls
	LoginHighRisk      = 40226 // a high-risk user: login blocked
)

// loginCodeTTL is how long an issued code can be exchanged, as on the
// platform.
const loginCodeTTL = 5 * time.Minute

// LoginOptions configures a LoginHost. The zero value is ready to use.
type LoginOptions struct {
	// AppID is the mini program's appid; the Server's AppID when empty.
	AppID string
	// AppSecret is the mini program's app secret; DefaultAppSecret when
	// empty.
	AppSecret string
	// Addr is the TCP address to listen on; a free loopback port when
	// empty. See Options.Addr.
	Addr string
}

// LoginUser is who a code issued by LoginHost logs in.
type LoginUser struct {
	OpenID  string
	UnionID string // "" for an app that is not in an open-platform account
}

// LoginHost is a fake of the mini-program API host's code2Session, the
// server side of wx.login: it exchanges the codes it issued (IssueCode) for
// the user's openid, unionid and a session_key, once each, over TLS with a
// certificate of the Server's CA (so the Server's RootCAs and CACertPEM
// trust it too; no client certificate is asked). It is safe for concurrent
// use.
type LoginHost struct {
	// URL is the base URL, https://127.0.0.1:port, without a trailing slash.
	URL       string
	AppID     string
	AppSecret string

	ts *httptest.Server

	mu          sync.Mutex
	codes       map[string]*loginCode
	faults      []int
	calls       int
	sessionKeys []string
}

type loginCode struct {
	user    LoginUser
	expires time.Time
	used    bool
}

// NewLoginHost starts a LoginHost whose server certificate (localhost,
// 127.0.0.1, ::1) is issued by s's CA. Close it when done.
func (s *Server) NewLoginHost(opts LoginOptions) (*LoginHost, error) {
	l := &LoginHost{AppID: opts.AppID, AppSecret: opts.AppSecret, codes: make(map[string]*loginCode)}
	if l.AppID == "" {
		l.AppID = s.AppID
	}
	if l.AppSecret == "" {
		l.AppSecret = DefaultAppSecret
	}
	var err error
	if l.ts, l.URL, err = s.ca.startTLS(opts.Addr, &http.Server{Handler: l}, &tls.Config{}); err != nil {
		return nil, err
	}
	return l, nil
}

// StartLoginHost is NewLoginHost for tests: it fails tb on error and closes
// the host in tb.Cleanup.
func (s *Server) StartLoginHost(tb testing.TB, opts LoginOptions) *LoginHost {
	tb.Helper()
	l, err := s.NewLoginHost(opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(l.Close)
	return l
}

// Close stops the host; it may be called more than once.
func (l *LoginHost) Close() { l.ts.Close() }

// IssueCode returns a new code for u, as wx.login gives the mini program:
// code2Session exchanges it once, within 5 minutes.
func (l *LoginHost) IssueCode(u LoginUser) string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	code := base64.RawURLEncoding.EncodeToString(b)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.codes[code] = &loginCode{user: u, expires: time.Now().Add(loginCodeTTL)}
	return code
}

// Inject makes the next code2Session calls answer errcode, one call each
// in the order injected, before anything else is checked (the code is not
// used up). Any errcode may be injected; the host answers LoginBusy,
// LoginRateLimited and LoginHighRisk only this way.
func (l *LoginHost) Inject(errcode int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.faults = append(l.faults, errcode)
}

// Calls returns how many code2Session calls the host answered.
func (l *LoginHost) Calls() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.calls
}

// SessionKeys returns every session_key the host answered, so that a test
// can check that none of them leaves the server it was given to.
func (l *LoginHost) SessionKeys() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.sessionKeys...)
}

// loginMessages are the errmsg texts of the errcodes.
var loginMessages = map[int]string{
	LoginBusy:          "system error",
	LoginInvalidAppID:  "invalid appid",
	LoginInvalidCode:   "invalid code",
	LoginInvalidSecret: "invalid appsecret",
	LoginCodeUsed:      "code been used",
	LoginRateLimited:   "api minute-quota reach limit mustslower retry next minute",
	LoginHighRisk:      "high risk user, login blocked",
	40002:              "invalid grant_type",
	41002:              "appid missing",
	41004:              "appsecret missing",
	41008:              "missing code",
}

// ServeHTTP answers PathCode2Session as the platform does: HTTP 200 with a
// JSON body, {"openid", "session_key"[, "unionid"]} or {"errcode",
// "errmsg"}. It checks, in order: an injected fault; appid (41002, 40013),
// secret (41004, 40125), grant_type (40002) and js_code (41008; 40029 for a
// code it did not issue or that expired; 40163 for one already exchanged).
func (l *LoginHost) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == PathIssueCode && r.Method == http.MethodGet {
		q := r.URL.Query()
		if q.Get("openid") == "" || len(q.Get("openid")) > 128 || len(q.Get("unionid")) > 128 {
			http.Error(w, "openid (at most 128 characters) is required", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"code": l.IssueCode(LoginUser{OpenID: q.Get("openid"), UnionID: q.Get("unionid")})})
		return
	}
	if r.URL.Path != PathCode2Session {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	q := r.URL.Query()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls++
	fail := func(code int) {
		writeLoginJSON(w, map[string]any{"errcode": code, "errmsg": loginMessages[code] + ", rid: " + randomHex(12)})
	}
	if len(l.faults) > 0 {
		code := l.faults[0]
		l.faults = l.faults[1:]
		fail(code)
		return
	}
	switch {
	case q.Get("appid") == "":
		fail(41002)
		return
	case q.Get("appid") != l.AppID:
		fail(LoginInvalidAppID)
		return
	case q.Get("secret") == "":
		fail(41004)
		return
	case q.Get("secret") != l.AppSecret:
		fail(LoginInvalidSecret)
		return
	case q.Get("grant_type") != "authorization_code":
		fail(40002)
		return
	case q.Get("js_code") == "":
		fail(41008)
		return
	}
	c, ok := l.codes[q.Get("js_code")]
	switch {
	case !ok || time.Now().After(c.expires):
		fail(LoginInvalidCode)
		return
	case c.used:
		fail(LoginCodeUsed)
		return
	}
	c.used = true
	key := randomToken(16)
	l.sessionKeys = append(l.sessionKeys, key)
	answer := map[string]any{"openid": c.user.OpenID, "session_key": key}
	if c.user.UnionID != "" {
		answer["unionid"] = c.user.UnionID
	}
	writeLoginJSON(w, answer)
}

// writeLoginJSON writes v as the platform does: status 200, text/plain.
func writeLoginJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write(b)
}

// randomToken is n random bytes in standard base64, as the platform's codes
// and session keys look.
func randomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(errors.New("wxpaytest: no randomness: " + err.Error()))
	}
	return base64.StdEncoding.EncodeToString(b)
}
