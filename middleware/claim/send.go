package claim

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/hongbao-go/hongbao/store"
)

// run answers a tap from the grant's run in this process (started when
// there is none): concurrent taps of one user on one grant share it. The
// run is detached from the request: a user closing the mini program must
// not abort a payout half-way, and other taps may be waiting for it.
func (h *Handler) run(ctx context.Context, t *tap, run *grantRun) (store.Result, error) {
	base := context.WithoutCancel(ctx)
	f, shared := h.flights.start(run.id, func() (store.Result, string, error) {
		return h.claim(base, run)
	})
	select {
	case <-f.done:
	case <-ctx.Done():
		e := newError(http.StatusServiceUnavailable, "in_progress", "the red packet is being sent; retry shortly", ctx.Err())
		e.RetryAfter = retryAfterInProgress
		return store.Result{}, e
	}
	t.source = f.source
	if shared && f.source == "platform" {
		t.source = "shared"
	}
	if f.res.Billno != "" {
		t.billno = f.res.Billno
	}
	return f.res, f.err
}

// sendAttempt sends the grant's terms under billno, once per bill number
// at a time across replicas: it takes the cross-replica lock (or waits for
// its holder's result), checks the Store again and pays. A record found
// instead (another replica's result, or the number closed meanwhile) is
// returned with source "store".
func (h *Handler) sendAttempt(base context.Context, run *grantRun, billno string) (store.Result, string, error) {
	// Store calls of the send end with it, even when a Store hangs.
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
			return store.Result{}, "", err
		}
		if found {
			return r, "store", nil
		}
		release, lockedAt = rel, at
	}
	if release != nil {
		defer release()
	}
	// Another replica may have paid, or learnt the number closed, between
	// the first lookup and the lock.
	if r, ok := h.lookup(ctx, billno); ok && (r.Paid() || r.Closed != "") {
		return r, "store", nil
	}
	sctx, scancel := context.WithDeadline(base, lockedAt.Add(h.lockTTL))
	defer scancel()
	run.sendStart = h.now()
	sent, err := h.rail.Send(sctx, billno, run.openID, run.terms.Payout)
	if err != nil {
		return store.Result{}, "", err
	}
	if !sent.At.IsZero() {
		run.sentAt = sent.At
	}
	r := store.Result{
		Billno:     billno,
		OpenID:     run.openID,
		Rail:       h.railName,
		Package:    sent.Answer,
		SendListID: sent.Order,
		Amount:     run.terms.Amount,
		Campaign:   h.campaignOf(run),
	}
	h.stamp(base, run, &r)
	h.save(base, billno, r)
	return r, "platform", nil
}

// waitOther polls the Store while another holder has the lock on billno,
// until its result appears (found), the lock is free and taken (release,
// asked for at lockedAt), the Store fails (neither, lockedAt now: send
// without the lock) or WaitTimeout passes (err).
func (h *Handler) waitOther(ctx context.Context, billno string) (r store.Result, found bool, release func(), lockedAt time.Time, err error) {
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
			return store.Result{}, false, nil, time.Time{}, e
		case <-poll.C:
		}
		r, ok, err := h.shared().Result(ctx, billno)
		if err != nil {
			h.storeFailed(ctx, "Result", billno, err)
			return store.Result{}, false, nil, time.Now(), nil
		}
		if ok && (r.Paid() || r.Closed != "") {
			return r, true, nil, time.Time{}, nil
		}
		at := time.Now()
		rel, got, err := h.shared().TryLock(ctx, billno, h.lockTTL)
		if err != nil {
			h.storeFailed(ctx, "TryLock", billno, err)
			return store.Result{}, false, nil, time.Now(), nil
		}
		if got {
			return store.Result{}, false, rel, at, nil
		}
		delay = min(2*delay, maxPoll)
	}
}

// flightGroup runs at most one function per key at a time; callers that
// arrive while it runs share its outcome.
type flightGroup struct {
	mu sync.Mutex
	m  map[string]*flight
}

type flight struct {
	done   chan struct{} // closed when the fields below are set
	res    store.Result
	source string
	err    error
}

// start returns the flight of key, starting fn in its own goroutine when
// none is running; shared reports whether the flight was already running.
func (g *flightGroup) start(key string, fn func() (store.Result, string, error)) (f *flight, shared bool) {
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
				f.err = fmt.Errorf("claim: panic while sending: %v", p)
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
			// A last try to hand results kept locally to the shared
			// Store; what it cannot take now is resent the same bill
			// number by the next tap.
			if h.store != store.Store(h.local) && len(h.pending.snapshot()) > 0 {
				h.flushOnce(ctx)
			}
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
