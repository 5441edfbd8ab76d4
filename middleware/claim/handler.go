package claim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hongbao-go/hongbao"
	"github.com/hongbao-go/hongbao/middleware/jwtauth"
	"github.com/hongbao-go/hongbao/rail"
	"github.com/hongbao-go/hongbao/store"
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
	// DefaultMaxAttempts is the default of HandlerConfig.MaxAttempts.
	DefaultMaxAttempts = 3
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

// HandlerConfig configures NewHandler. Policy and a rail (Rail, or Client
// for the red packet) are required; every other field documents its
// default.
type HandlerConfig struct {
	// Rail pays the grants: the red packet (hongbao.Client.Rail) or
	// another rail.Rail, such as the merchant transfer
	// (transfer.Client.Rail, with NotificationHandler at its NotifyURL).
	Rail rail.Rail
	// Client is the red-packet rail's shorthand: Client: c means
	// Rail: c.Rail(). Set Rail or Client, not both.
	Client *hongbao.Client
	// Policy decides what each user gets.
	Policy Policy
	// Store is shared state: results, send locks, rate-limit counters.
	// Default NewMemoryStore(), which is right for one replica; with
	// several, use a shared Store.
	Store store.Store
	// MaxBodyBytes bounds the request body; a larger one is answered 413.
	// Default 64 KiB; negative is an error.
	MaxBodyBytes int64
	// RateLimit taps per RateWindow are allowed per openid, repeat taps
	// included; more are answered 429 with Retry-After. RateLimit 0 means
	// 10, negative disables the limit; RateWindow 0 means one minute.
	RateLimit  int
	RateWindow time.Duration
	// ClaimWindow is how long a paid red packet can be opened; a tap on a
	// result older than this is answered 410 "claim_window_expired". On a
	// rail whose offers wait for the user's confirmation (the transfer),
	// the platform closes an offer itself, so past ClaimWindow taps ask it
	// (at most every 30 seconds a number): an offer still waiting is
	// answered again, a paid one already_received, a closed one 410.
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
	// Scenes are the launch scenes of the mini program (the "scene" of the
	// claim body, from wx.getLaunchOptionsSync or wx.getEnterOptionsSync)
	// from which a red packet can be opened; a claim naming another scene
	// is answered 403 "scene_not_supported" before anything is paid.
	// Default DefaultScenes on the red-packet rail; on a rail whose page
	// opens payouts from any scene (the transfer's, see rail.SceneLimited)
	// no gate unless Scenes is set. The scene is the client's word: it
	// protects users from packets they could not open, never the money.
	Scenes []int
	// SceneOptional accepts claims whose body names no scene. By default
	// such a claim is answered 400 "scene_required" before anything is
	// paid: a page that forgets the scene would pay packets that cannot
	// be opened.
	SceneOptional bool
	// Deprecated: the scene is required unless SceneOptional is set.
	RequireScene bool
	// Budgets caps what campaigns may pay, by campaign name (a grant's
	// Campaign, or its Key): see Budget. The accounts live in the Store,
	// shared by every replica; a campaign without an entry has no cap.
	Budgets map[string]store.Budget
	// MerchantProbe is how long sends wait after the merchant could not
	// pay (rail.RefusedMerchant: NOTENOUGH and the like) before one tap
	// probes again, across replicas through the Store; each refused probe
	// doubles it, up to 4 times MerchantProbe (see merchant.go). Default
	// 30 seconds.
	MerchantProbe time.Duration
	// MaxAttempts bounds the bill numbers one grant may spend on numbers
	// the platform closed for other reasons than the merchant's or the
	// user's refusals (rail.Closed after SEND_FAILED, say; rail.Returned
	// or rail.Cancelled with Grant.Reclaim). The handler moves to the next
	// number only when the platform reports the current one closed; past
	// the bound no new number is sent (410 "attempts_exhausted"), but a
	// later number already sent is still followed. Default 3; negative is
	// an error.
	MaxAttempts int
	// StoreRetryAfter is how long the handler keeps to this process after
	// a Store failure before it tries the Store again, so that taps during
	// an outage do not each wait for failing round trips. Default 5
	// seconds.
	StoreRetryAfter time.Duration
	// Logger receives one record per tap (openid, billno, status, code,
	// err_code, source, elapsed) and a warning per Store failure. Nil
	// means slog.Default(); pass slog.New(slog.DiscardHandler) for
	// silence. Keys and tokens are never logged.
	Logger *slog.Logger
	// ErrorHandler answers failed taps; err is always a *HandlerError
	// (errors.As / errors.Is reach its cause). Allow, WWW-Authenticate and
	// Retry-After headers are set before it is called. Default
	// DefaultSendErrorHandler.
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)
	// Now is the clock of PaidAt and the claim window; default time.Now.
	Now func() time.Time
	// Observer is told of every tap, for metrics and traces (see the
	// otel module). Nil means none.
	Observer Observer
}

// Handler is the red-packet claim handler: see the package documentation.
// Create it with NewHandler; it is safe for concurrent use.
type Handler struct {
	rail          rail.Rail
	railName      string // rail.Name(), stored with every result
	railKind      string // railName up to its colon, for observers
	policy        Policy
	store         store.Store
	local         *store.MemoryStore // used when store fails
	maxBody       int64
	rateLimit     int
	rateWindow    time.Duration
	claimWindow   time.Duration
	resultTTL     time.Duration
	lockTTL       time.Duration
	waitTimeout   time.Duration
	storeRetry    time.Duration
	maxAttempts   int
	scenes        sceneGate
	budgets       map[string]store.Budget
	saveTimeout   time.Duration
	downUntil     atomic.Int64 // unix nanoseconds: until then, the Store is not used
	log           *slog.Logger
	obs           Observer
	nobs          NotificationObserver // obs, when it is one
	onError       func(http.ResponseWriter, *http.Request, error)
	now           func() time.Time
	flights       flightGroup
	pending       pendingSaves // results waiting for the shared Store
	merchantProbe time.Duration
}

// NewHandler checks cfg and returns the red-packet handler. Mount it behind
// an Authenticator's Middleware: it answers 401 to requests without a
// verified User in the context.
func NewHandler(cfg HandlerConfig) (*Handler, error) {
	r := cfg.Rail
	switch {
	case r != nil && cfg.Client != nil:
		return nil, errors.New("claim: HandlerConfig sets both Rail and Client; set one")
	case cfg.Client != nil:
		r = cfg.Client.Rail()
	case r == nil:
		return nil, errors.New("claim: HandlerConfig.Rail (or Client) is required")
	}
	if cfg.Policy == nil {
		return nil, errors.New("claim: HandlerConfig.Policy is required")
	}
	if f, ok := cfg.Policy.(PolicyFunc); ok && f == nil {
		return nil, errors.New("claim: HandlerConfig.Policy is a nil PolicyFunc")
	}
	if cfg.MaxBodyBytes < 0 || cfg.RateWindow < 0 || cfg.ClaimWindow < 0 || cfg.ResultTTL < 0 ||
		cfg.LockTTL < 0 || cfg.WaitTimeout < 0 || cfg.StoreRetryAfter < 0 || cfg.MaxAttempts < 0 || cfg.MerchantProbe < 0 {
		return nil, errors.New("claim: HandlerConfig sizes and durations must not be negative")
	}
	h := &Handler{
		rail:          r,
		railName:      r.Name(),
		railKind:      railKind(r.Name()),
		policy:        cfg.Policy,
		store:         cfg.Store,
		local:         store.NewMemoryStore(),
		maxBody:       orDefault(cfg.MaxBodyBytes, DefaultMaxBodyBytes),
		rateLimit:     cfg.RateLimit,
		rateWindow:    orDefault(cfg.RateWindow, DefaultRateWindow),
		claimWindow:   orDefault(cfg.ClaimWindow, DefaultClaimWindow),
		resultTTL:     orDefault(cfg.ResultTTL, DefaultResultTTL),
		lockTTL:       orDefault(cfg.LockTTL, DefaultLockTTL),
		waitTimeout:   orDefault(cfg.WaitTimeout, DefaultWaitTimeout),
		storeRetry:    orDefault(cfg.StoreRetryAfter, DefaultStoreRetryAfter),
		maxAttempts:   int(orDefault(int64(cfg.MaxAttempts), DefaultMaxAttempts)),
		scenes:        newSceneGate(cfg.Scenes, cfg.RequireScene || !cfg.SceneOptional, !rail.LaunchScenesLimited(r)),
		budgets:       maps.Clone(cfg.Budgets),
		merchantProbe: orDefault(cfg.MerchantProbe, DefaultMerchantProbe),
		saveTimeout:   saveTimeout,
		log:           cfg.Logger,
		obs:           cfg.Observer,
		onError:       cfg.ErrorHandler,
		now:           cfg.Now,
	}
	h.nobs, _ = cfg.Observer.(NotificationObserver)
	for name, b := range h.budgets {
		if name == "" || b.Fen < 0 || b.Packets < 0 || b.Fen == 0 && b.Packets == 0 {
			return nil, fmt.Errorf("claim: HandlerConfig.Budgets[%q] needs a name and a positive Fen or Packets", name)
		}
	}
	if h.resultTTL < h.claimWindow {
		return nil, fmt.Errorf("claim: HandlerConfig.ResultTTL (%v) is shorter than ClaimWindow (%v)", h.resultTTL, h.claimWindow)
	}
	if h.rateLimit == 0 {
		h.rateLimit = DefaultRateLimit
	}
	if h.store == nil {
		h.store = h.local
	}
	if h.log == nil {
		h.log = slog.Default()
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
	r = h.tapStarted(r)
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.fail(w, r, t, newError(http.StatusMethodNotAllowed, "method_not_allowed", "only POST is allowed", nil))
		return
	}
	ctx := r.Context()
	user, ok := jwtauth.UserFrom(ctx)
	if !ok || user.OpenID == "" {
		// The handler is mounted without the Authenticator in front:
		// a server misconfiguration, not the client's to fix by logging
		// in again.
		h.fail(w, r, t, newError(http.StatusInternalServerError, "internal_error", "internal error", errNoUser))
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
	if herr := h.scenes.check(body); herr != nil {
		h.fail(w, r, t, herr)
		return
	}

	grant, err := h.policy.Grant(ctx, user, body)
	if err != nil {
		if !errors.Is(err, ErrRefused) {
			err = policyError(err)
		}
		h.fail(w, r, t, err)
		return
	}
	if grant.Key == "" {
		h.fail(w, r, t, policyError(errNoKey))
		return
	}
	id, err := h.rail.Billno(grant.Key, user.OpenID, 0)
	if err != nil {
		h.fail(w, r, t, policyError(err))
		return
	}
	t.billno = id

	res, ok := h.repeat(ctx, t, id)
	if !ok {
		// Not answered from the Store: the grant's lifecycle, from a
		// checked payout (a repeat tap sends nothing, so its grant is
		// not checked again).
		run, err := h.newRun(grant, user.OpenID, id)
		if err != nil {
			h.fail(w, r, t, err)
			return
		}
		if res, err = h.run(ctx, t, run); err != nil {
			h.fail(w, r, t, err)
			return
		}
	}
	if res.OpenID != user.OpenID {
		h.fail(w, r, t, fmt.Errorf("claim: the result of %s is for another openid", res.Billno))
		return
	}
	if res.Rail != "" && res.Rail != h.railName {
		h.fail(w, r, t, fmt.Errorf("claim: the result of %s was paid by rail %s, not %s", res.Billno, res.Rail, h.railName))
		return
	}
	buf := answerBuffers.Get().(*[]byte)
	out, err := h.rail.AppendAnswer((*buf)[:0], res.Package)
	if err != nil {
		answerBuffers.Put(buf)
		h.fail(w, r, t, err)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/json; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
	if cap(out) <= maxAnswerBuffer {
		*buf = out[:0]
		answerBuffers.Put(buf) // Write is done with it
	}
	h.logTap(ctx, t, http.StatusOK, "", nil)
}

// answerBuffers hold the page's answers while they are written.
var answerBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// maxAnswerBuffer is the largest buffer kept for reuse.
const maxAnswerBuffer = 4 << 10

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
	h.tapEnded(ctx, t, status, code, err)
	level := slog.LevelInfo
	switch {
	case status >= 500 && (code == "internal_error" || code == "policy_error"):
		level = slog.LevelError
	case status >= 400:
		level = slog.LevelWarn
	case t.source != "platform":
		// A repeat tap answered from the records: an access log's line,
		// not news; the payout itself was logged at INFO.
		level = slog.LevelDebug
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
	if err != nil {
		if code := railCode(err); code != "" {
			attrs = append(attrs, slog.String("err_code", code))
		}
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

// newRun checks the payout of the policy's grant, whose attempt-0 bill
// number is id, and starts the walk of its lifecycle. A grant that breaks a
// rule of the rail is the policy's error (500).
func (h *Handler) newRun(g Grant, openID, id string) (*grantRun, error) {
	if err := g.Validate(h.rail); err != nil {
		return nil, policyError(err)
	}
	return &grantRun{grant: g, openID: openID, id: id, billno: id}, nil
}

func policyError(err error) *HandlerError {
	return newError(http.StatusInternalServerError, "policy_error", "the red packet could not be granted", err)
}

// repeat answers a repeat tap from the Store alone: the grant's first
// attempt paid and within its claim window. Anything else takes the run.
func (h *Handler) repeat(ctx context.Context, t *tap, id string) (store.Result, bool) {
	r, ok := h.lookup(ctx, id)
	if !ok || !r.Paid() || h.now().Sub(r.PaidAt) >= h.claimWindow {
		return store.Result{}, false
	}
	t.source = "store"
	return r, true
}

// readBody reads the capped body; a non-empty body must be one JSON value.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, *HandlerError) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	if r.ContentLength > h.maxBody {
		return nil, newError(http.StatusRequestEntityTooLarge, "body_too_large", "the request body is too large", nil)
	}
	var body []byte
	var err error
	if n := r.ContentLength; n > 0 {
		// A declared length: read exactly that (net/http's body ends
		// there), into a buffer of its size.
		body = make([]byte, n)
		_, err = io.ReadFull(r.Body, body)
	} else {
		body, err = io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
	}
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
