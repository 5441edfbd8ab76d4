package wxpaytest

import "sync"

// faultQueue holds the injected faults of one half of the server (Fault or
// V3Fault) until matching calls use them up.
type faultQueue[F any] struct {
	mu      sync.Mutex
	pending []*pendingFault[F]
}

type pendingFault[F any] struct {
	f    F
	left int
}

// push queues f for times calls; 0 or less means 1.
func (q *faultQueue[F]) push(f F, times int) {
	if times <= 0 {
		times = 1
	}
	q.mu.Lock()
	q.pending = append(q.pending, &pendingFault[F]{f: f, left: times})
	q.mu.Unlock()
}

// take consumes one use of the first pending fault, in the order they
// were injected, for which matches reports true. matches is called with
// the queue locked.
func (q *faultQueue[F]) take(matches func(F) bool) (F, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, pf := range q.pending {
		if !matches(pf.f) {
			continue
		}
		if pf.left--; pf.left == 0 {
			q.pending = append(q.pending[:i:i], q.pending[i+1:]...)
		}
		return pf.f, true
	}
	var none F
	return none, false
}

// clear forgets the pending faults.
func (q *faultQueue[F]) clear() {
	q.mu.Lock()
	q.pending = nil
	q.mu.Unlock()
}
