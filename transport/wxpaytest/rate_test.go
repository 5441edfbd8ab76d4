package wxpaytest

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestSlidingWindow feeds random arrival times and checks the promise
// against every span: no more than limit events through in any span, and
// an event is refused only when limit went through in the span before it.
func TestSlidingWindow(t *testing.T) {
	const limit, span = 5, 100 * time.Millisecond
	w := newSlidingWindow(limit, span)
	t0 := time.Unix(1e9, 0)
	now := t0
	var through []time.Time
	for range 5000 {
		now = now.Add(time.Duration(rand.IntN(int(span / 4))))
		inSpan := 0
		for _, at := range through {
			if now.Sub(at) < span {
				inSpan++
			}
		}
		ok := w.allow(now)
		if ok != (inSpan < limit) {
			t.Fatalf("at %v: allow = %v with %d through in the span before", now.Sub(t0), ok, inSpan)
		}
		if ok {
			through = append(through, now)
		}
		if len(through) > 2*limit {
			through = through[len(through)-limit:]
		}
	}
}
