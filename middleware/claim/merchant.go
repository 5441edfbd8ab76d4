package claim

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/hongbao-go/hongbao/rail"
	"github.com/hongbao-go/hongbao/store"
)

// The merchant's state: whether it can pay, shared by every replica
// through the Store. A merchant refusal (rail.RefusedMerchant: the red
// packet's NOTENOUGH, SENDAMOUNT_LIMIT, API_METHOD_CLOSED,
// PRODUCT_AUTHORITY_UNOPEN; the transfer's NOT_ENOUGH) that the platform
// made on the spot opens an outage; during it no tap sends anything (503
// merchant_unavailable with Retry-After), so that users' numbers are not
// refused and closed one after another, except one probe at a time once
// the probe time has come (one send, under a lock in the Store). A failed
// probe doubles the probe time, up to maxProbeFactor times MerchantProbe;
// the first probe paid ends the outage.
//
// A probe is chosen so that it costs no user a number: a resend of a
// refused number (the platform may pay it once the operator has acted), a
// grant's first send, or a move after a number closed for another reason.
// A grant's move past a number this outage closed ("costly": if it is
// refused too, the grant has lost two numbers) probes only when no other
// probe came for a whole probe time, and each grant less often each time
// (4 times the wait per number the outage closed), so that an outage costs
// a grant one number when other users can probe, and few when none can.
// Resends of a number whose reply was lost (it may have paid) are not
// held back.

// DefaultMerchantProbe is the default of HandlerConfig.MerchantProbe.
const DefaultMerchantProbe = 30 * time.Second

// maxProbeFactor bounds the probe time of an outage: MerchantProbe doubles
// after each failed probe up to this many times itself.
const maxProbeFactor = 4

var errMerchantDown = errors.New("claim: the merchant could not pay lately; the next probe is not due")

// merchantState is what the handler knows of the merchant's ability to
// pay.
type merchantState struct {
	Code    string    // the refusal that opened the outage; empty when the merchant pays
	Down    time.Time // when the outage was seen first
	ProbeAt time.Time // when the next probe may go
	Probes  int64     // probes refused since Down
	Up      time.Time // the start of the send that ended the last outage
}

func (st merchantState) down() bool { return st.Code != "" }

// The state is kept in the Store as a Result under gateKey (a key no bill
// number can take, since bill numbers hold letters and digits only):
// Refused the code, At Down, CheckedAt ProbeAt, Amount Probes, PaidAt Up.
func (st merchantState) result(key string) store.Result {
	return store.Result{Billno: key, Refused: st.Code, At: st.Down, CheckedAt: st.ProbeAt, Amount: st.Probes, PaidAt: st.Up}
}

func merchantStateOf(r store.Result) merchantState {
	return merchantState{Code: r.Refused, Down: r.At, ProbeAt: r.CheckedAt, Probes: r.Amount, Up: r.PaidAt}
}

// gateKey is the Store key of the merchant's state and probe lock: one per
// rail and merchant account (the rail's Name).
func (h *Handler) gateKey() string { return "merchant:" + h.railName }

// merchantState reads the merchant's state (the zero state, "it pays",
// when the Store holds none).
func (h *Handler) merchantState(ctx context.Context) merchantState {
	r, ok := h.lookup(ctx, h.gateKey())
	if !ok {
		return merchantState{}
	}
	return merchantStateOf(r)
}

// merchantWait holds a send back while the merchant cannot pay, unless it
// is the probe; release gives the probe up. known tells whether the Store
// holds a record of the number to send.
func (h *Handler) merchantWait(ctx context.Context, run *grantRun, known bool) (release func(), err error) {
	st := h.merchantState(ctx)
	run.merchant = st
	if !st.down() {
		return func() {}, nil
	}
	now := h.now()
	at := st.ProbeAt
	if n, last := run.outageMoves(st, known); n > 0 {
		at = later(st.ProbeAt.Add(h.merchantProbe), last.Add(h.merchantProbe*time.Duration(grantProbeFactor(n))))
	}
	if now.Before(at) {
		return nil, merchantUnavailable(run.billno, at.Sub(now), errMerchantDown)
	}
	unlock, ok, err := h.shared().TryLock(ctx, h.gateKey(), h.lockTTL)
	if err != nil {
		h.storeFailed(ctx, "TryLock", h.gateKey(), err)
		unlock, ok, _ = h.local.TryLock(context.WithoutCancel(ctx), h.gateKey(), h.lockTTL)
	}
	if !ok {
		return nil, merchantUnavailable(run.billno, retryAfterInProgress, errMerchantDown)
	}
	run.probing = true
	return func() {
		run.probing = false
		unlock()
	}, nil
}

// outageMoves reports, for a new number (not known to the Store), how
// many of the grant's numbers the outage st closed after merchant
// refusals (refusals made since the merchant last paid a probe), when the
// last number passed is one of them, and when that one was refused; 0
// otherwise.
func (run *grantRun) outageMoves(st merchantState, known bool) (n int, lastRefused time.Time) {
	if known || len(run.closed) == 0 {
		return 0, time.Time{}
	}
	inOutage := func(r store.Result) bool { return refusalOf(r) == rail.RefusedMerchant && r.At.After(st.Up) }
	last := run.closed[len(run.closed)-1]
	if !inOutage(last) {
		return 0, time.Time{}
	}
	for _, r := range run.closed {
		if inOutage(r) {
			n++
		}
	}
	return n, last.At
}

// grantProbeFactor is 4^n, bounded.
func grantProbeFactor(n int) int64 {
	return 1 << (2 * min(n, 15))
}

// merchantRefused records a merchant refusal made on the spot at now and
// returns how long until the next probe: it opens an outage, or, after a
// refused probe, doubles the probe time.
func (h *Handler) merchantRefused(ctx context.Context, run *grantRun, code string, now time.Time) time.Duration {
	st := run.merchant
	if !st.down() {
		// Another replica may have seen the outage first: its start
		// and probe time stand.
		st = h.merchantState(ctx)
	}
	switch {
	case !st.down():
		st = merchantState{Code: code, Down: now, ProbeAt: now.Add(h.merchantProbe), Up: st.Up}
		h.log.LogAttrs(ctx, slog.LevelWarn, "hongbao: the merchant cannot pay: sends wait for a probe",
			slog.String("err_code", code), slog.String("billno", run.billno), slog.Duration("probe", h.merchantProbe))
	case run.probing:
		st.Probes++
		st.ProbeAt = now.Add(min(h.merchantProbe<<min(st.Probes, 16), maxProbeFactor*h.merchantProbe))
	default:
		return st.ProbeAt.Sub(now)
	}
	run.merchant = st
	h.save(ctx, h.gateKey(), st.result(h.gateKey()))
	return st.ProbeAt.Sub(now)
}

// merchantPaid ends the outage when the probe, sent at start, was paid.
func (h *Handler) merchantPaid(ctx context.Context, run *grantRun, start time.Time) {
	st := run.merchant
	if !run.probing || !st.down() || !start.After(st.Down) {
		return
	}
	run.merchant = merchantState{Up: start}
	h.save(ctx, h.gateKey(), run.merchant.result(h.gateKey()))
	h.log.LogAttrs(ctx, slog.LevelInfo, "hongbao: the merchant pays again", slog.String("billno", run.billno),
		slog.Duration("outage", start.Sub(st.Down)), slog.Int64("probes_refused", st.Probes))
}

// merchantUnavailable is the answer while the merchant cannot pay: the
// answer to a merchant refusal, with a Retry-After.
func merchantUnavailable(billno string, wait time.Duration, cause error) *HandlerError {
	e := classifyRail(rail.RefusedMerchant, cause)
	e.RetryAfter, e.Billno = max(wait, time.Second), billno
	return e
}
