package wxlogin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	gocache "github.com/patrickmn/go-cache"

	"github.com/hongbao-go/hongbao/middleware/httperr"
	"github.com/hongbao-go/hongbao/middleware/jwtauth"
)

// DefaultBaseURL is the mini-program API host.
const DefaultBaseURL = "https://api.weixin.qq.com"

// PathCode2Session is the path of code2Session on the API host.
const PathCode2Session = "/sns/jscode2session"

// Defaults of Config.
const (
	DefaultLifetime     = 2 * time.Hour
	DefaultRateLimit    = 30
	DefaultRateWindow   = time.Minute
	DefaultMaxBodyBytes = 4 << 10
	DefaultTimeout      = 5 * time.Second
	// DefaultCodeTTL is how long a code is remembered as used: longer
	// than the 5 minutes a wx.login code lives.
	DefaultCodeTTL = 10 * time.Minute
)

// maxCodeLength bounds a code: wx.login's are about 32 characters.
const maxCodeLength = 256

// maxAnswerBytes bounds code2Session's answer.
const maxAnswerBytes = 64 << 10

// Retry-After of the answers that carry one.
const (
	retryAfterBusy     = 2 * time.Second
	retryAfterUpstream = time.Minute
)

// Config configures New. AppID, AppSecret and Key are required; every other
// field documents its default.
type Config struct {
	// AppID and AppSecret are the mini program's (the developer console's
	// 开发管理 page), sent to code2Session. The secret is never logged.
	AppID, AppSecret string
	// Key signs the session tokens: HMACSecret, PrivateKey or
	// PrivateKeyPEM. Handler.AuthConfig verifies them.
	Key SigningKey
	// Issuer and Audience, when set, are the tokens' iss and aud; set the
	// same in the AuthConfig that verifies them (AuthConfig does).
	Issuer, Audience string
	// Lifetime is how long a token is valid. Default 2 hours; at most 30
	// days.
	Lifetime time.Duration
	// BaseURL is the API host, https only. Default DefaultBaseURL; tests
	// point it at a wxpaytest.LoginHost.
	BaseURL string
	// RootCAPEM adds PEM root certificates to the system's, trusted for
	// the API host's certificate (a test host's CA, a corporate gateway).
	RootCAPEM []byte
	// Timeout bounds one code2Session call. Default 5 seconds.
	Timeout time.Duration
	// RateLimit logins per RateWindow are allowed per client IP; more
	// are answered 429 with Retry-After. 0 means 30 a minute, negative
	// disables the limit. Many users may share one address (a carrier's
	// NAT): keep it generous.
	RateLimit  int
	RateWindow time.Duration
	// ClientIP names the client of a request for the rate limit. Default:
	// the host of r.RemoteAddr. Behind a reverse proxy, return the
	// address the proxy reports (and trust only your proxy's header).
	ClientIP func(r *http.Request) string
	// MaxBodyBytes bounds the request body; a larger one is answered 413.
	// Default 4 KiB.
	MaxBodyBytes int64
	// CodeTTL is how long a code is remembered as used. Default 10 minutes.
	CodeTTL time.Duration
	// Logger receives one record per login (status, code, errcode, openid
	// on success, client IP, elapsed) and an error naming the field to fix
	// when the platform refuses the configuration. Nil means
	// slog.Default(); pass slog.New(slog.DiscardHandler) for silence.
	// Codes, session keys, the secret and tokens are never logged.
	Logger *slog.Logger
	// Now is the clock of the tokens; default time.Now.
	Now func() time.Time
	// Transport makes the code2Session calls. Default: an http.Transport
	// trusting the system roots and RootCAPEM.
	Transport http.RoundTripper
}

// Handler is the login route: it exchanges a wx.login code for a session
// token. Create it with New; it is safe for concurrent use.
type Handler struct {
	appID, secret    string
	key              SigningKey
	issuer, audience string
	lifetime         time.Duration
	endpoint         string
	http             *http.Client
	rateLimit        int
	rateWindow       time.Duration
	clientIP         func(*http.Request) string
	maxBody          int64
	codeTTL          time.Duration
	log              *slog.Logger
	now              func() time.Time

	used  *gocache.Cache // sha256(code) of every code seen
	rates *gocache.Cache // client IP -> logins in the window
	rmu   sync.Mutex
}

// New checks cfg and returns the login handler.
func New(cfg Config) (*Handler, error) {
	var problems []string
	bad := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }
	if cfg.AppID == "" {
		bad("Config.AppID (the mini program's appid) is required")
	}
	if cfg.AppSecret == "" {
		bad("Config.AppSecret (the mini program's app secret) is required")
	}
	if cfg.Key.method == nil {
		bad("Config.Key is required: HMACSecret, PrivateKey or PrivateKeyPEM")
	}
	if cfg.Lifetime < 0 || cfg.Lifetime > 30*24*time.Hour {
		bad("Config.Lifetime %v is not between 0 and 30 days", cfg.Lifetime)
	}
	if cfg.Timeout < 0 || cfg.RateWindow < 0 || cfg.MaxBodyBytes < 0 || cfg.CodeTTL < 0 {
		bad("Config durations and sizes must not be negative")
	}
	base := strings.TrimSuffix(cfg.BaseURL, "/")
	if base == "" {
		base = DefaultBaseURL
	}
	if u, err := url.Parse(base); err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		bad("Config.BaseURL %q must be an https URL without a query", cfg.BaseURL)
	}
	rt := cfg.Transport
	if rt == nil {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if len(cfg.RootCAPEM) > 0 && !pool.AppendCertsFromPEM(cfg.RootCAPEM) {
			bad("Config.RootCAPEM holds no PEM certificate")
		}
		rt = &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
			TLSHandshakeTimeout: 5 * time.Second,
			MaxIdleConnsPerHost: 16,
			IdleConnTimeout:     90 * time.Second,
		}
	}
	if len(problems) > 0 {
		return nil, errors.New("wxlogin: " + strings.Join(problems, "; "))
	}
	h := &Handler{
		appID:      cfg.AppID,
		secret:     cfg.AppSecret,
		key:        cfg.Key,
		issuer:     cfg.Issuer,
		audience:   cfg.Audience,
		lifetime:   orDefault(cfg.Lifetime, DefaultLifetime),
		endpoint:   base + PathCode2Session,
		http:       &http.Client{Transport: rt, Timeout: orDefault(cfg.Timeout, DefaultTimeout)},
		rateLimit:  cfg.RateLimit,
		rateWindow: orDefault(cfg.RateWindow, DefaultRateWindow),
		clientIP:   cfg.ClientIP,
		maxBody:    int64(orDefault(time.Duration(cfg.MaxBodyBytes), DefaultMaxBodyBytes)),
		codeTTL:    orDefault(cfg.CodeTTL, DefaultCodeTTL),
		log:        cfg.Logger,
		now:        cfg.Now,
	}
	h.http.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if h.rateLimit == 0 {
		h.rateLimit = DefaultRateLimit
	}
	if h.clientIP == nil {
		h.clientIP = remoteHost
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	if h.now == nil {
		h.now = time.Now
	}
	h.used = gocache.New(h.codeTTL, time.Minute)
	h.rates = gocache.New(h.rateWindow, time.Minute)
	return h, nil
}

func orDefault(v, def time.Duration) time.Duration {
	if v == 0 {
		return def
	}
	return v
}

// AuthConfig is a jwtauth.Config that accepts the tokens of h: its key's
// VerifyKey, its Issuer and Audience. Add keys (a previous key while
// tokens it signed are still valid) before jwtauth.NewAuthenticator.
func (h *Handler) AuthConfig() (jwtauth.Config, error) {
	k, err := h.key.VerifyKey()
	if err != nil {
		return jwtauth.Config{}, err
	}
	return jwtauth.Config{Keys: []jwtauth.Key{k}, Issuer: h.issuer, Audience: h.audience}, nil
}

// Answer is the body of a successful login.
type Answer struct {
	// Token is the session token: a JWT whose sub is the user's openid,
	// with a unionid claim when the platform gave one. Send it as
	// "Authorization: Bearer <token>" to the claim route.
	Token string `json:"token"`
	// ExpiresIn is the token's lifetime in seconds, from now.
	ExpiresIn int64 `json:"expiresIn"`
	// ExpiresAt is when the token expires, in Unix seconds.
	ExpiresAt int64 `json:"expiresAt"`
}

// login is one request, for the log.
type login struct {
	start   time.Time
	ip      string
	openID  string
	errcode int
	hasCode bool
}

// ServeHTTP answers POST {"code": "<wx.login code>"} with an Answer, or an
// error {"code", "message"} in the client's language (see the package
// documentation for the table).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		methodNotAllowed(w, r)
		return
	}
	l := &login{start: time.Now(), ip: h.clientIP(r)}
	if e := h.rate(l.ip); e != nil {
		h.fail(w, r, l, e)
		return
	}
	code, e := h.readCode(w, r)
	if e != nil {
		h.fail(w, r, l, e)
		return
	}
	l.hasCode = true
	if !h.firstUse(code) {
		h.fail(w, r, l, answers["code_used"].with(errCodeReused))
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), h.http.Timeout)
	defer cancel()
	s, err := h.code2Session(ctx, code)
	if err != nil {
		var pe *PlatformError
		if errors.As(err, &pe) {
			l.errcode = pe.ErrCode
		}
		h.fail(w, r, l, classify(err))
		return
	}
	l.openID = s.OpenID
	token, exp, err := h.sign(s)
	if err != nil {
		h.fail(w, r, l, answers["internal_error"].with(err))
		return
	}
	body, _ := json.Marshal(Answer{Token: token, ExpiresIn: int64(h.lifetime / time.Second), ExpiresAt: exp.Unix()})
	hd := w.Header()
	hd.Set("Content-Type", "application/json; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(append(body, '\n'))
	h.log.LogAttrs(r.Context(), slog.LevelInfo, "wxlogin: login",
		slog.Int("status", http.StatusOK), slog.String("openid", s.OpenID), slog.Bool("unionid", s.UnionID != ""),
		slog.String("ip", l.ip), slog.Duration("elapsed", time.Since(l.start)))
}

// rate counts a login of ip and refuses it beyond the limit.
func (h *Handler) rate(ip string) *failure {
	if h.rateLimit < 0 {
		return nil
	}
	h.rmu.Lock()
	defer h.rmu.Unlock()
	n := 1
	if v, exp, ok := h.rates.GetWithExpiration(ip); ok {
		n = v.(int) + 1
		if n > h.rateLimit {
			f := answers["rate_limited"].with(errRateLimited)
			f.retryAfter = max(time.Until(exp), time.Second)
			return f
		}
		h.rates.Set(ip, n, time.Until(exp))
		return nil
	}
	h.rates.Set(ip, n, h.rateWindow)
	return nil
}

// firstUse records code as used and reports whether it was new.
func (h *Handler) firstUse(code string) bool {
	sum := sha256.Sum256([]byte(code))
	return h.used.Add(hex.EncodeToString(sum[:]), struct{}{}, h.codeTTL) == nil
}

// readCode reads the body's code.
func (h *Handler) readCode(w http.ResponseWriter, r *http.Request) (string, *failure) {
	if r.ContentLength > h.maxBody {
		return "", answers["body_too_large"].with(nil)
	}
	var body []byte
	if r.Body != nil {
		b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				return "", answers["body_too_large"].with(nil)
			}
			return "", answers["malformed_body"].with(err)
		}
		body = b
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return "", answers["missing_code"].with(nil)
	}
	var v struct {
		Code *string `json:"code"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return "", answers["malformed_body"].with(err)
	}
	if v.Code == nil || *v.Code == "" {
		return "", answers["missing_code"].with(nil)
	}
	code := *v.Code
	if len(code) > maxCodeLength || strings.IndexFunc(code, func(c rune) bool { return c <= ' ' || c >= 0x7f }) >= 0 {
		return "", answers["invalid_code"].with(errCodeShape)
	}
	return code, nil
}

// sign mints the session token of s.
func (h *Handler) sign(s session) (string, time.Time, error) {
	now := h.now()
	exp := now.Add(h.lifetime)
	claims := jwt.MapClaims{"sub": s.OpenID, "iat": now.Unix(), "exp": exp.Unix()}
	if s.UnionID != "" {
		claims["unionid"] = s.UnionID
	}
	if h.issuer != "" {
		claims["iss"] = h.issuer
	}
	if h.audience != "" {
		claims["aud"] = h.audience
	}
	t := jwt.NewWithClaims(h.key.method, claims)
	if h.key.kid != "" {
		t.Header["kid"] = h.key.kid
	}
	token, err := t.SignedString(h.key.key)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("wxlogin: signing the token: %w", err)
	}
	return token, exp, nil
}

// fail answers f and logs it.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, l *login, f *failure) {
	if f.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.FormatInt(int64((f.retryAfter+time.Second-1)/time.Second), 10))
	}
	writeAnswer(w, r, f)
	level := slog.LevelInfo
	switch {
	case f.code == "login_misconfigured":
		level = slog.LevelError
	case f.status >= 500:
		level = slog.LevelWarn
	}
	attrs := []slog.Attr{slog.Int("status", f.status), slog.String("code", f.code), slog.String("ip", l.ip)}
	if l.errcode != 0 {
		attrs = append(attrs, slog.Int("errcode", l.errcode))
	}
	if f.hint != "" {
		attrs = append(attrs, slog.String("fix", f.hint))
	}
	if f.err != nil {
		attrs = append(attrs, slog.String("error", f.err.Error()))
	}
	attrs = append(attrs, slog.Duration("elapsed", time.Since(l.start)))
	h.log.LogAttrs(r.Context(), level, "wxlogin: login refused", attrs...)
}

// remoteHost is the host of r.RemoteAddr.
func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// Mount registers h on mux at path (a ServeMux pattern without a method):
// POST logs in, any other method is answered 405 "method_not_allowed" with
// "Allow: POST", and the paths under path 404 "not_found", the JSON error
// bodies of the claim route (claim.Mount).
//
//	mux := http.NewServeMux()
//	wxlogin.Mount(mux, "/hongbao/login", login)
func Mount(mux *http.ServeMux, path string, h http.Handler) {
	if strings.ContainsAny(path, " \t") {
		panic(fmt.Sprintf("wxlogin: Mount(%q): the pattern must not name a method; Mount answers every method", path))
	}
	mux.Handle(path, h)
	if !strings.HasSuffix(path, "/") && !strings.HasSuffix(path, "{$}") {
		mux.Handle(path+"/", http.HandlerFunc(notFound))
	}
}

// methodNotAllowed and notFound answer as claim.MethodNotAllowed and
// claim.NotFound do, without this package importing the claim handler.
func methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Allow", http.MethodPost)
	httperr.WriteLocalized(w, r, http.StatusMethodNotAllowed, "method_not_allowed", "")
}

func notFound(w http.ResponseWriter, r *http.Request) {
	httperr.WriteLocalized(w, r, http.StatusNotFound, "not_found", "")
}
