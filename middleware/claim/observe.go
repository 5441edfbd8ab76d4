package claim

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/hongbao-go/hongbao/rail"
)

// Observer is told of every tap the Handler answers, for metrics and traces
// (the otel module implements it with OpenTelemetry, together with
// hongbao.Observer). Set it in HandlerConfig.Observer; nil means none, and
// costs nothing: no call, no allocation.
//
// The methods are called from the request's goroutine, so they must be
// quick and safe for concurrent use. They receive no token and no openid.
type Observer interface {
	// TapStart is called when a tap arrives. The context it returns is
	// the request's from then on: the client's calls for the tap run under
	// it (a span placed in it is their parent), and TapEnd receives it.
	TapStart(ctx context.Context) context.Context
	// TapEnd is called once, when the tap has been answered.
	TapEnd(ctx context.Context, tap Tap)
}

// Tap describes an answered tap to an Observer.
type Tap struct {
	// Rail is the kind of the handler's rail: "redpacket" or "transfer"
	// (its Name up to the colon, without the mch_id).
	Rail string
	// Status is the HTTP status answered.
	Status int
	// Code is the answer's code (HandlerError.Code); empty for 200.
	Code string
	// Source tells where the result came from: "platform" (this tap's
	// send), "shared" (a send of the same grant in progress in this
	// process), "store" (a result recorded before), or empty when the tap
	// did not get that far.
	Source string
	// Billno is the bill number the tap was about, once known.
	Billno string
	// ErrCode is the platform's code behind a failed tap (the red
	// packet's err_code), if any.
	ErrCode string
	// Elapsed is the time from the tap's arrival to its answer.
	Elapsed time.Duration
	// Err is the answered error (a *HandlerError); nil for 200.
	Err error
}

// tapStarted tells the observer that a tap arrived; r carries the tap's
// context from then on.
func (h *Handler) tapStarted(r *http.Request) *http.Request {
	if h.obs == nil {
		return r
	}
	return r.WithContext(h.obs.TapStart(r.Context()))
}

// tapEnded tells the observer how the tap was answered.
func (h *Handler) tapEnded(ctx context.Context, t *tap, status int, code string, err *HandlerError) {
	if h.obs == nil {
		return
	}
	tp := Tap{Rail: h.railKind, Status: status, Code: code, Source: t.source, Billno: t.billno, Elapsed: time.Since(t.start)}
	if err != nil {
		tp.Err = err
		tp.ErrCode = railCode(err)
	}
	h.obs.TapEnd(ctx, tp)
}

// A NotificationObserver is an Observer that is also told of every
// notification the handler's rail pushes (NotificationHandler,
// HandleNotification), for metrics: the otel module counts them, and
// times how long each number waited for its final state. The handler
// checks its Observer for this interface once, in NewHandler. The method
// is called from the notification's goroutine, once the notification has
// been answered (or HandleNotification returns); it receives no openid.
type NotificationObserver interface {
	Notified(ctx context.Context, n Notification)
}

// The results of a Notification.
const (
	// NotificationRecorded: verified, and its news stored (or nothing to
	// store: an event that settles no number); answered success.
	NotificationRecorded = "recorded"
	// NotificationFailed: verified, but storing it failed (the Store, or
	// a send of the number holding its lock); answered a failure, so that
	// the platform sends it again.
	NotificationFailed = "failed"
	// NotificationRefused: not verified (forged, altered, stale,
	// probe-signed) or unreadable; never acted on.
	NotificationRefused = "refused"
)

// Notification describes a notification to a NotificationObserver.
type Notification struct {
	// Rail is the kind of the handler's rail, as in Tap.
	Rail string
	// Result is NotificationRecorded, NotificationFailed or
	// NotificationRefused.
	Result string
	// Billno is the number it settles; empty when it was refused or
	// settles no number.
	Billno string
	// State is the number's final state as the rail reports it
	// (rail.Paid, Closed, Returned, Cancelled); Status and Reason the
	// platform's words (the transfer's SUCCESS, FAIL or CANCELLED, and
	// its fail_reason, such as OVERDUE_CLOSE). Empty when refused.
	State  rail.State
	Status string
	Reason string
	// Waited is how long the number waited, from its creation at the
	// platform to this notification, on the handler's clock; zero when
	// the notification gives no creation time.
	Waited time.Duration
	// Elapsed is the time taken to handle it.
	Elapsed time.Duration
	// Err is why it failed or was refused; nil when recorded.
	Err error
}

// noticeKey holds a *noticeSlot in a notification's context.
type noticeKey struct{}

// noticeSlot is what the handling of one notification learnt, for its
// observer.
type noticeSlot struct {
	called bool // the notification verified and reached notified
	n      rail.Notice
	err    error
}

// railKind is a rail name's kind: "transfer:1900000109" gives "transfer".
func railKind(name string) string {
	kind, _, _ := strings.Cut(name, ":")
	return kind
}

// observedNotifications wraps the notify URL's handler so that the
// observer learns each notification's outcome from what notified saw and
// the status answered.
func (h *Handler) observedNotifications(inner http.Handler) http.Handler {
	if h.nobs == nil {
		return inner
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		slot := &noticeSlot{}
		r = r.WithContext(context.WithValue(r.Context(), noticeKey{}, slot))
		sw := &noticeStatusWriter{ResponseWriter: w}
		inner.ServeHTTP(sw, r)
		err := slot.err
		if err == nil && (sw.status < 200 || sw.status > 299) {
			err = &notificationStatusError{status: sw.status}
		}
		h.notificationEnded(r.Context(), slot.called, slot.n, err, start)
	})
}

// notificationEnded tells the observer of a notification: verified is
// whether it reached notified, with n what it reported.
func (h *Handler) notificationEnded(ctx context.Context, verified bool, n rail.Notice, err error, start time.Time) {
	if h.nobs == nil {
		return
	}
	nt := Notification{Rail: h.railKind, Result: NotificationRecorded, Elapsed: time.Since(start), Err: err}
	switch {
	case !verified:
		nt.Result = NotificationRefused
	case err != nil:
		nt.Result = NotificationFailed
	}
	if verified {
		nt.Billno, nt.State, nt.Status, nt.Reason = n.Billno, n.Bill.State, n.Bill.Status, n.Bill.Reason
		if !n.Bill.At.IsZero() {
			nt.Waited = max(h.now().Sub(n.Bill.At), 0)
		}
	}
	h.nobs.Notified(ctx, nt)
}

// noticeStatusWriter records the status a handler answers.
type noticeStatusWriter struct {
	http.ResponseWriter
	status int
}

func (w *noticeStatusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *noticeStatusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *noticeStatusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// notificationStatusError is a notification answered with a failure
// status without an error of the handler's (refused by the rail).
type notificationStatusError struct{ status int }

func (e *notificationStatusError) Error() string {
	return "claim: the notification was answered " + http.StatusText(e.status)
}
