package store

import (
	"context"
	"time"

	"github.com/hongbao-go/hongbao/rail"
)

// Result is what the claim handler knows of one bill number (one attempt of
// a grant): a successful send, with the material of the page's answer, so
// that a repeat tap is answered without calling the platform again; or a
// number the platform reported closed; or a definitive refusal not yet
// proven closed. It is small and serialises to JSON with the tags below, so
// a shared Store can keep it as one string value.
type Result struct {
	Billno string `json:"billno"`
	OpenID string `json:"openid"`
	// Rail is the Name of the rail that paid it ("redpacket:<mch_id>");
	// empty in results saved before rails, all of the red packet.
	Rail string `json:"rail,omitempty"`
	// Package is the material of the page's answer (rail.Sent.Answer):
	// the red packet's package, the transfer's package_info.
	Package string `json:"package,omitempty"`
	// SendListID is the platform's number of the payout (rail.Sent.Order).
	SendListID string `json:"send_listid,omitempty"`
	Amount     int64  `json:"amount"` // fen
	// PaidAt is when the platform made the payout: the start of the send
	// that paid, or the platform's own time (a query, the send's answer),
	// which the handler asks for when an earlier send of the number lost
	// its reply. Never later than the real payout, never an earlier
	// moment unless Exact is false.
	PaidAt time.Time `json:"paid_at,omitzero"`
	// Exact reports that PaidAt is the send's own time or the platform's.
	// A result without it (an estimate: the start of a send whose reply
	// was lost, or a result of an older version) is checked with the
	// platform before its claim window is said to be over.
	Exact bool `json:"exact,omitempty"`
	// Closed is the state in which the platform reported this number
	// settled: rail.Closed (no money left the merchant), rail.Returned (the
	// payout was never opened and its money came back), rail.Cancelled, or
	// rail.Paid (the user has it and there is nothing left to open).
	// Package is then empty. Results saved before rails hold the red
	// packet's words, FAILED and REFUND, which package redisstore reads as
	// rail.Closed and rail.Returned.
	Closed rail.State `json:"closed,omitempty"`
	// Refused is the platform's code of a definitive refusal of this
	// number (NOTENOUGH, SEND_FAILED, ...) that the platform has not
	// reported closed (yet): the next tap sends the same number again. A
	// closed number keeps the refusal that preceded its closing.
	Refused string `json:"refused,omitempty"`
	// At is when Closed or Refused was learnt.
	At time.Time `json:"at,omitzero"`
	// CheckedAt is when the platform was last asked about a refused
	// number, or about an offer past its claim window still waiting for
	// the user's confirmation, so that taps do not ask it each time.
	CheckedAt time.Time `json:"checked_at,omitzero"`
	// Refusal is the rail's state of Refused (rail.RefusedMerchant,
	// RefusedUser, RefusedRisk, Failed): what the refusal holds back.
	// Empty in results of older versions, which hold the red packet's
	// codes.
	Refusal rail.State `json:"refusal,omitempty"`
	// LostAt is the start of the earliest send of this number whose
	// outcome is unknown (its reply was lost) since its last refusal: if
	// that send paid, the packet dates from then. It is a hint for
	// PaidAt, never an answer: the next tap sends the same number again.
	LostAt time.Time `json:"lost_at,omitzero"`
	// Campaign is the budget account the number counts against (the
	// grant's Campaign, or its Key), empty when it counts against none:
	// news of the number that the platform pushes later (a notification)
	// settles that account.
	Campaign string `json:"campaign,omitempty"`
}

// Paid reports whether r is a successful send that can be handed out.
func (r Result) Paid() bool { return r.Package != "" && r.Closed == "" }

// Terms are what a grant pays: its rail.Payout, recorded in the Store
// before the grant's first send and reused by every later tap on every
// replica, whatever the Policy says then, so a policy that draws a random
// amount pays the first amount drawn. Terms recovered from the platform
// replace recorded ones. The payout's fields serialise at the top level of
// the JSON object, beside the fields below.
type Terms struct {
	rail.Payout
	// DecidedAt is when the terms were recorded (before the first send),
	// or the platform's time of terms recovered from it.
	DecidedAt time.Time `json:"decided_at"`
	// Recovered marks terms read back from the platform.
	Recovered bool `json:"recovered,omitempty"`
	// Key and OpenID name the grant, so that an operator's tool can
	// derive its later bill numbers from its terms alone.
	Key    string `json:"key,omitempty"`
	OpenID string `json:"openid,omitempty"`
	// Campaign is the budget the grant counts against when it is not
	// Key (claim.Grant.Campaign), so that a rebuild of a campaign's
	// account finds its grants.
	Campaign string `json:"campaign,omitempty"`
}

// Store is the state the claim handler shares across replicas: the terms of
// grants, outcomes of sends, the right to send a bill number, and
// rate-limit counters. Every key is a string and every value a Terms, a
// Result or a counter, so that an implementation on a key-value server
// (Redis, for example) is a few commands per method, each on one key:
//
//   - Terms / AddTerms / SaveTerms: GET / SET key json NX PX ttl (then GET
//     when it was there) / SET key json PX ttl;
//   - Result / SaveResult: GET / SET key json EX ttl;
//   - TryLock: SET key token NX PX ttl, release with a compare-and-delete
//     of the token;
//   - Allow: INCR key, PEXPIRE key window when the count is 1, PTTL key.
//
// Implementations namespace the keys of each method themselves (results,
// locks and counters never share a key space) and must be safe for
// concurrent use. The claim handler treats any error as "the Store is
// unavailable" and degrades (see package claim); an error must
// therefore never be returned for a plain miss.
type Store interface {
	// AddTerms records t under key (a grant: its attempt-0 bill number)
	// for ttl (> 0) unless terms are recorded there already, and returns
	// the recorded terms: t and added=true when it was first, the earlier
	// terms otherwise. It must be atomic across every replica sharing the
	// Store: of two concurrent calls, one adds and both return its terms.
	AddTerms(ctx context.Context, key string, t Terms, ttl time.Duration) (recorded Terms, added bool, err error)
	// SaveTerms records t under key for ttl, replacing earlier terms (the
	// handler does so only with terms recovered from the platform).
	SaveTerms(ctx context.Context, key string, t Terms, ttl time.Duration) error
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
	// without releasing loses the lock when ttl ends. When TryLock fails
	// with an error (a timeout, say) after the server may have taken the
	// lock, the implementation gives it up itself (by its token), so that
	// no lock outlives a call that reported failure.
	TryLock(ctx context.Context, key string, ttl time.Duration) (release func(), ok bool, err error)
	// Budget applies op to campaign's budget account and returns the
	// account after it; ok reports whether a BudgetReserve was granted
	// (true for the other steps). The account holds one entry per bill
	// number (its amount, reserved or committed) and the sums, and every
	// step must be atomic across replicas: on a key-value server, one
	// script on one key per campaign. See BudgetStep for each step.
	Budget(ctx context.Context, campaign string, op BudgetOp) (st BudgetState, ok bool, err error)
	// Allow counts one event for key and reports whether at most limit
	// (> 0) events happened in the current window (> 0) of key. When not
	// ok, retryAfter is how long until the window ends. The window is
	// fixed: it starts with the first event after the previous window
	// ended, so a burst of up to 2*limit may straddle two windows.
	Allow(ctx context.Context, key string, limit int, window time.Duration) (ok bool, retryAfter time.Duration, err error)
}
