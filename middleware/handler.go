package middleware

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hongbao-go/hongbao"
)

// Defaults of HandlerConfig.
const (
	DefaultMaxBodyBytes = 64 << 10
	DefaultRateLimit    = 10
	DefaultRateWindow   = time.Minute
	DefaultClaimWindow  = 24 * time.Hour
	DefaultResultTTL    = 30 * 24 * time.Hour
	DefaultLockTTL      = 2 * time.Minute
	DefaultWaitTimeout  = 20 * time.Second
	// DefaultStoreRetryAfter is the default of HandlerConfig.StoreRetryAfter.
	DefaultStoreRetryAfter = 5 * time.Second
)

// Retry-After hints of the 503 answers.
const (
	retryAfterUnknown    = 5 * time.Second
	retryAfterUpstream   = 2 * time.Second
	retryAfterInProgress = 2 * time.Second
)

// saveTimeout bounds SaveResult after a send, which must not be lost to a
// request that has ended.
const saveTimeout = 10 * time.Second

// Polling of the Store while another replica sends the same bill number.
const (
	firstPoll = 25 * time.Millisecond
	maxPoll   = 500 * time.Millisecond
)

// Grant is the red packet a Policy grants to a user: everything of the send
// except the openid, which is always the verified user's.
type Grant struct {
	// Key is what makes two taps the same red packet, for example the
	// campaign id ("spring-2026"), or campaign and day for a daily packet.
	// The bill number is derived from Key and the openid, so a user gets
	// at most one red packet per Key, whatever happens. Required.
	Key string
	// Amount in fen (1/100 yuan).
	Amount int64
	// SendName, Wishing, ActName and Remark are the texts of the packet;
	// see hongbao.SendRequest for their limits.
	SendName, Wishing, ActName, Remark string
	// Scene is scene_id, required when Amount < 100 or Amount > 20000.
	Scene hongbao.Scene
}

// Policy decides, on the server, whether and what the user gets. body is
// the request body (nil when empty; otherwise a JSON value of at most
// HandlerConfig.MaxBodyBytes): whatever it says is the client's claim, to
// be trusted only as far as the policy checks it. The handler never reads
// an amount or an openid from it.
//
// A policy refuses with a *Refusal, or any error wrapping ErrRefused
// (answered 403); any other error is answered 500 "policy_error" and
// logged. Grant is called once per tap, including repeat taps, before any
// stored result is looked up.
type Policy interface {
	Grant(ctx context.Context, user User, body []byte) (Grant, error)
}

// PolicyFunc adapts a function to Policy.
type PolicyFunc func(ctx context.Context, user User, body []byte) (Grant, error)

// Grant calls f.
func (f PolicyFunc) Grant(ctx context.Context, user User, body []byte) (Grant, error) {
	return f(ctx, user, body)
}

// ErrRefused is matched by every refusal of a Policy.
var ErrRefused = errors.New("middleware: red packet refused")

// Refusal is a Policy's refusal, answered 403 with its Code and Message,
// which are sent to the client as they are: Code should be a short
// snake_case string ("campaign_over"), Message a fixed text without
// secrets. Empty fields mean "refused" and a generic message.
type Refusal struct {
	Code    string
	Message string
}

func (r *Refusal) Error() string { return "middleware: red packet refused: " + r.code() }

// Is makes errors.Is(r, ErrRefused) true.
func (r *Refusal) Is(target error) bool { return target == ErrRefused }

func (r *Refusal) code() string {
	if r == nil || r.Code == "" {
		return "refused"
	}
	return r.Code
}

func (r *Refusal) message() string {
	if r == nil || r.Message == "" {
		return "the red packet is not available"
	}
	return r.Message
}

// HandlerError is how the handler answers a failed tap; ErrorHandler
// receives one. Status, Code and Message are what the client gets (Message
// is a fixed text, never the platform's words or a secret); Err is the
// cause, for logs and errors.Is (hongbao.ErrNotEnough, ErrRefused, ...).
type HandlerError struct {
	Status     int
	Code       string
	Message    string
	RetryAfter time.Duration // > 0: sent as Retry-After, in whole seconds rounded up
	Billno     string        // "" when not derived yet
	Err        error
}

func (e *HandlerError) Error() string {
	if e.Err != nil {
		return "middleware: " + e.Code + ": " + e.Err.Error()
	}
	return "middleware: " + e.Code
}

func (e *HandlerError) Unwrap() error { return e.Err }

// StatusOf maps an error of a tap to the HTTP status and code the handler
// answers; adapters and custom error handlers use it to stay consistent:
//
//	*HandlerError                      its Status and Code
//	*Refusal / ErrRefused              403, the refusal's code ("refused")
//	hongbao.ErrInvalidRequest          422 invalid_grant
//	outcome unknown (SYSTEMERROR or PROCESSING after retries, timeouts,
//	  unreadable replies)              503 outcome_unknown
//	FREQ_LIMIT after retries           503 rate_limited_upstream
//	NO_AUTH                            403 risk_control
//	SENDNUM_LIMIT, RCVDAMOUNT_LIMIT    403 user_limit_reached
//	FATAL_ERROR                        409 grant_conflict
//	NOTENOUGH, SENDAMOUNT_LIMIT, API_METHOD_CLOSED,
//	  PRODUCT_AUTHORITY_UNOPEN         503 merchant_unavailable
//	SEND_FAILED, PROCESSING then
//	  FAILED                           502 send_failed
//	CA_ERROR, SIGN_ERROR, XML_ERROR, PARAM_ERROR, MONEY_LIMIT,
//	  ILLEGAL_APPID, OPENID_ERROR, MSGAPPID_ERROR, ACCEPTMODE_ERROR,
//	  return_code FAIL                 502 platform_rejected
//	any other *hongbao.Error           502 platform_error
//	anything else                      500 internal_error
//
// A nil error gives 200 and "".
func StatusOf(err error) (status int, code string) {
	if err == nil {
		return http.StatusOK, ""
	}
	e := classify(err)
	return e.Status, e.Code
}

// DefaultSendErrorHandler is the handler's ErrorHandler when
// HandlerConfig.ErrorHandler is nil; custom handlers may call it after
// logging. It writes the JSON body {"code", "message"} with WriteError,
// the status of StatusOf and, for the answers that carry one, Retry-After.
// The message is in the language the request prefers (see Localize),
// except a Policy's own Refusal message, which is sent as it is.
func DefaultSendErrorHandler(w http.ResponseWriter, r *http.Request, err error) {
	e := classify(err)
	if e.RetryAfter > 0 && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", retryAfterSeconds(e.RetryAfter))
	}
	msg, lang := handlerMessage(r, e)
	writeIn(w, e.Status, e.Code, msg, lang)
}

func retryAfterSeconds(d time.Duration) string {
	s := (d + time.Second - 1) / time.Second
	return strconv.FormatInt(int64(max(s, 1)), 10)
}

func newError(status int, code, message string, err error) *HandlerError {
	return &HandlerError{Status: status, Code: code, Message: message, Err: err}
}

var (
	errInProgress = errors.New("middleware: another replica is sending this red packet")
	errNoUser     = errors.New("middleware: no authenticated user in the request context")
)

// classify returns the answer to err.
func classify(err error) *HandlerError {
	var he *HandlerError
	if errors.As(err, &he) {
		return he
	}
	var ref *Refusal
	if errors.As(err, &ref) {
		return newError(http.StatusForbidden, ref.code(), ref.message(), err)
	}
	if errors.Is(err, ErrRefused) {
		return newError(http.StatusForbidden, "refused", (*Refusal)(nil).message(), err)
	}
	var ve *hongbao.ValidationError
	if errors.As(err, &ve) {
		return newError(http.StatusUnprocessableEntity, "invalid_grant", "the red packet grant is invalid: "+ve.Field, err)
	}
	if errors.Is(err, hongbao.ErrInvalidRequest) {
		return newError(http.StatusUnprocessableEntity, "invalid_grant", "the red packet grant is invalid", err)
	}
	var pe *hongbao.Error
	if errors.As(err, &pe) {
		return classifyPlatform(pe, err)
	}
	return newError(http.StatusInternalServerError, "internal_error", "internal error", err)
}

func classifyPlatform(pe *hongbao.Error, err error) *HandlerError {
	is := func(targets ...error) bool {
		for _, t := range targets {
			if errors.Is(pe, t) {
				return true
			}
		}
		return false
	}
	var e *HandlerError
	switch {
	case pe.Unknown:
		e = newError(http.StatusServiceUnavailable, "outcome_unknown", "the red packet is not confirmed yet; retry shortly", err)
		e.RetryAfter = retryAfterUnknown
	case is(hongbao.ErrFrequency):
		e = newError(http.StatusServiceUnavailable, "rate_limited_upstream", "the payment platform is busy; retry shortly", err)
		e.RetryAfter = retryAfterUpstream
	case is(hongbao.ErrNoAuth):
		e = newError(http.StatusForbidden, "risk_control", "the payment platform does not allow this user a red packet", err)
	case is(hongbao.ErrSendNumLimit, hongbao.ErrReceivedAmountLimit):
		e = newError(http.StatusForbidden, "user_limit_reached", "the daily red packet limit of this user is reached", err)
	case is(hongbao.ErrFatal):
		e = newError(http.StatusConflict, "grant_conflict", "this red packet was already granted on other terms", err)
	case is(hongbao.ErrNotEnough, hongbao.ErrSendAmountLimit, hongbao.ErrAPIMethodClosed, hongbao.ErrProductAuthorityUnopen):
		e = newError(http.StatusServiceUnavailable, "merchant_unavailable", "red packets are not available at the moment", err)
	case is(hongbao.ErrSendFailed):
		e = newError(http.StatusBadGateway, "send_failed", "the red packet could not be sent", err)
	case is(hongbao.ErrCA, hongbao.ErrSign, hongbao.ErrXML, hongbao.ErrParam, hongbao.ErrMoneyLimit,
		hongbao.ErrIllegalAppID, hongbao.ErrOpenID, hongbao.ErrMsgAppID, hongbao.ErrAcceptMode, hongbao.ErrReturnFail):
		e = newError(http.StatusBadGateway, "platform_rejected", "the payment platform rejected the request", err)
	default:
		e = newError(http.StatusBadGateway, "platform_error", "the payment platform returned an error", err)
	}
	e.Billno = pe.Billno
	return e
}

// HandlerConfig configures NewHandler. Client and Policy are required; every
// other field documents its default.
type HandlerConfig struct {
	// Client pays the red packets.
	Client *hongbao.Client
	// Policy decides what each user gets.
	Policy Policy
	// Store is shared state: results, send locks, rate-limit counters.
	// Default NewMemoryStore(), which is right for one replica; with
	// several, use a shared Store.
	Store Store
	// MaxBodyBytes bounds the request body; a larger one is answered 413.
	// Default 64 KiB; negative is an error.
	MaxBodyBytes int64
	// RateLimit taps per RateWindow are allowed per openid, repeat taps
	// included; more are answered 429 with Retry-After. RateLimit 0 means
	// 10, negative disables the limit; RateWindow 0 means one minute.
	RateLimit  int
	RateWindow time.Duration
	// ClaimWindow is how long a paid red packet can be opened; a tap on a
	// result older than this is answered 410 "claim_window_expired".
	// Default 24 hours, the platform's.
	ClaimWindow time.Duration
	// ResultTTL is how long results are remembered. Default 30 days, the
	// platform's record window; it must not be shorter than ClaimWindow.
	// See MemoryStore for the memory it takes.
	ResultTTL time.Duration
	// LockTTL bounds one send: the cross-replica lock on a bill number
	// expires after it, and the send is abandoned (outcome unknown, to be
	// resumed by the next tap) when it takes longer. Keep it above the
	// client's worst-case retry time (attempts x attempt timeout plus
	// back-off, plus the PROCESSING delay and query). Default 2 minutes.
	LockTTL time.Duration
	// WaitTimeout is how long a tap waits for another replica's send of
	// the same bill number before answering 503 "in_progress".
	// Default 20 seconds.
	WaitTimeout time.Duration
	// StoreRetryAfter is how long the handler keeps to this process after
	// a Store failure before it tries the Store again, so that taps during
	// an outage do not each wait for failing round trips. Default 5
	// seconds.
	StoreRetryAfter time.Duration
	// Logger receives one record per tap (openid, billno, status, code,
	// err_code, source, elapsed) and a warning per Store failure. Nil
	// means silent. Keys and tokens are never logged.
	Logger *slog.Logger
	// ErrorHandler answers failed taps; err is always a *HandlerError
	// (errors.As / errors.Is reach its cause). Allow, WWW-Authenticate and
	// Retry-After headers are set before it is called. Default
	// DefaultSendErrorHandler.
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)
	// Now is the clock of PaidAt and the claim window; default time.Now.
	Now func() time.Time
}

// Handler is the red-packet claim handler: see the package documentation.
// Create it with NewHandler; it is safe for concurrent use.
type Handler struct {
	client      *hongbao.Client
	policy      Policy
	store       Store
	local       *MemoryStore // used when store fails
	maxBody     int64
	rateLimit   int
	rateWindow  time.Duration
	claimWindow time.Duration
	resultTTL   time.Duration
	lockTTL     time.Duration
	waitTimeout time.Duration
	storeRetry  time.Duration
	saveTimeout time.Duration
	downUntil   atomic.Int64 // unix nanoseconds: until then, the Store is not used
	log         *slog.Logger
	onError     func(http.ResponseWriter, *http.Request, error)
	now         func() time.Time
	flights     flightGroup
}

// NewHandler checks cfg and returns the red-packet handler. Mount it behind
// an Authenticator's Middleware: it answers 401 to requests without a
// verified User in the context.
func NewHandler(cfg HandlerConfig) (*Handler, error) {
	if cfg.Client == nil {
		return nil, errors.New("middleware: HandlerConfig.Client is required")
	}
	if cfg.Policy == nil {
		return nil, errors.New("middleware: HandlerConfig.Policy is required")
	}
	if f, ok := cfg.Policy.(PolicyFunc); ok && f == nil {
		return nil, errors.New("middleware: HandlerConfig.Policy is a nil PolicyFunc")
	}
	if cfg.MaxBodyBytes < 0 || cfg.RateWindow < 0 || cfg.ClaimWindow < 0 || cfg.ResultTTL < 0 ||
		cfg.LockTTL < 0 || cfg.WaitTimeout < 0 || cfg.StoreRetryAfter < 0 {
		return nil, errors.New("middleware: HandlerConfig sizes and durations must not be negative")
	}
	h := &Handler{
		client:      cfg.Client,
		policy:      cfg.Policy,
		store:       cfg.Store,
		local:       NewMemoryStore(),
		maxBody:     orDefault(cfg.MaxBodyBytes, DefaultMaxBodyBytes),
		rateLimit:   cfg.RateLimit,
		rateWindow:  orDefault(cfg.RateWindow, DefaultRateWindow),
		claimWindow: orDefault(cfg.ClaimWindow, DefaultClaimWindow),
		resultTTL:   orDefault(cfg.ResultTTL, DefaultResultTTL),
		lockTTL:     orDefault(cfg.LockTTL, DefaultLockTTL),
		waitTimeout: orDefault(cfg.WaitTimeout, DefaultWaitTimeout),
		storeRetry:  orDefault(cfg.StoreRetryAfter, DefaultStoreRetryAfter),
		saveTimeout: saveTimeout,
		log:         cfg.Logger,
		onError:     cfg.ErrorHandler,
		now:         cfg.Now,
	}
	if h.resultTTL < h.claimWindow {
		return nil, fmt.Errorf("middleware: HandlerConfig.ResultTTL (%v) is shorter than ClaimWindow (%v)", h.resultTTL, h.claimWindow)
	}
	if h.rateLimit == 0 {
		h.rateLimit = DefaultRateLimit
	}
	if h.store == nil {
		h.store = h.local
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.onError == nil {
		h.onError = DefaultSendErrorHandler
	}
	if h.now == nil {
		h.now = time.Now
	}
	return h, nil
}

// orDefault returns v, or def when v is zero.
func orDefault[T int64 | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// tap is the record of one request, for the log.
type tap struct {
	start  time.Time
	openID string
	billno string
	source string // "platform", "shared" or "store"
}

// ServeHTTP answers one tap. See the package documentation for the flow.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t := &tap{start: time.Now()}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.fail(w, r, t, newError(http.StatusMethodNotAllowed, "method_not_allowed", "only POST is allowed", nil))
		return
	}
	ctx := r.Context()
	user, ok := UserFrom(ctx)
	if !ok || user.OpenID == "" {
		w.Header().Set("WWW-Authenticate", "Bearer")
		h.fail(w, r, t, newError(http.StatusUnauthorized, "unauthenticated", "authentication is required", errNoUser))
		return
	}
	t.openID = user.OpenID

	if h.rateLimit > 0 {
		if ok, wait := h.allow(ctx, user.OpenID); !ok {
			e := newError(http.StatusTooManyRequests, "rate_limited", "too many requests; retry later", nil)
			e.RetryAfter = max(wait, time.Nanosecond)
			h.fail(w, r, t, e)
			return
		}
	}

	body, herr := h.readBody(w, r)
	if herr != nil {
		h.fail(w, r, t, herr)
		return
	}

	grant, err := h.policy.Grant(ctx, user, body)
	if err != nil {
		if !errors.Is(err, ErrRefused) {
			err = newError(http.StatusInternalServerError, "policy_error", "the red packet could not be granted", err)
		}
		h.fail(w, r, t, err)
		return
	}
	if grant.Key == "" {
		h.fail(w, r, t, newError(http.StatusUnprocessableEntity, "invalid_grant", "the red packet grant is invalid: key",
			errors.New("middleware: the policy granted an empty Key")))
		return
	}
	billno, err := h.client.Billno(grant.Key, user.OpenID)
	if err != nil {
		h.fail(w, r, t, err)
		return
	}
	t.billno = billno
	req := &hongbao.SendRequest{
		Billno:   billno,
		OpenID:   user.OpenID,
		Amount:   grant.Amount,
		SendName: grant.SendName,
		Wishing:  grant.Wishing,
		ActName:  grant.ActName,
		Remark:   grant.Remark,
		Scene:    grant.Scene,
	}
	if err := req.Validate(); err != nil {
		h.fail(w, r, t, err)
		return
	}

	res, err := h.obtain(ctx, t, req)
	if err != nil {
		h.fail(w, r, t, err)
		return
	}
	if age := h.now().Sub(res.PaidAt); age >= h.claimWindow {
		h.fail(w, r, t, newError(http.StatusGone, "claim_window_expired", "the red packet can no longer be opened",
			fmt.Errorf("middleware: paid %v ago", age.Round(time.Second))))
		return
	}
	if res.Amount != req.Amount || res.OpenID != req.OpenID {
		h.fail(w, r, t, newError(http.StatusConflict, "grant_conflict", "this red packet was already granted on other terms",
			fmt.Errorf("middleware: the stored result is for %d fen, the grant for %d fen (same key)", res.Amount, req.Amount)))
		return
	}
	params, err := h.client.BizRedPacketParams(&hongbao.SendResult{
		Billno:     res.Billno,
		OpenID:     res.OpenID,
		Amount:     res.Amount,
		SendListID: res.SendListID,
		Package:    res.Package,
	})
	if err != nil {
		h.fail(w, r, t, err)
		return
	}
	out, err := json.Marshal(params)
	if err != nil {
		h.fail(w, r, t, err)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/json; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
	h.logTap(ctx, t, http.StatusOK, "", nil)
}

// fail answers err through the ErrorHandler and logs the outcome.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, t *tap, err error) {
	e := *classify(err) // a copy: err may be shared
	if e.Billno == "" {
		e.Billno = t.billno
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", retryAfterSeconds(e.RetryAfter))
	}
	h.logTap(r.Context(), t, e.Status, e.Code, &e)
	h.onError(w, r, &e)
}

func (h *Handler) logTap(ctx context.Context, t *tap, status int, code string, err *HandlerError) {
	level := slog.LevelInfo
	switch {
	case status >= 500 && (code == "internal_error" || code == "policy_error"):
		level = slog.LevelError
	case status >= 400:
		level = slog.LevelWarn
	}
	if !h.log.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, 9)
	attrs = append(attrs,
		slog.String("openid", t.openID),
		slog.String("billno", t.billno),
		slog.Int("status", status))
	if code != "" {
		attrs = append(attrs, slog.String("code", code))
	}
	var pe *hongbao.Error
	if err != nil && errors.As(err, &pe) && pe.ErrCode != "" {
		attrs = append(attrs, slog.String("err_code", pe.ErrCode))
	}
	if t.source != "" {
		attrs = append(attrs, slog.String("source", t.source))
	}
	if err != nil && err.Err != nil {
		attrs = append(attrs, slog.String("error", err.Err.Error()))
	}
	attrs = append(attrs, slog.Duration("elapsed", time.Since(t.start)))
	h.log.LogAttrs(ctx, level, "hongbao: tap", attrs...)
}

// allow applies the per-openid rate limit, on the local store when the
// shared one fails.
func (h *Handler) allow(ctx context.Context, openID string) (bool, time.Duration) {
	ok, wait, err := h.shared().Allow(ctx, openID, h.rateLimit, h.rateWindow)
	if err != nil {
		h.storeFailed(ctx, "Allow", "", err)
		ok, wait, _ = h.local.Allow(ctx, openID, h.rateLimit, h.rateWindow)
	}
	return ok, wait
}

// readBody reads the capped body; a non-empty body must be one JSON value.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, *HandlerError) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	if r.ContentLength > h.maxBody {
		return nil, newError(http.StatusRequestEntityTooLarge, "body_too_large", "the request body is too large", nil)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, newError(http.StatusRequestEntityTooLarge, "body_too_large", "the request body is too large", nil)
		}
		return nil, newError(http.StatusBadRequest, "malformed_body", "the request body could not be read", err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, nil
	}
	if !json.Valid(body) {
		return nil, newError(http.StatusBadRequest, "malformed_body", "the request body is not valid JSON", nil)
	}
	return body, nil
}

// obtain returns the result of req's bill number: stored, or from the one
// send in flight in this process (started when there is none).
func (h *Handler) obtain(ctx context.Context, t *tap, req *hongbao.SendRequest) (Result, error) {
	if r, ok := h.lookup(ctx, req.Billno); ok {
		t.source = "store"
		return r, nil
	}
	// The send is detached from this request: a user closing the mini
	// program must not abort a payout half-way, and other taps may be
	// waiting for it.
	base := context.WithoutCancel(ctx)
	f, shared := h.flights.start(req.Billno, func() (Result, string, error) {
		return h.send(base, req)
	})
	select {
	case <-f.done:
	case <-ctx.Done():
		e := newError(http.StatusServiceUnavailable, "in_progress", "the red packet is being sent; retry shortly", ctx.Err())
		e.RetryAfter = retryAfterInProgress
		return Result{}, e
	}
	t.source = f.source
	if shared && f.source == "platform" {
		t.source = "shared"
	}
	return f.res, f.err
}

// send runs once per bill number at a time in this process: it takes the
// cross-replica lock (or waits for its holder's result), checks the Store
// again and pays.
func (h *Handler) send(base context.Context, req *hongbao.SendRequest) (Result, string, error) {
	billno := req.Billno
	// Store calls of the flight end with it, even when a Store hangs.
	ctx, cancel := context.WithTimeout(base, h.waitTimeout+h.lockTTL)
	defer cancel()
	// The send must end before the lock can expire: its deadline counts
	// from the moment the lock was asked for.
	lockedAt := time.Now()
	release, ok, err := h.shared().TryLock(ctx, billno, h.lockTTL)
	switch {
	case err != nil:
		h.storeFailed(ctx, "TryLock", billno, err)
		release = nil
	case !ok:
		r, found, rel, at, err := h.waitOther(ctx, billno)
		if err != nil {
			return Result{}, "", err
		}
		if found {
			return r, "store", nil
		}
		release, lockedAt = rel, at
	}
	if release != nil {
		defer release()
	}
	// Another replica may have paid between the first lookup and the lock.
	if r, ok := h.lookup(ctx, billno); ok {
		return r, "store", nil
	}
	sctx, scancel := context.WithDeadline(base, lockedAt.Add(h.lockTTL))
	defer scancel()
	res, err := h.client.SendMiniProgramHB(sctx, req)
	if err != nil {
		return Result{}, "", err
	}
	r := Result{
		Billno:     billno,
		OpenID:     req.OpenID,
		Package:    res.Package,
		SendListID: res.SendListID,
		Amount:     req.Amount,
		PaidAt:     h.now(),
	}
	h.save(base, billno, r)
	return r, "platform", nil
}

// waitOther polls the Store while another holder has the lock on billno,
// until its result appears (found), the lock is free and taken (release,
// asked for at lockedAt), the Store fails (neither, lockedAt now: send
// without the lock) or WaitTimeout passes (err).
func (h *Handler) waitOther(ctx context.Context, billno string) (r Result, found bool, release func(), lockedAt time.Time, err error) {
	deadline := time.NewTimer(h.waitTimeout)
	defer deadline.Stop()
	delay := firstPoll
	for {
		poll := time.NewTimer(delay)
		select {
		case <-deadline.C:
			poll.Stop()
			e := newError(http.StatusServiceUnavailable, "in_progress", "the red packet is being sent; retry shortly", errInProgress)
			e.RetryAfter = retryAfterInProgress
			return Result{}, false, nil, time.Time{}, e
		case <-poll.C:
		}
		r, ok, err := h.shared().Result(ctx, billno)
		if err != nil {
			h.storeFailed(ctx, "Result", billno, err)
			return Result{}, false, nil, time.Now(), nil
		}
		if ok {
			return r, true, nil, time.Time{}, nil
		}
		at := time.Now()
		rel, got, err := h.shared().TryLock(ctx, billno, h.lockTTL)
		if err != nil {
			h.storeFailed(ctx, "TryLock", billno, err)
			return Result{}, false, nil, time.Now(), nil
		}
		if got {
			return Result{}, false, rel, at, nil
		}
		delay = min(2*delay, maxPoll)
	}
}

// lookup finds a stored result, in the local store too (where results go
// when the shared Store fails).
func (h *Handler) lookup(ctx context.Context, billno string) (Result, bool) {
	st := h.shared()
	r, ok, err := st.Result(ctx, billno)
	if err != nil {
		h.storeFailed(ctx, "Result", billno, err)
	} else if ok {
		return r, true
	}
	if st == Store(h.local) {
		return Result{}, false
	}
	r, ok, _ = h.local.Result(ctx, billno)
	return r, ok
}

// save stores r, locally when the shared Store fails. base is never
// canceled: a SaveResult that runs out of saveTimeout is the Store's
// failure, and the local copy must not inherit the expired deadline.
func (h *Handler) save(base context.Context, billno string, r Result) {
	ctx, cancel := context.WithTimeout(base, h.saveTimeout)
	defer cancel()
	if err := h.shared().SaveResult(ctx, billno, r, h.resultTTL); err != nil {
		h.storeFailed(base, "SaveResult", billno, err)
		_ = h.local.SaveResult(base, billno, r, h.resultTTL)
	}
}

// shared returns the Store to use now: the configured one, or the local one
// for StoreRetryAfter after the configured one failed.
func (h *Handler) shared() Store {
	if until := h.downUntil.Load(); until != 0 && time.Now().UnixNano() < until {
		return h.local
	}
	return h.store
}

// storeFailed logs a Store failure and keeps the handler to this process
// for StoreRetryAfter.
func (h *Handler) storeFailed(ctx context.Context, op, billno string, err error) {
	if ctx.Err() != nil {
		return // the request ended: not the Store's fault
	}
	h.downUntil.Store(time.Now().Add(h.storeRetry).UnixNano())
	h.log.LogAttrs(ctx, slog.LevelWarn, "hongbao: store unavailable, degrading to this process",
		slog.String("op", op), slog.String("billno", billno), slog.String("error", err.Error()))
}

// flightGroup runs at most one function per key at a time; callers that
// arrive while it runs share its outcome.
type flightGroup struct {
	mu sync.Mutex
	m  map[string]*flight
}

type flight struct {
	done   chan struct{} // closed when the fields below are set
	res    Result
	source string
	err    error
}

// start returns the flight of key, starting fn in its own goroutine when
// none is running; shared reports whether the flight was already running.
func (g *flightGroup) start(key string, fn func() (Result, string, error)) (f *flight, shared bool) {
	g.mu.Lock()
	if f, ok := g.m[key]; ok {
		g.mu.Unlock()
		return f, true
	}
	if g.m == nil {
		g.m = make(map[string]*flight)
	}
	f = &flight{done: make(chan struct{})}
	g.m[key] = f
	g.mu.Unlock()
	go func() {
		defer func() {
			if p := recover(); p != nil {
				f.err = fmt.Errorf("middleware: panic while sending: %v", p)
			}
			g.mu.Lock()
			delete(g.m, key)
			g.mu.Unlock()
			close(f.done)
		}()
		f.res, f.source, f.err = fn()
	}()
	return f, false
}

// Shutdown waits until the sends in flight have ended and their results are
// saved, or until ctx ends (then it returns ctx's error). Sends run detached
// from their requests, so http.Server.Shutdown does not wait for a send
// whose user went away; call Shutdown after it, before the process exits or
// the Store is closed. A send cut short is not lost either way: the next
// tap resends the same bill number.
func (h *Handler) Shutdown(ctx context.Context) error {
	for {
		f := h.flights.any()
		if f == nil {
			return nil
		}
		select {
		case <-f.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// any returns one flight in progress, or nil when there is none.
func (g *flightGroup) any() *flight {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, f := range g.m {
		return f
	}
	return nil
}
