package middleware

import (
	"context"
	"time"
)

// Result is what the handler remembers of a successful send: enough to
// answer a repeat tap with fresh wx.sendBizRedPacket parameters without
// calling the platform again. It is small and serialises to JSON with the
// tags below, so a shared Store can keep it as one string value.
type Result struct {
	Billno     string    `json:"billno"`
	OpenID     string    `json:"openid"`
	Package    string    `json:"package"` // the raw package string from sendminiprogramhb
	SendListID string    `json:"send_listid"`
	Amount     int64     `json:"amount"` // fen
	PaidAt     time.Time `json:"paid_at"`
}

// Store is the state the handler shares across replicas: outcomes of sends,
// the right to send a bill number, and rate-limit counters. Every key is a
// string and every value a Result or a counter, so that an implementation
// on a key-value server (Redis, for example) is a few commands per method:
//
//   - Result / SaveResult: GET / SET key json EX ttl;
//   - TryLock: SET key token NX PX ttl, release with a compare-and-delete
//     of the token;
//   - Allow: INCR key, PEXPIRE key window when the count is 1, PTTL key.
//
// Implementations namespace the keys of each method themselves (results,
// locks and counters never share a key space) and must be safe for
// concurrent use. The handler treats any error as "the Store is
// unavailable" and degrades (see the package documentation); an error must
// therefore never be returned for a plain miss.
type Store interface {
	// Result returns the result saved for billno; ok is false when there
	// is none (never saved, or expired).
	Result(ctx context.Context, billno string) (r Result, ok bool, err error)
	// SaveResult remembers r under billno for ttl (> 0), replacing any
	// earlier value.
	SaveResult(ctx context.Context, billno string, r Result, ttl time.Duration) error
	// TryLock takes the exclusive right to key for at most ttl (> 0),
	// across every replica sharing the Store. ok is false, with a nil
	// error, when another holder has it. release gives the right up; it
	// is safe to call more than once and after ttl, and never releases a
	// lock that expired and was taken by someone else. A holder that dies
	// without releasing loses the lock when ttl ends.
	TryLock(ctx context.Context, key string, ttl time.Duration) (release func(), ok bool, err error)
	// Allow counts one event for key and reports whether at most limit
	// (> 0) events happened in the current window (> 0) of key. When not
	// ok, retryAfter is how long until the window ends. The window is
	// fixed: it starts with the first event after the previous window
	// ended, so a burst of up to 2*limit may straddle two windows.
	Allow(ctx context.Context, key string, limit int, window time.Duration) (ok bool, retryAfter time.Duration, err error)
}
