package claim

import (
	"context"
	"net/http"
	"time"
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
	tp := Tap{Status: status, Code: code, Source: t.source, Billno: t.billno, Elapsed: time.Since(t.start)}
	if err != nil {
		tp.Err = err
		tp.ErrCode = railCode(err)
	}
	h.obs.TapEnd(ctx, tp)
}
