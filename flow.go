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
	// DefaultHeadroom is how far below SendsPerMinute the client paces
	// itself by default: 5%, room for the network's jitter, so that a host
	// counting sends over any second never sees more than its share.
	DefaultHeadroom = 0.05
	// maxRetryAfter caps the RetryAfter of a held-back send: a burst's
	// users come back soon and are paced again, instead of being sent
	// away for as long as a queue at a lowered rate would take.
	maxRetryAfter = 5 * time.Second
	// cutEvery is the least time between two halvings of the rate: the
	// FREQ_LIMIT answers of one burst arrive together and say one thing.
	cutEvery = time.Second
)

// FlowControl paces the client's sends (sendminiprogramhb, every attempt
// of it) to the merchant's send rate, so that a burst of taps at a
// campaign's launch does not provoke the platform's FREQ_LIMIT. Sends are
// spread evenly, a little below the rate (Headroom): at the defaults, one
// every 35 ms, so no more than 30 in any second and 1,710 in any minute. A
// send that would have to wait longer than MaxWait is not queued: it fails
// at once with an *Error matching ErrThrottled whose RetryAfter (at most 5
// seconds) says when to come back; nothing was sent, so the same bill
// number is simply sent again later. A FREQ_LIMIT answer halves the rate
// the client allows itself (at most once a second: the answers of one
// burst arrive together), and successes win it back step by step.
//
// The zero value means the defaults. gethbinfo queries are not paced (the
// platform documents its limit for sends).
type FlowControl struct {
	// SendsPerMinute is the merchant's send rate. Default
	// DefaultSendsPerMinute; negative turns pacing off. Set it to the rate
	// in the merchant console when it was changed there.
	SendsPerMinute int
	// Burst is how many sends may go back to back before the pacing
	// applies: in any second, at most Burst plus the paced rate go. Default
	// 1, the smoothest.
	Burst int
	// Headroom is the fraction of SendsPerMinute the client keeps unused,
	// in [0, 0.5]. Default DefaultHeadroom (0.05); negative means none.
	Headroom float64
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
	current float64   // the adaptive rate, <= configured
	cutAt   time.Time // the last halving
}

func newPacer(f FlowControl, mchID string, log *slog.Logger) (*pacer, error) {
	return newPacerFor(f, "send:"+mchID, DefaultSendsPerMinute, log)
}

// newPacerFor returns the pacer of the calls whose shared budget is key,
// at defaultPerMinute when f.SendsPerMinute is 0.
func newPacerFor(f FlowControl, key string, defaultPerMinute int, log *slog.Logger) (*pacer, error) {
	if f.Burst < 0 {
		return nil, errors.New("hongbao: FlowControl.Burst must not be negative")
	}
	if f.Headroom > 0.5 {
		return nil, errors.New("hongbao: FlowControl.Headroom must be at most 0.5")
	}
	p := &pacer{shared: f.Shared, key: key, log: log}
	if f.SendsPerMinute < 0 {
		return p, nil
	}
	perMinute := f.SendsPerMinute
	if perMinute == 0 {
		perMinute = defaultPerMinute
	}
	headroom := f.Headroom
	switch {
	case headroom == 0:
		headroom = DefaultHeadroom
	case headroom < 0:
		headroom = 0
	}
	p.configured = float64(perMinute) / 60 * (1 - headroom)
	p.current = p.configured
	p.burst = f.Burst
	if p.burst == 0 {
		p.burst = 1
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
	d, err := p.turn(ctx, now)
	switch {
	case err == nil:
		return nil
	case err == ErrThrottled:
		return &Error{Op: op, Billno: billno, Retryable: true, RetryAfter: d, Err: ErrThrottled,
			Message: fmt.Sprintf("the send would wait %v for the merchant's send rate", d.Round(time.Millisecond))}
	}
	return &Error{Op: op, Billno: billno, Retryable: true, Err: err, Message: "the send waited for the merchant's send rate"}
}

// turn blocks until the call may go and returns nil; or returns at once
// ErrThrottled with the wait the call would have needed (at most
// maxRetryAfter); or ctx's error when it ended while waiting.
func (p *pacer) turn(ctx context.Context, now time.Time) (time.Duration, error) {
	if p == nil || p.limiter == nil {
		return 0, nil
	}
	d, ok := p.reserve(ctx, now)
	if !ok {
		return min(d, maxRetryAfter), ErrThrottled
	}
	if d <= 0 {
		return 0, nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return 0, nil
	case <-ctx.Done():
		return 0, ctx.Err()
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

// freqLimited halves the rate after a FREQ_LIMIT answer, at most once in
// cutEvery, down to one send in ten seconds at the least.
func (p *pacer) freqLimited(now time.Time) {
	if p == nil || p.limiter == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.cutAt.IsZero() && now.Sub(p.cutAt) < cutEvery {
		return
	}
	p.cutAt = now
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
