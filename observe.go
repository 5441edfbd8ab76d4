package hongbao

import (
	"context"
	"crypto/x509"
	"errors"
	"time"

	"github.com/hongbao-go/hongbao/transport"
)

// Observer is told of a Client's calls to the platform and of its client
// certificate, for metrics and traces (the otel module implements it with
// OpenTelemetry). Set it in Config.Observer; nil means none, and costs
// nothing: no call, no allocation.
//
// A call is one SendMiniProgramHB or QueryHB that passed validation; it
// makes one or more attempts (each a request to the platform, with the same
// bill number). The methods are called from the goroutine making the call,
// so they must be quick and safe for concurrent use. They receive no key,
// signature or certificate private key.
type Observer interface {
	// CallStart is called when a call begins. The context it returns is
	// the call's: AttemptStart and CallEnd receive it or one derived from
	// it (a span placed in it is the parent of the attempts' spans).
	CallStart(ctx context.Context, call Call) context.Context
	// AttemptStart is called just before an attempt is sent, once the
	// merchant's send rate allows it; call.Attempt numbers it from 1. The
	// context it returns carries the request and goes to AttemptEnd.
	AttemptStart(ctx context.Context, call Call) context.Context
	// AttemptEnd is called with the attempt's outcome: err is nil when the
	// platform answered result_code SUCCESS. call.Elapsed is the
	// attempt's time.
	AttemptEnd(ctx context.Context, call Call, err *Error)
	// CallEnd is called once with the call's outcome, as the caller gets
	// it: nil on success; otherwise err.Unknown tells whether the platform
	// may have paid. A send refused by flow control (ErrThrottled) ends
	// with no attempt. call.Elapsed is the call's time, retries and waits
	// included.
	CallEnd(ctx context.Context, call Call, err *Error)
	// CertificateChanged is called when the Client is created and after
	// each successful Reload of its transport, with the leaf of the client
	// certificate now presented (for its NotAfter, serial and subject; do
	// not modify it).
	CertificateChanged(mchID string, leaf *x509.Certificate)
}

// Call describes a call to the platform, or one attempt of it, to an
// Observer.
type Call struct {
	// Op is the endpoint: "sendminiprogramhb" or "gethbinfo".
	Op string
	// Billno is the bill number the call is about.
	Billno string
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
func (NopObserver) CertificateChanged(string, *x509.Certificate)             {}

// observedTransport is cfg.Transport, told to report its certificate to
// cfg.Observer as well as to its own OnCertificate.
func observedTransport(cfg *Config) transport.Config {
	tc := cfg.Transport
	obs := cfg.Observer
	if obs == nil {
		return tc
	}
	mchID, prev := tc.MchID, tc.OnCertificate
	tc.OnCertificate = func(leaf *x509.Certificate) {
		if prev != nil {
			prev(leaf)
		}
		obs.CertificateChanged(mchID, leaf)
	}
	return tc
}

// callStarted tells the observer that a call begins; it returns the call's
// context and its start.
func (c *Client) callStarted(ctx context.Context, op, billno string) (context.Context, time.Time) {
	if c.obs == nil {
		return ctx, time.Time{}
	}
	return c.obs.CallStart(ctx, Call{Op: op, Billno: billno}), time.Now()
}

// callEnded tells the observer the call's outcome; err is what the caller
// gets.
func (c *Client) callEnded(ctx context.Context, op, billno string, start time.Time, err error) {
	if c.obs == nil {
		return
	}
	var pe *Error
	if err != nil && !errors.As(err, &pe) {
		// Not a platform error (none is returned after validation today):
		// report it as a definitive failure without a code.
		pe = &Error{Op: op, Billno: billno, Err: err}
	}
	c.obs.CallEnd(ctx, Call{Op: op, Billno: billno, Elapsed: time.Since(start)}, pe)
}

// attemptStarted tells the observer that an attempt is about to be sent.
func (c *Client) attemptStarted(ctx context.Context, op, billno string, attempt int) (context.Context, time.Time) {
	if c.obs == nil {
		return ctx, time.Time{}
	}
	return c.obs.AttemptStart(ctx, Call{Op: op, Billno: billno, Attempt: attempt}), time.Now()
}

// attemptEnded tells the observer the attempt's outcome.
func (c *Client) attemptEnded(ctx context.Context, op, billno string, attempt int, start time.Time, err *Error) {
	if c.obs == nil {
		return
	}
	c.obs.AttemptEnd(ctx, Call{Op: op, Billno: billno, Attempt: attempt, Elapsed: time.Since(start)}, err)
}
