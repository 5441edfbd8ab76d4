package wxpaytest

import (
	"sync"
	"time"
)

// slidingWindow lets at most limit events through in any span: it keeps
// the times of the last limit events let through, and lets a new one
// through when the oldest of them is at least span old.
type slidingWindow struct {
	span time.Duration

	mu    sync.Mutex
	times []time.Time // a ring of the last len(times) events let through
	next  int         // the oldest of them, once the ring is full
	full  bool
}

func newSlidingWindow(limit int, span time.Duration) *slidingWindow {
	return &slidingWindow{span: span, times: make([]time.Time, limit)}
}

// allow reports whether an event at now may go through, and counts it
// when it may.
func (w *slidingWindow) allow(now time.Time) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.full && now.Sub(w.times[w.next]) < w.span {
		return false
	}
	w.times[w.next] = now
	w.next++
	if w.next == len(w.times) {
		w.next, w.full = 0, true
	}
	return true
}
