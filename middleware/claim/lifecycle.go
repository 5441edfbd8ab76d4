package claim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/hongbao-go/hongbao/rail"
	"github.com/hongbao-go/hongbao/store"
)

// The grant lifecycle: a grant (Key, openid) is paid under a sequence of
// bill numbers, attempt 0, 1, 2 ... (rail.Rail.Billno). Its terms are
// recorded before the first send and reused by every tap. The handler moves
// from attempt n to n+1 only when the platform itself reports attempt n
// closed: rail.Closed, or rail.Returned and rail.Cancelled when the grant
// allows re-claims. Anything else (pending, waiting, paid, not found, an
// unknown outcome, a code the rail does not know) keeps attempt n, which
// the platform pays at most once. The lifecycle acts on rail states only.

// recheckAfter is how long the platform's answer about a refused number is
// trusted before a tap asks again.
const recheckAfter = 30 * time.Second

// grantRun is the walk of one tap through a grant's attempts. It runs
// detached from the request (a payout is never cut short by a user leaving)
// and once per grant at a time in this process.
type grantRun struct {
	grant  Grant
	openID string
	id     string // the attempt-0 bill number, the key of the grant's terms
	terms  store.Terms
	// fresh: the terms were recorded by this run, so the Store knew
	// nothing of the grant; the platform is asked before each send.
	fresh bool
	// lower is the latest moment known to precede any send of the
	// current attempt that could pay: PaidAt of a success.
	lower time.Time
	// sentAt is the platform's time of the current attempt's payout,
	// when known (a query, the send's answer).
	sentAt time.Time
	// billno and attempt are where the walk stands, for the log.
	billno  string
	attempt int
}

// errAttemptsExhausted is answered when every attempt a grant may use was
// closed by the platform.
var errAttemptsExhausted = errors.New("claim: every attempt of the grant was closed by the platform")

// claim walks the grant's attempts and returns the paid result to hand out,
// or the error to answer.
func (h *Handler) claim(ctx context.Context, run *grantRun) (store.Result, string, error) {
	first := store.Terms{Payout: run.grant.Payout, DecidedAt: h.now(), Key: run.grant.Key, OpenID: run.openID}
	run.terms, run.fresh = h.recordTerms(ctx, run.id, first)
	run.lower = run.terms.DecidedAt
	for n := 0; n < h.maxAttempts; n++ {
		billno := run.id
		if n > 0 {
			var err error
			if billno, err = h.rail.Billno(run.grant.Key, run.openID, n); err != nil {
				return store.Result{}, "", err
			}
			run.sentAt = time.Time{}
		}
		run.billno, run.attempt = billno, n
		res, src, next, err := h.attempt(ctx, run, billno)
		if !next {
			return res, src, err
		}
	}
	e := newError(http.StatusGone, "attempts_exhausted", "this red packet could not be delivered", errAttemptsExhausted)
	e.Billno = run.billno
	return store.Result{}, "", e
}

// attempt settles one attempt: the result to answer, or next=true when the
// platform has reported billno closed and the walk moves on.
func (h *Handler) attempt(ctx context.Context, run *grantRun, billno string) (res store.Result, src string, next bool, err error) {
	prev, known := h.lookup(ctx, billno)
	if known {
		if prev.Paid() || prev.Closed != "" {
			return h.settled(ctx, run, prev, "store")
		}
		run.lower = later(run.lower, prev.At)
	}
	if run.fresh && !known {
		// The Store knew nothing of this grant: a new grant, or records
		// lost. Ask the platform where this number stands before
		// sending, so that a lost record can never make the handler
		// skip back to a refunded number or pay other terms.
		closed, err := h.recoverFrom(ctx, run, billno)
		if err != nil || closed {
			return store.Result{}, "", closed && err == nil, err
		}
	}
	if run.attempt > 0 && !known {
		// A new number goes through the merchant gate (merchant.go).
		release, ok := h.probe(ctx)
		if !ok {
			e := newError(http.StatusServiceUnavailable, "merchant_unavailable", "red packets are not available at the moment", errMerchantDown)
			e.RetryAfter, e.Billno = h.merchantProbe, billno
			return store.Result{}, "", false, e
		}
		defer func() {
			if !isMerchantRefusal(err) {
				release() // kept after a merchant refusal: it expires
			}
		}()
	}
	// The budget: the number's amount is reserved before its first send
	// (again on every run: the step is idempotent).
	if err := h.reserve(ctx, run, billno); err != nil {
		return store.Result{}, "", false, err
	}
	res, src, err = h.sendAttempt(ctx, run, billno)
	if err == nil {
		return h.settled(ctx, run, res, src)
	}
	return h.afterFailure(ctx, run, billno, prev, err)
}

// settled answers a record that settles its number: a success (paid), or
// the platform's report that the number is closed (the walk moves on, or,
// for a payout returned or cancelled without re-claims, 410), or that the
// user has it with nothing left to open.
func (h *Handler) settled(ctx context.Context, run *grantRun, r store.Result, src string) (store.Result, string, bool, error) {
	switch {
	case r.Closed == "":
		h.commitOffer(ctx, run, r)
		return h.paid(ctx, run, r, src)
	case r.Closed == rail.Paid:
		h.commit(ctx, run, r)
		return store.Result{}, "", false, errReceived(r.Billno)
	case run.closedAllowsNext(r.Closed):
		run.lower = later(run.lower, r.At)
		return store.Result{}, "", true, nil
	}
	return store.Result{}, "", false, errExpired(r.Billno, "the platform reports it "+string(r.Closed))
}

// paid answers a stored success, or moves on when its claim window is over
// and the platform reports the payout returned to a grant that allows
// re-claims.
func (h *Handler) paid(ctx context.Context, run *grantRun, r store.Result, src string) (store.Result, string, bool, error) {
	if h.now().Sub(r.PaidAt) < h.claimWindow {
		return r, src, false, nil
	}
	_, _, counted := h.budgetOf(run.grant)
	if !run.grant.Reclaim && !counted {
		return store.Result{}, "", false, errExpired(r.Billno, "paid at "+r.PaidAt.Format(time.RFC3339))
	}
	// Re-claims, or a budget the refund gives back to: ask the platform.
	bill, err := h.query(ctx, r.Billno)
	if err != nil {
		return store.Result{}, "", false, errExpired(r.Billno, "query: "+err.Error())
	}
	switch bill.State {
	case rail.Returned, rail.Cancelled:
		h.close(ctx, run, r.Billno, bill.State)
		if !run.grant.Reclaim {
			return store.Result{}, "", false, errExpired(r.Billno, "the platform reports it "+bill.Status)
		}
		return store.Result{}, "", true, nil
	case rail.Paid, rail.Waiting:
		// The user has it, or may still confirm it (waiting.go).
		if res, ok, err := h.stillOffered(ctx, run, r, bill); ok {
			return res, src, false, err
		}
	}
	return store.Result{}, "", false, errExpired(r.Billno, "the platform reports "+bill.Status)
}

// recoverFrom asks the platform about billno before a fresh grant sends it.
// closed: the number is closed and the walk moves on. Otherwise the send
// goes ahead, with the platform's terms when it already holds a payout.
func (h *Handler) recoverFrom(ctx context.Context, run *grantRun, billno string) (closed bool, err error) {
	bill, err := h.query(ctx, billno)
	if err != nil || bill.State == rail.NotFound {
		// No answer, or nothing there: sending the same number is safe.
		return false, nil
	}
	if next, settled, err := h.closedByPlatform(ctx, run, billno, bill); settled {
		return next, err
	}
	h.adoptTerms(ctx, run, bill)
	return false, nil
}

// closedByPlatform records a query's report that billno is closed
// (settled): next when the walk moves on, else the 410 to answer.
func (h *Handler) closedByPlatform(ctx context.Context, run *grantRun, billno string, bill rail.Bill) (next, settled bool, err error) {
	switch bill.State {
	case rail.Closed:
		h.close(ctx, run, billno, bill.State)
		return true, true, nil
	case rail.Returned, rail.Cancelled:
		h.close(ctx, run, billno, bill.State)
		if run.closedAllowsNext(bill.State) {
			return true, true, nil
		}
		return false, true, errExpired(billno, "the platform reports it "+bill.Status)
	}
	return false, false, nil
}

// afterFailure decides what a failed send of billno means for the grant.
func (h *Handler) afterFailure(ctx context.Context, run *grantRun, billno string, prev store.Result, err error) (store.Result, string, bool, error) {
	var re *rail.Error
	if !errors.As(err, &re) {
		return store.Result{}, "", false, err
	}
	switch st := re.State; {
	case st == rail.Closed:
		// The platform reported the number closed (the red packet's
		// PROCESSING, then gethbinfo FAILED).
		h.close(ctx, run, billno, st)
		return store.Result{}, "", true, nil
	case st == rail.Paid:
		// The user has it and there is nothing left to open.
		h.remember(ctx, run, billno, store.Result{Closed: rail.Paid})
		return h.settled(ctx, run, store.Result{Billno: billno, Amount: run.terms.Amount, Closed: rail.Paid}, "platform")
	case st == rail.Returned || st == rail.Cancelled:
		// The send found the number closed (a transfer bill that
		// closed unconfirmed, or was cancelled).
		next, _, err := h.closedByPlatform(ctx, run, billno, rail.Bill{State: st, Status: re.Code})
		return store.Result{}, "", next, err
	case st == rail.Conflict:
		return h.recoverTerms(ctx, run, billno, err)
	case st == rail.Failed:
		return h.refused(ctx, run, billno, prev, re.Code, err, true)
	case st.Refused():
		if prev.Refused == "" && run.attempt == 0 && st == rail.RefusedMerchant {
			h.merchantDown(ctx)
		}
		return h.refused(ctx, run, billno, prev, re.Code, err, prev.Refused != "")
	}
	// Unknown (never move on from it), throttled, rejected, invalid,
	// unrecognized: nothing moves.
	return store.Result{}, "", false, err
}

// refused handles a definitive refusal of billno: when ask, the platform is
// asked whether the number is closed (unless it was asked recently); the
// refusal is remembered either way.
func (h *Handler) refused(ctx context.Context, run *grantRun, billno string, prev store.Result, code string, err error, ask bool) (store.Result, string, bool, error) {
	now := h.now()
	r := store.Result{Refused: code, CheckedAt: prev.CheckedAt}
	if r.Refused == "" {
		r.Refused = string(rail.StateOf(err))
	}
	if ask && (prev.CheckedAt.IsZero() || now.Sub(prev.CheckedAt) >= recheckAfter) {
		bill, qerr := h.query(ctx, billno)
		if qerr == nil && bill.State == rail.Closed {
			h.close(ctx, run, billno, bill.State)
			return store.Result{}, "", true, nil
		}
		r.CheckedAt = now
	}
	h.remember(ctx, run, billno, r)
	return store.Result{}, "", false, err
}

// recoverTerms handles a conflict: the platform holds billno with other
// terms (the records of the first send were lost and the policy decided
// differently). The paid terms are read back from the platform, recorded,
// and sent again to obtain the answer material of the payout.
func (h *Handler) recoverTerms(ctx context.Context, run *grantRun, billno string, conflict error) (store.Result, string, bool, error) {
	bill, err := h.query(ctx, billno)
	if err != nil || bill.State == rail.NotFound {
		return store.Result{}, "", false, conflict
	}
	if next, settled, err := h.closedByPlatform(ctx, run, billno, bill); settled {
		return store.Result{}, "", next, err
	}
	if !h.adoptTerms(ctx, run, bill) {
		return store.Result{}, "", false, conflict
	}
	res, src, err := h.sendAttempt(ctx, run, billno)
	if err != nil {
		return store.Result{}, "", false, err
	}
	return h.settled(ctx, run, res, src)
}

// adoptTerms makes the platform's record of the grant's payout its terms:
// the fields the platform reports, over the current grant's (which fill
// the fields it does not report: the red packet's send_name and scene_id).
// It reports false when those terms cannot be sent (a field the platform
// required and the grant no longer has).
func (h *Handler) adoptTerms(ctx context.Context, run *grantRun, bill rail.Bill) bool {
	t := store.Terms{
		Payout:    run.grant.Payout.Merge(bill.Payout),
		DecidedAt: bill.At,
		Recovered: true,
		Key:       run.grant.Key,
		OpenID:    run.openID,
	}
	if t.DecidedAt.IsZero() {
		t.DecidedAt = run.terms.DecidedAt
	}
	if err := h.rail.Check(t.Payout); err != nil {
		h.log.LogAttrs(ctx, slog.LevelError, "hongbao: the platform's terms of a grant cannot be sent again",
			slog.String("billno", run.billno), slog.String("error", err.Error()))
		return false
	}
	run.terms, run.sentAt = t, bill.At
	run.lower = later(run.lower, t.DecidedAt)
	h.saveTerms(ctx, run.id, t)
	// The platform holds the payout: its money left, whatever the
	// budget's account says.
	h.commit(ctx, run, store.Result{Billno: run.billno, Amount: t.Amount})
	return true
}

// close records that the platform reported billno closed.
func (h *Handler) close(ctx context.Context, run *grantRun, billno string, state rail.State) {
	h.remember(ctx, run, billno, store.Result{Closed: state})
	h.release(ctx, run, billno)
	run.lower = later(run.lower, h.now())
	h.log.LogAttrs(ctx, slog.LevelInfo, "hongbao: bill number closed by the platform",
		slog.String("openid", run.openID), slog.String("billno", billno),
		slog.Int("attempt", run.attempt), slog.String("state", string(state)))
}

// remember saves what the platform said of billno.
func (h *Handler) remember(ctx context.Context, run *grantRun, billno string, r store.Result) {
	r.Billno, r.OpenID, r.Rail, r.Amount = billno, run.openID, h.railName, run.terms.Amount
	r.Campaign = h.campaignOf(run)
	if r.At.IsZero() {
		r.At = h.now()
	}
	h.save(ctx, billno, r)
}

// closedAllowsNext reports whether a number closed in state may be
// followed by the next attempt: rail.Closed always; rail.Returned and
// rail.Cancelled when the grant allows re-claims.
func (run *grantRun) closedAllowsNext(state rail.State) bool {
	switch state {
	case rail.Closed:
		return true
	case rail.Returned, rail.Cancelled:
		return run.grant.Reclaim
	}
	return false
}

// paidAt is the PaidAt of a success of the current attempt: the platform's
// time when known, else the latest moment known to precede the send.
func (run *grantRun) paidAt(now time.Time) time.Time {
	if !run.sentAt.IsZero() {
		return run.sentAt
	}
	if run.lower.IsZero() || run.lower.After(now) {
		return now
	}
	return run.lower
}

// recordTerms records the grant's terms unless some are recorded; fresh
// reports that these are the first (the Store knew nothing of the grant).
// When the Store fails, the local store stands in.
func (h *Handler) recordTerms(ctx context.Context, id string, t store.Terms) (store.Terms, bool) {
	got, added, err := h.shared().AddTerms(ctx, id, t, h.resultTTL)
	if err != nil {
		h.storeFailed(ctx, "AddTerms", id, err)
		got, added, _ = h.local.AddTerms(context.WithoutCancel(ctx), id, t, h.resultTTL)
	}
	return got, added
}

// saveTerms records terms recovered from the platform.
func (h *Handler) saveTerms(ctx context.Context, id string, t store.Terms) {
	if err := h.shared().SaveTerms(ctx, id, t, h.resultTTL); err != nil {
		h.storeFailed(ctx, "SaveTerms", id, err)
		_ = h.local.SaveTerms(context.WithoutCancel(ctx), id, t, h.resultTTL)
	}
}

// query asks the platform about billno, bounded like a send.
func (h *Handler) query(ctx context.Context, billno string) (rail.Bill, error) {
	qctx, cancel := context.WithTimeout(ctx, h.lockTTL)
	defer cancel()
	bill, err := h.rail.Query(qctx, billno)
	if err != nil {
		h.log.LogAttrs(ctx, slog.LevelDebug, "hongbao: query", slog.String("billno", billno), slog.String("error", err.Error()))
		return rail.Bill{}, err
	}
	return bill, nil
}

func errExpired(billno, why string) *HandlerError {
	e := newError(http.StatusGone, "claim_window_expired", "the red packet can no longer be opened",
		fmt.Errorf("claim: %s: %s", billno, why))
	e.Billno = billno
	return e
}

// errReceived answers a grant whose payout the user already has, with
// nothing left to open.
func errReceived(billno string) *HandlerError {
	e := newError(http.StatusGone, "already_received", "the red packet was already received",
		fmt.Errorf("claim: %s: the platform reports it paid to the user", billno))
	e.Billno = billno
	return e
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
