package transfer

import (
	"context"
	"time"
)

// Observer is told of every call the Client makes to the platform and of
// each attempt within it, for metrics and traces (the otel module's
// Observer.Transfer implements it). Set it in Config.Observer; nil means
// none, and costs nothing.
//
// The methods are called from the call's goroutine, so they must be quick
// and safe for concurrent use. They receive no key, signature or openid.
type Observer interface {
	// CallStart is called when a call begins. The context it returns is
	// the call's: AttemptStart and CallEnd receive it or one derived from
	// it.
	CallStart(ctx context.Context, call Call) context.Context
	// AttemptStart is called just before an attempt is sent, once the flow
	// control allows it; call.Attempt numbers it from 1. The context it
	// returns goes to AttemptEnd.
	AttemptStart(ctx context.Context, call Call) context.Context
	// AttemptEnd is called with the attempt's outcome: err is nil when the
	// platform answered 2xx and the answer verified. call.Elapsed is the
	// attempt's time.
	AttemptEnd(ctx context.Context, call Call, err *Error)
	// CallEnd is called once with the call's outcome as the caller gets
	// it: nil on success; otherwise err.Code is the platform's code (such
	// as NOT_ENOUGH) and err.Unknown tells whether the platform may have
	// acted. A call held back by the flow control (hongbao.ErrThrottled)
	// ends with no attempt. call.Elapsed is the call's time, retries and
	// waits included. For a create that the platform answered ACCEPTED or
	// PROCESSING and that was made again, each make is a call.
	CallEnd(ctx context.Context, call Call, err *Error)
}

// Call describes a call to the platform, or one attempt of it, to an
// Observer.
type Call struct {
	// Op is OpCreate, OpQuery or OpCancel.
	Op string
	// OutBillNo is the bill the call is about (for a query by
	// transfer_bill_no, that number).
	OutBillNo string
	// Attempt is the attempt's number, from 1, in AttemptStart and
	// AttemptEnd; 0 in CallStart and CallEnd.
	Attempt int
	// Elapsed is the time taken, in AttemptEnd and CallEnd.
	Elapsed time.Duration
}

// NopObserver does nothing. Embed it in an Observer that needs only some
// of the methods.
type NopObserver struct{}

var _ Observer = NopObserver{}

func (NopObserver) CallStart(ctx context.Context, _ Call) context.Context    { return ctx }
func (NopObserver) AttemptStart(ctx context.Context, _ Call) context.Context { return ctx }
func (NopObserver) AttemptEnd(context.Context, Call, *Error)                 {}
func (NopObserver) CallEnd(context.Context, Call, *Error)                    {}
