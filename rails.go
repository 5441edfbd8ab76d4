package hongbao

import (
	"context"
	"log/slog"
	"time"
)

// What the APIv3 transfer rail (package transfer) shares with the red
// packets: the bill number derivation, the flow control and the retry
// policy.

// transferDomain separates the transfer numbers' HMAC inputs from the red
// packets': '/' and '-' are in no mch_id, so no input of one is an input
// of the other.
const transferDomain = "mch-transfer/transfer-bills"

// TransferBillnoLength is the length of DeriveTransferBillno's numbers,
// the longest out_bill_no the platform accepts.
const TransferBillnoLength = 32

// DeriveTransferBillno returns the out_bill_no of attempt n (n >= 0) of
// the grant (grantKey, openID) for an APIv3 transfer bill: mchID followed
// by base62 characters of an HMAC-SHA256 under key, 32 characters. It is
// DeriveAttemptBillno's scheme with the same key, inputs and rules, in a
// domain of its own: a transfer number never equals a red packet's number
// (nor has its length), so a grant paid on one rail cannot collide with a
// grant on the other.
func DeriveTransferBillno(key []byte, mchID, grantKey, openID string, attempt int) (string, error) {
	return deriveNumber(key, transferDomain, mchID, grantKey, openID, attempt, TransferBillnoLength)
}

// Pacer is FlowControl's pacing for calls other than the red-packet sends:
// package transfer paces the transfer-bills calls with it. It is safe for
// concurrent use.
type Pacer struct{ p *pacer }

// NewPacer returns a Pacer following f. key names the budget shared
// through f.Shared (the red-packet sends use "send:" and the mch_id; use a
// key of the kind of call and the merchant); defaultPerMinute is the rate
// when f.SendsPerMinute is 0. log receives the fallback to local pacing
// when f.Shared fails; nil means slog.Default().
func NewPacer(f FlowControl, key string, defaultPerMinute int, log *slog.Logger) (*Pacer, error) {
	if log == nil {
		log = slog.Default()
	}
	p, err := newPacerFor(f, key, defaultPerMinute, log)
	if err != nil {
		return nil, err
	}
	return &Pacer{p: p}, nil
}

// Wait blocks until a call may go (nil). When the call would have to wait
// longer than FlowControl.MaxWait it returns at once ErrThrottled with the
// wait it would have needed (at most 5 s); nothing was sent, so the same
// call may simply be made again later. When ctx ends while waiting it
// returns ctx's error.
func (p *Pacer) Wait(ctx context.Context, now time.Time) (retryAfter time.Duration, err error) {
	return p.p.turn(ctx, now)
}

// Limited halves the rate after a rate-limit answer (at most once a
// second).
func (p *Pacer) Limited(now time.Time) { p.p.freqLimited(now) }

// Succeeded wins back a fiftieth of the configured rate.
func (p *Pacer) Succeeded(now time.Time) { p.p.succeeded(now) }

// PerMinute returns the calls a minute the Pacer allows now (0: off).
func (p *Pacer) PerMinute() float64 { return p.p.perMinute() }

// WithDefaults returns p with its zero fields set to their defaults, or an
// error for a negative value.
func (p RetryPolicy) WithDefaults() (RetryPolicy, error) { return p.withDefaults() }

// Backoff returns the wait before retry number n (1 for the first retry):
// BaseDelay doubled per retry up to MaxDelay, drawn from its upper half.
// Call it on a policy with its defaults set.
func (p RetryPolicy) Backoff(n int) time.Duration { return p.backoff(n) }
