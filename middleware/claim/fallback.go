package claim

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/hongbao-go/hongbao/rail"
	"github.com/hongbao-go/hongbao/store"
)

// The handler's Store may fail (a shared server down); the handler then
// keeps to this process: results, terms, rate limits and coalescing in a
// private MemoryStore, until the Store answers again.

// lookup finds a stored result, in the local store too (where results go
// when the shared Store fails).
func (h *Handler) lookup(ctx context.Context, billno string) (store.Result, bool) {
	st := h.shared()
	r, ok, err := st.Result(ctx, billno)
	if err != nil {
		h.storeFailed(ctx, "Result", billno, err)
	} else if ok {
		return r, true
	}
	if st == store.Store(h.local) {
		return store.Result{}, false
	}
	r, ok, _ = h.local.Result(ctx, billno)
	return r, ok
}

// save stores r. When the shared Store fails (or is being left alone after
// a failure), r is kept locally and queued, and a background flush saves it
// to the shared Store as soon as it answers again, so that other replicas
// learn it. base is never canceled: a SaveResult that runs out of
// saveTimeout is the Store's failure, and the local copy must not inherit
// the expired deadline.
func (h *Handler) save(base context.Context, billno string, r store.Result) {
	base = context.WithoutCancel(base)
	if h.store == store.Store(h.local) {
		_ = h.local.SaveResult(base, billno, r, h.resultTTL)
		return
	}
	if h.shared() != store.Store(h.local) {
		ctx, cancel := context.WithTimeout(base, h.saveTimeout)
		err := h.store.SaveResult(ctx, billno, r, h.resultTTL)
		cancel()
		if err == nil {
			h.pending.drop(billno)
			return
		}
		h.storeFailed(base, "SaveResult", billno, err)
	}
	_ = h.local.SaveResult(base, billno, r, h.resultTTL)
	if h.pending.add(billno, r) {
		go h.flushPending()
	}
}

// pendingSaves are results kept locally while the shared Store failed,
// waiting to be saved there.
type pendingSaves struct {
	mu       sync.Mutex
	m        map[string]store.Result
	flushing bool
}

// add queues r and reports whether a flush must be started.
func (p *pendingSaves) add(billno string, r store.Result) (start bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = make(map[string]store.Result)
	}
	p.m[billno] = r
	if p.flushing {
		return false
	}
	p.flushing = true
	return true
}

// drop forgets billno: a newer record reached the shared Store directly.
func (p *pendingSaves) drop(billno string) {
	p.mu.Lock()
	delete(p.m, billno)
	p.mu.Unlock()
}

// done removes billno if it still holds r (a newer record may have come)
// and reports how many remain; with none left, the flush ends.
func (p *pendingSaves) done(billno string, r store.Result) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if cur, ok := p.m[billno]; ok && cur == r {
		delete(p.m, billno)
	}
	if len(p.m) == 0 {
		p.flushing = false
	}
	return len(p.m)
}

// snapshot copies the queue.
func (p *pendingSaves) snapshot() map[string]store.Result {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]store.Result, len(p.m))
	for k, v := range p.m {
		out[k] = v
	}
	return out
}

// flushPending saves the queued results to the shared Store, trying every
// StoreRetryAfter until all are saved.
func (h *Handler) flushPending() {
	for {
		time.Sleep(h.storeRetry)
		if h.flushOnce(context.Background()) == 0 {
			return
		}
	}
}

// flushOnce tries each queued result once, stopping at the first failure,
// and returns how many remain.
func (h *Handler) flushOnce(base context.Context) int {
	left := -1
	for billno, r := range h.pending.snapshot() {
		ctx, cancel := context.WithTimeout(base, h.saveTimeout)
		done, err := h.flushOne(ctx, billno, r)
		cancel()
		if err != nil {
			h.storeFailed(base, "SaveResult", billno, err)
			break
		}
		if done {
			left = h.pending.done(billno, r)
		}
	}
	if left < 0 {
		left = h.pending.done("", store.Result{})
	}
	return left
}

// flushOne saves r, kept in this process while the Store failed, under
// its number's lock (the one a settlement and a send hold), unless the
// Store holds a later word on the number: a settlement recorded meanwhile
// by another replica (a notification, a query's report) is never written
// over. done is false when the lock is busy: the next round tries again.
func (h *Handler) flushOne(ctx context.Context, billno string, r store.Result) (done bool, err error) {
	release, ok, err := h.store.TryLock(ctx, billno, h.lockTTL)
	if err != nil || !ok {
		return false, err
	}
	defer release()
	cur, found, err := h.store.Result(ctx, billno)
	if err != nil {
		return false, err
	}
	if found && !forward(cur, r) {
		h.log.LogAttrs(ctx, slog.LevelInfo, "hongbao: a result kept in this process is older than the Store's; the Store's stays",
			slog.String("billno", billno), slog.String("closed", string(cur.Closed)))
		return true, nil
	}
	return true, h.store.SaveResult(ctx, billno, r, h.resultTTL)
}

// forward reports whether r may replace cur, the Store's record of the
// same number: a number's records move from a send's trace (a refusal, a
// lost reply) to its success (the answer's material) to its settlement,
// and a settlement stays, Paid over any other.
func forward(cur, r store.Result) bool {
	rank := func(x store.Result) int {
		switch {
		case x.Closed == rail.Paid:
			return 3
		case x.Closed != "":
			return 2
		case x.Package != "":
			return 1
		}
		return 0
	}
	rc, rr := rank(cur), rank(r)
	return rr > rc || rr == rc && rc < 2
}

// shared returns the Store to use now: the configured one, or the local one
// for StoreRetryAfter after the configured one failed.
func (h *Handler) shared() store.Store {
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
