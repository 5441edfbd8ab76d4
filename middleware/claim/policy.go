package claim

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/hongbao-go/hongbao/middleware/jwtauth"
	"github.com/hongbao-go/hongbao/rail"
)

// Grant is the red packet a Policy grants to a user: everything of the send
// except the openid, which is always the verified user's.
//
//	claim.Grant{Key: "spring-2026", Payout: rail.Payout{Amount: 100, SendName: "Shop",
//		Wishing: "Happy new year", ActName: "New year", Remark: "Thanks"}}
type Grant struct {
	// Key is what makes two taps the same red packet, for example the
	// campaign id ("spring-2026"), or campaign and day for a daily packet.
	// The bill number is derived from Key and the openid, so a user gets
	// at most one red packet per Key, whatever happens. Required.
	Key string
	// Payout is what the grant pays: the amount in fen and the texts (see
	// rail.Payout, and the rail's documentation for their limits). Its
	// fields read as the grant's own (g.Amount). The first grant decided
	// is the one paid: its Payout is recorded (store.Terms) and sent on
	// every tap.
	rail.Payout
	// Campaign names the budget the grant counts against
	// (HandlerConfig.Budgets); empty means Key. Grants with daily keys
	// ("spring/day-3") share one campaign ("spring") this way.
	Campaign string
	// Reclaim lets a user whose packet was refunded unopened (the
	// platform's REFUND, 24 hours after the send) claim again: the next tap
	// pays the same terms under the grant's next bill number. Off, such a
	// tap is answered 410 "claim_window_expired".
	Reclaim bool
}

// Validate checks g as r checks a payout (rail.Rail.Check): for the red
// packet the amount, the texts' lengths, scene_id where the amount needs
// one; and a non-empty Key. The handler answers a grant that fails it 500
// "policy_error"; a policy (or a program at start-up) may call it to catch
// a bad campaign early. The error wraps the rail's (a
// *hongbao.ValidationError naming the field, for the red packet), or is an
// error for the Key.
func (g Grant) Validate(r rail.Rail) error {
	if g.Key == "" {
		return errors.New("claim: the grant's key is empty")
	}
	return r.Check(g.Payout)
}

// Policy decides, on the server, whether and what the user gets. body is
// the request body (nil when empty; otherwise a JSON value of at most
// HandlerConfig.MaxBodyBytes): whatever it says is the client's claim, to
// be trusted only as far as the policy checks it. The handler never reads
// an amount or an openid from it.
//
// A policy refuses with a *Refusal, or any error wrapping ErrRefused
// (answered 403); any other error is answered 500 "policy_error" and
// logged, as is a grant that breaks a platform rule (an empty Key, an
// amount out of range): both are the server's errors, not the client's.
// Grant is called once per tap, including repeat taps, before any stored
// result is looked up; but only the first grant decided for a (Key, openid)
// is paid: its terms are recorded before the first send and every later
// tap reuses them (see Terms), so a policy may draw a random amount on each
// call. RandomAmount draws one that is the same on every call anyway.
type Policy interface {
	Grant(ctx context.Context, user jwtauth.User, body []byte) (Grant, error)
}

// PolicyFunc adapts a function to Policy.
type PolicyFunc func(ctx context.Context, user jwtauth.User, body []byte) (Grant, error)

// Grant calls f.
func (f PolicyFunc) Grant(ctx context.Context, user jwtauth.User, body []byte) (Grant, error) {
	return f(ctx, user, body)
}

// ErrRefused is matched by every refusal of a Policy.
var ErrRefused = errors.New("claim: red packet refused")

// Refusal is a Policy's refusal, answered 403 with its Code and Message,
// which are sent to the client as they are: Code should be a short
// snake_case string ("campaign_over"), Message a fixed text without
// secrets. Empty fields mean "refused" and a generic message.
type Refusal struct {
	Code    string
	Message string
}

func (r *Refusal) Error() string { return "claim: red packet refused: " + r.code() }

// Is makes errors.Is(r, ErrRefused) true.
func (r *Refusal) Is(target error) bool { return target == ErrRefused }

func (r *Refusal) code() string {
	if r == nil || r.Code == "" {
		return "refused"
	}
	return r.Code
}

func (r *Refusal) message() string {
	if r == nil || r.Message == "" {
		return "the red packet is not available"
	}
	return r.Message
}

// RandomAmount returns an amount in fen drawn uniformly from [min, max]
// and determined by its inputs: the same secret, key and openID give the
// same amount on every call, replica and restart. secret (at least 16
// bytes, kept private so users cannot predict their draw) keys an
// HMAC-SHA256 over key and openID; the draw rejects the digest values that
// would bias the modulo. It is meant for policies that want a random amount
// per user and grant, for example
//
//	amount, err := claim.RandomAmount(secret, grantKey, user.OpenID, 100, 500)
//
// The handler pays the first terms recorded for a grant whatever a later
// draw says; RandomAmount also keeps the draw stable when those records are
// lost.
func RandomAmount(secret []byte, key, openID string, min, max int64) (int64, error) {
	if len(secret) < 16 {
		return 0, errors.New("claim: RandomAmount needs a secret of at least 16 bytes")
	}
	if min <= 0 || max < min {
		return 0, fmt.Errorf("claim: RandomAmount range [%d, %d] is not a positive range of fen", min, max)
	}
	span := uint64(max-min) + 1
	// The largest multiple of span that fits in 64 bits: values at or
	// above it would make the low results more likely.
	limit := (^uint64(0) / span) * span
	m := hmac.New(sha256.New, secret)
	var n [8]byte
	for _, part := range []string{key, openID} {
		binary.BigEndian.PutUint64(n[:], uint64(len(part)))
		m.Write(n[:])
		io.WriteString(m, part)
	}
	for counter := uint64(0); ; counter++ {
		h := hmac.New(sha256.New, secret)
		h.Write(m.Sum(nil))
		binary.BigEndian.PutUint64(n[:], counter)
		h.Write(n[:])
		v := binary.BigEndian.Uint64(h.Sum(nil))
		if v < limit {
			return min + int64(v%span), nil
		}
	}
}
