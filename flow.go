package hongbao

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Defaults of FlowControl.
const (
	// DefaultSendsPerMinute is the platform's default send rate per
	// merchant: 1,800 a minute, about 30 a second.
	DefaultSendsPerMinute = 1800
	// DefaultMaxWait bounds how long a send waits for its turn.
	DefaultMaxWait = 2 * time.Second
)

// FlowControl paces the client's sends (sendminiprogramhb, every attempt
// of it) to the merchant's send rate, so that a burst of taps at a
// campaign's launch does not provoke the platform's FREQ_LIMIT. Sends are
// spread evenly: at the default rate no more than Burst (30) go in any
// second. A send that would have to wait longer than MaxWait is not queued:
// it fails at once with an *Error matching ErrThrottled whose RetryAfter
// says when to come back; nothing was sent, so the same bill number is
// simply sent again later. FREQ_LIMIT answers halve the rate the client
// allows itself, and successes win it back step by step.
//
// The zero value means the defaults. gethbinfo queries are not paced (the
// platform documents its limit for sends).
type FlowControl struct {
	// SendsPerMinute is the merchant's send rate. Default
	// DefaultSendsPerMinute; negative turns pacing off. Set it to the rate
	// in the merchant console when it was changed there.
	SendsPerMinute int
	// Burst is how many sends may go back to back before the pacing
	// applies. Default SendsPerMinute/60 (at least 1).
	Burst int
	// MaxWait bounds a send's wait for its turn. Default DefaultMaxWait;
	// negative means a send never waits (only the burst goes at once).
	MaxWait time.Duration
	// Shared paces every replica of the merchant together, one budget for
	// all (for example store/redisstore's Store). Each replica's client
	// still applies its own adaptive rate; when Shared fails, the local
	// limiter stands in and the failure is logged. Nil: each client paces
	// only itself.
	Shared SharedLimiter
}

// SharedLimiter is a send rate shared by several processes.
type SharedLimiter interface {
	// Reserve takes one slot of key's budget, which refills at perSecond
	// up to burst, and returns how long the caller must wait before using
	// it. When that wait would exceed maxWait it takes nothing and returns
	// ok=false with the wait it would have needed.
	Reserve(ctx context.Context, key string, perSecond float64, burst int, maxWait time.Duration) (wait time.Duration, ok bool, err error)
}

// ErrThrottled is matched by a send the client did not make because the
// merchant's send rate would have made it wait longer than
// FlowControl.MaxWait. Error.RetryAfter says when its turn would have come.
var ErrThrottled = errors.New("hongbao: the merchant's send rate is used up; retry later")

// pacer is the client's flow control.
type pacer struct {
	configured float64 // sends per second, as configured; 0: off
	burst      int
	maxWait    time.Duration
	shared     SharedLimiter
	key        string // the shared budget's key: the merchant
	log        *slog.Logger

	mu      sync.Mutex
	limiter *rate.Limiter
	current float64 // the adaptive rate, <= configured
}

func newPacer(f FlowControl, mchID string, log *slog.Logger) (*pacer, error) {
	if f.Burst < 0 {
		return nil, errors.New("hongbao: FlowControl.Burst must not be negative")
	}
	p := &pacer{shared: f.Shared, key: "send:" + mchID, log: log}
	if f.SendsPerMinute < 0 {
		return p, nil
	}
	perMinute := f.SendsPerMinute
	if perMinute == 0 {
		perMinute = DefaultSendsPerMinute
	}
	p.configured = float64(perMinute) / 60
	p.current = p.configured
	p.burst = f.Burst
	if p.burst == 0 {
		p.burst = max(perMinute/60, 1)
	}
	switch {
	case f.MaxWait == 0:
		p.maxWait = DefaultMaxWait
	case f.MaxWait > 0:
		p.maxWait = f.MaxWait
	}
	p.limiter = rate.NewLimiter(rate.Limit(p.configured), p.burst)
	return p, nil
}

// wait blocks until the send may go, or returns the *Error to answer
// instead (throttled, or ctx ended while waiting).
func (p *pacer) wait(ctx context.Context, op, billno string, now time.Time) *Error {
	if p == nil || p.limiter == nil {
		return nil
	}
	d, ok := p.reserve(ctx, now)
	if !ok {
		return &Error{Op: op, Billno: billno, Retryable: true, RetryAfter: d, Err: ErrThrottled,
			Message: fmt.Sprintf("the send would wait %v for the merchant's send rate", d.Round(time.Millisecond))}
	}
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return &Error{Op: op, Billno: billno, Retryable: true, Err: ctx.Err(), Message: "the send waited for the merchant's send rate"}
	}
}

// reserve takes a slot: from the shared budget when there is one (the
// local limiter when it fails), else from the local limiter.
func (p *pacer) reserve(ctx context.Context, now time.Time) (time.Duration, bool) {
	p.mu.Lock()
	current := p.current
	p.mu.Unlock()
	if p.shared != nil {
		d, ok, err := p.shared.Reserve(ctx, p.key, current, p.burst, p.maxWait)
		if err == nil {
			return d, ok
		}
		p.log.LogAttrs(ctx, slog.LevelWarn, "hongbao: the shared send rate is unavailable; pacing this process alone",
			slog.String("error", err.Error()))
	}
	r := p.limiter.ReserveN(now, 1)
	d := r.DelayFrom(now)
	if !r.OK() || d > p.maxWait {
		r.CancelAt(now)
		if !r.OK() {
			d = time.Duration(float64(time.Second) / current)
		}
		return d, false
	}
	return d, true
}

// freqLimited halves the rate after a FREQ_LIMIT answer, down to one send
// in ten seconds at the least.
func (p *pacer) freqLimited(now time.Time) {
	if p == nil || p.limiter == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.current = math.Max(p.current/2, 0.1)
	p.limiter.SetLimitAt(now, rate.Limit(p.current))
}

// succeeded wins back a fiftieth of the configured rate.
func (p *pacer) succeeded(now time.Time) {
	if p == nil || p.limiter == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.current >= p.configured {
		return
	}
	p.current = math.Min(p.current+p.configured/50, p.configured)
	p.limiter.SetLimitAt(now, rate.Limit(p.current))
}

// rate returns the sends per minute the pacer allows now (0: off).
func (p *pacer) perMinute() float64 {
	if p == nil || p.limiter == nil {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.current * 60
}
