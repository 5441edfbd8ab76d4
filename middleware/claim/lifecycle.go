package claim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/hongbao-go/hongbao"
	"github.com/hongbao-go/hongbao/store"
)

// The grant lifecycle: a grant (Key, openid) is paid under a sequence of
// bill numbers, attempt 0, 1, 2 ... (hongbao.Client.AttemptBillno; attempt
// 0 is the number Client.Billno always gave). Its terms are recorded before
// the first send and reused by every tap. The handler moves from attempt n
// to n+1 only when the platform itself reports attempt n closed: gethbinfo
// status FAILED, or REFUND when the grant allows re-claims. Anything else
// (SENT, SENDING, RECEIVED, NOT_FOUND, an unknown outcome, an unknown
// err_code) keeps attempt n, which the platform pays at most once.

// recheckAfter is how long a gethbinfo answer about a refused number is
// trusted before a tap asks again.
const recheckAfter = 30 * time.Second

// refusalCodes are the definitive refusals after which the same number is
// sent again on the next tap (the operator may have topped up, the day may
// have turned), and the platform is asked whether the number is closed only
// when it is refused again.
var refusalCodes = slices.Concat(merchantCodes, userLimitCodes, []error{hongbao.ErrNoAuth})

// userLimitCodes are the user's daily limits (SENDNUM_LIMIT,
// RCVDAMOUNT_LIMIT).
var userLimitCodes = []error{hongbao.ErrSendNumLimit, hongbao.ErrReceivedAmountLimit}

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
	// sentAt is gethbinfo's send_time of the current attempt, when known.
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
	first := termsOf(run.grant, h.now())
	first.Key, first.OpenID = run.grant.Key, run.openID
	run.terms, run.fresh = h.recordTerms(ctx, run.id, first)
	run.lower = run.terms.DecidedAt
	for n := 0; n < h.maxAttempts; n++ {
		billno := run.id
		if n > 0 {
			var err error
			if billno, err = h.client.AttemptBillno(run.grant.Key, run.openID, n); err != nil {
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
// for a refund without re-claims, 410).
func (h *Handler) settled(ctx context.Context, run *grantRun, r store.Result, src string) (store.Result, string, bool, error) {
	if r.Closed == "" {
		h.commit(ctx, run, r)
		return h.paid(ctx, run, r, src)
	}
	if run.closedAllowsNext(r.Closed) {
		run.lower = later(run.lower, r.At)
		return store.Result{}, "", true, nil
	}
	return store.Result{}, "", false, errExpired(r.Billno, "the platform refunded it")
}

// paid answers a stored success, or moves on when its claim window is over
// and the platform reports the packet refunded to a grant that allows
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
	info, err := h.query(ctx, r.Billno)
	if err != nil {
		return store.Result{}, "", false, errExpired(r.Billno, "gethbinfo: "+err.Error())
	}
	if info.Status == hongbao.StatusRefunded {
		h.close(ctx, run, r.Billno, info.Status)
		if !run.grant.Reclaim {
			return store.Result{}, "", false, errExpired(r.Billno, "the platform refunded it")
		}
		return store.Result{}, "", true, nil
	}
	return store.Result{}, "", false, errExpired(r.Billno, "the platform reports "+string(info.Status))
}

// recoverFrom asks gethbinfo about billno before a fresh grant sends it.
// closed: the number is closed and the walk moves on. Otherwise the send
// goes ahead, with the platform's terms when it already holds a packet.
func (h *Handler) recoverFrom(ctx context.Context, run *grantRun, billno string) (closed bool, err error) {
	info, err := h.query(ctx, billno)
	if err != nil {
		// NOT_FOUND, or no answer: sending the same number is safe.
		return false, nil
	}
	switch info.Status {
	case hongbao.StatusFailed:
		h.close(ctx, run, billno, info.Status)
		return true, nil
	case hongbao.StatusRefunded:
		if run.closedAllowsNext(info.Status) {
			h.close(ctx, run, billno, info.Status)
			return true, nil
		}
		h.close(ctx, run, billno, info.Status)
		return false, errExpired(billno, "the platform refunded it")
	}
	h.adoptTerms(ctx, run, info)
	return false, nil
}

// afterFailure decides what a failed send of billno means for the grant.
func (h *Handler) afterFailure(ctx context.Context, run *grantRun, billno string, prev store.Result, err error) (store.Result, string, bool, error) {
	var pe *hongbao.Error
	if !errors.As(err, &pe) || pe.Unknown {
		return store.Result{}, "", false, err // never move on from an unknown outcome
	}
	switch {
	case pe.Status == hongbao.StatusFailed:
		// PROCESSING, then gethbinfo said FAILED.
		h.close(ctx, run, billno, pe.Status)
		return store.Result{}, "", true, nil
	case errors.Is(pe, hongbao.ErrFatal):
		return h.recoverTerms(ctx, run, billno, err)
	case errors.Is(pe, hongbao.ErrSendFailed):
		return h.refused(ctx, run, billno, prev, pe, err, true)
	case isAny(pe, refusalCodes...):
		if prev.Refused == "" && run.attempt == 0 && isAny(pe, merchantCodes...) {
			h.merchantDown(ctx)
		}
		return h.refused(ctx, run, billno, prev, pe, err, prev.Refused != "")
	}
	return store.Result{}, "", false, err
}

// refused handles a definitive refusal of billno: when ask, gethbinfo is
// asked whether the number is closed (unless it was asked recently); the
// refusal is remembered either way.
func (h *Handler) refused(ctx context.Context, run *grantRun, billno string, prev store.Result, pe *hongbao.Error, err error, ask bool) (store.Result, string, bool, error) {
	now := h.now()
	r := store.Result{Refused: pe.ErrCode, CheckedAt: prev.CheckedAt}
	if ask && (prev.CheckedAt.IsZero() || now.Sub(prev.CheckedAt) >= recheckAfter) {
		info, qerr := h.query(ctx, billno)
		if qerr == nil && info.Status == hongbao.StatusFailed {
			h.close(ctx, run, billno, info.Status)
			return store.Result{}, "", true, nil
		}
		r.CheckedAt = now
	}
	h.remember(ctx, run, billno, r)
	return store.Result{}, "", false, err
}

// recoverTerms handles FATAL_ERROR: the platform holds billno with other
// terms (the records of the first send were lost and the policy decided
// differently). The paid terms are read back from gethbinfo, recorded, and
// sent again to obtain the package that was paid.
func (h *Handler) recoverTerms(ctx context.Context, run *grantRun, billno string, fatal error) (store.Result, string, bool, error) {
	info, err := h.query(ctx, billno)
	if err != nil {
		return store.Result{}, "", false, fatal
	}
	switch info.Status {
	case hongbao.StatusFailed:
		h.close(ctx, run, billno, info.Status)
		return store.Result{}, "", true, nil
	case hongbao.StatusRefunded:
		if run.closedAllowsNext(info.Status) {
			h.close(ctx, run, billno, info.Status)
			return store.Result{}, "", true, nil
		}
		return store.Result{}, "", false, errExpired(billno, "the platform refunded it")
	}
	if !h.adoptTerms(ctx, run, info) {
		return store.Result{}, "", false, fatal
	}
	res, src, err := h.sendAttempt(ctx, run, billno)
	if err != nil {
		return store.Result{}, "", false, err
	}
	return h.settled(ctx, run, res, src)
}

// adoptTerms makes the platform's record of the grant's packet its terms:
// amount and texts from gethbinfo, send_name and scene_id (which gethbinfo
// does not report) from the current grant. It reports false when those
// terms cannot be sent (a scene_id the platform required and the grant no
// longer has).
func (h *Handler) adoptTerms(ctx context.Context, run *grantRun, info *hongbao.HBInfo) bool {
	t := store.Terms{
		Amount:    info.Amount,
		SendName:  run.grant.SendName,
		Wishing:   info.Wishing,
		ActName:   info.ActName,
		Remark:    info.Remark,
		Scene:     run.grant.Scene,
		DecidedAt: info.SendTime,
		Recovered: true,
		Key:       run.grant.Key,
		OpenID:    run.openID,
	}
	if t.DecidedAt.IsZero() {
		t.DecidedAt = run.terms.DecidedAt
	}
	req := run.request(run.billno)
	req.Amount, req.Wishing, req.ActName, req.Remark = t.Amount, t.Wishing, t.ActName, t.Remark
	if err := req.Validate(); err != nil {
		h.log.LogAttrs(ctx, slog.LevelError, "hongbao: the platform's terms of a grant cannot be sent again",
			slog.String("billno", run.billno), slog.String("error", err.Error()))
		return false
	}
	run.terms, run.sentAt = t, info.SendTime
	run.lower = later(run.lower, t.DecidedAt)
	h.saveTerms(ctx, run.id, t)
	// The platform holds the packet: its money left, whatever the
	// budget's account says.
	h.commit(ctx, run, store.Result{Billno: run.billno, Amount: t.Amount})
	return true
}

// close records that the platform reported billno closed.
func (h *Handler) close(ctx context.Context, run *grantRun, billno string, status hongbao.Status) {
	h.remember(ctx, run, billno, store.Result{Closed: status})
	h.release(ctx, run, billno)
	run.lower = later(run.lower, h.now())
	h.log.LogAttrs(ctx, slog.LevelInfo, "hongbao: bill number closed by the platform",
		slog.String("openid", run.openID), slog.String("billno", billno),
		slog.Int("attempt", run.attempt), slog.String("status", string(status)))
}

// remember saves what the platform said of billno.
func (h *Handler) remember(ctx context.Context, run *grantRun, billno string, r store.Result) {
	r.Billno, r.OpenID, r.Amount = billno, run.openID, run.terms.Amount
	if r.At.IsZero() {
		r.At = h.now()
	}
	h.save(ctx, billno, r)
}

// closedAllowsNext reports whether a number closed with status may be
// followed by the next attempt: FAILED always; REFUND when the grant allows
// re-claims.
func (run *grantRun) closedAllowsNext(status hongbao.Status) bool {
	return status == hongbao.StatusFailed || status == hongbao.StatusRefunded && run.grant.Reclaim
}

// request is the send of the grant's terms under billno.
func (run *grantRun) request(billno string) *hongbao.SendRequest {
	return grantOf(run.terms).request(billno, run.openID)
}

// paidAt is the PaidAt of a success of the current attempt: the platform's
// send_time when known, else the latest moment known to precede the send.
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

// query asks gethbinfo about billno, bounded like a send.
func (h *Handler) query(ctx context.Context, billno string) (*hongbao.HBInfo, error) {
	qctx, cancel := context.WithTimeout(ctx, h.lockTTL)
	defer cancel()
	info, err := h.client.QueryHB(qctx, billno)
	if err != nil {
		h.log.LogAttrs(ctx, slog.LevelDebug, "hongbao: gethbinfo", slog.String("billno", billno), slog.String("error", err.Error()))
		return nil, err
	}
	return info, nil
}

func termsOf(g Grant, now time.Time) store.Terms {
	return store.Terms{
		Amount:    g.Amount,
		SendName:  g.SendName,
		Wishing:   g.Wishing,
		ActName:   g.ActName,
		Remark:    g.Remark,
		Scene:     g.Scene,
		DecidedAt: now,
	}
}

// grantOf is the Grant that sends t (without a Key).
func grantOf(t store.Terms) Grant {
	return Grant{Amount: t.Amount, SendName: t.SendName, Wishing: t.Wishing, ActName: t.ActName, Remark: t.Remark, Scene: t.Scene}
}

func errExpired(billno, why string) *HandlerError {
	e := newError(http.StatusGone, "claim_window_expired", "the red packet can no longer be opened",
		fmt.Errorf("claim: %s: %s", billno, why))
	e.Billno = billno
	return e
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func isAny(err error, targets ...error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}
