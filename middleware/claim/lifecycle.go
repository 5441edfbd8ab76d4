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

// refusalNumbers is how many numbers a grant may use, beyond MaxAttempts,
// for numbers the platform closed after the merchant's or the user's
// refusals (which MaxAttempts does not count): a bound that outages and
// daily limits do not reach (see merchant.go and userlimit.go).
const refusalNumbers = 8

// refusalCodes are the definitive refusals of the merchant or the user,
// after which the same number is sent again once the outage or the limit
// is over (the operator may have topped up, the day may have turned), and
// the platform is asked whether the number is closed only when it is
// refused again.
var refusalCodes = slices.Concat(merchantCodes, userCodes)

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
	// sentAt is gethbinfo's send_time of the current attempt, when known.
	sentAt time.Time
	// lostAt is the start of an earlier send of the current attempt whose
	// reply was lost; sendStart the start of this run's send of it.
	lostAt, sendStart time.Time
	// closed are the numbers the walk passed, closed by the platform, in
	// order; spent counts those that count against MaxAttempts (every
	// one not closed after a merchant's or a user's refusal).
	closed []store.Result
	spent  int
	// merchant is the merchant's state read by this run's gate; probing
	// is set while this run's send is the outage's probe.
	merchant merchantState
	probing  bool
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
	first.Key, first.OpenID, first.Campaign = run.grant.Key, run.openID, run.grant.Campaign
	run.terms, run.fresh = h.recordTerms(ctx, run.id, first)
	for n := 0; n < h.maxAttempts+refusalNumbers; n++ {
		billno := run.id
		if n > 0 {
			var err error
			if billno, err = h.client.AttemptBillno(run.grant.Key, run.openID, n); err != nil {
				return store.Result{}, "", err
			}
		}
		run.billno, run.attempt = billno, n
		run.sentAt, run.lostAt, run.sendStart = time.Time{}, time.Time{}, time.Time{}
		res, src, next, err := h.attempt(ctx, run, billno)
		if !next {
			return res, src, err
		}
	}
	return store.Result{}, "", exhausted(run.billno)
}

func exhausted(billno string) *HandlerError {
	e := newError(http.StatusGone, "attempts_exhausted", "this red packet could not be delivered", errAttemptsExhausted)
	e.Billno = billno
	return e
}

// What recoverFrom found of a number at the platform.
type numberState int

const (
	numberOpen   numberState = iota // nothing: the number may be sent
	numberHeld                      // a packet the platform holds: sending it again answers its package
	numberClosed                    // closed: the walk moves on
)

// attempt settles one attempt: the result to answer, or next=true when the
// platform has reported billno closed and the walk moves on.
func (h *Handler) attempt(ctx context.Context, run *grantRun, billno string) (res store.Result, src string, next bool, err error) {
	prev, known := h.lookup(ctx, billno)
	if known {
		if prev.Paid() || prev.Closed != "" {
			return h.settled(ctx, run, prev, "store")
		}
		run.lostAt = prev.LostAt
	}
	held := false
	if !known {
		// beyond: no new number past MaxAttempts. A later number that
		// was sent (MaxAttempts lowered since) is followed: the Store
		// knows it, or, when the grant's records were lost, the
		// platform holds it.
		beyond := run.spent >= h.maxAttempts
		switch {
		case run.fresh:
			// The Store knows nothing of this grant: a new grant, or
			// records lost. Ask the platform where the number stands
			// before sending, so that a lost record can never make
			// the handler skip back to a refunded number or pay
			// other terms.
			st, err := h.recoverFrom(ctx, run, billno, beyond)
			if err != nil || st == numberClosed {
				return store.Result{}, "", err == nil, err
			}
			held = st == numberHeld
		case beyond:
			return store.Result{}, "", false, exhausted(billno)
		}
	}
	if !held && run.lostAt.IsZero() {
		// A send that may be refused waits while the user's limit
		// holds or the merchant cannot pay (userlimit.go, merchant.go).
		if err := h.userWait(run, prev, known); err != nil {
			return store.Result{}, "", false, err
		}
		release, err := h.merchantWait(ctx, run, known)
		if err != nil {
			return store.Result{}, "", false, err
		}
		defer release()
	}
	if !held {
		// The budget: the number's amount is reserved before its send
		// (again on every run: the step is idempotent).
		if err := h.reserve(ctx, run, billno); err != nil {
			return store.Result{}, "", false, err
		}
	}
	res, src, err = h.sendAttempt(ctx, run, billno)
	if err != nil {
		return h.afterFailure(ctx, run, billno, prev, known, err)
	}
	switch {
	case res.Closed != "" && !held:
		// Another replica learnt the number closed after this run's
		// lookup: the reservation made meanwhile goes too.
		h.release(ctx, run, billno)
	case res.Closed == "" && src == "platform":
		h.merchantPaid(ctx, run, run.sendStart)
	}
	return h.settled(ctx, run, res, src)
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
		run.passed(r)
		return store.Result{}, "", true, nil
	}
	return store.Result{}, "", false, errExpired(r.Billno, "the platform refunded it")
}

// passed records that the walk passed r, a closed number.
func (run *grantRun) passed(r store.Result) {
	run.closed = append(run.closed, r)
	if !closedByRefusal(r) {
		run.spent++
	}
}

// closedByRefusal reports whether r was closed after a refusal of the
// merchant or of the user, which MaxAttempts does not count.
func closedByRefusal(r store.Result) bool {
	return r.Closed == hongbao.StatusFailed && codeIs(r.Refused, refusalCodes...)
}

// recoverFrom asks gethbinfo about billno, which the Store does not know,
// before it is sent. A number the platform holds as a packet gives the
// grant's terms (adoptTerms). Past MaxAttempts (beyond), a number the
// platform does not hold is not sent: 410 attempts_exhausted.
func (h *Handler) recoverFrom(ctx context.Context, run *grantRun, billno string, beyond bool) (numberState, error) {
	info, err := h.query(ctx, billno)
	switch {
	case err != nil && beyond && errors.Is(err, hongbao.ErrNotFound):
		return numberOpen, exhausted(billno)
	case err != nil && beyond:
		return numberOpen, err
	case err != nil:
		// NOT_FOUND, or no answer: sending the same number is safe.
		return numberOpen, nil
	}
	switch info.Status {
	case hongbao.StatusFailed:
		h.close(ctx, run, billno, info.Status, "", time.Time{})
		return numberClosed, nil
	case hongbao.StatusRefunded:
		h.close(ctx, run, billno, info.Status, "", time.Time{})
		if run.closedAllowsNext(info.Status) {
			return numberClosed, nil
		}
		return numberOpen, errExpired(billno, "the platform refunded it")
	}
	if err := h.adoptTerms(ctx, run, info); err != nil {
		return numberOpen, err
	}
	return numberHeld, nil
}

// afterFailure decides what a failed send of billno means for the grant.
func (h *Handler) afterFailure(ctx context.Context, run *grantRun, billno string, prev store.Result, known bool, err error) (store.Result, string, bool, error) {
	var pe *hongbao.Error
	if !errors.As(err, &pe) {
		return store.Result{}, "", false, err
	}
	if pe.Unknown {
		h.lost(ctx, run, billno, prev, known)
		return store.Result{}, "", false, err // never move on from an unknown outcome
	}
	switch {
	case pe.Status == hongbao.StatusFailed:
		// PROCESSING, then gethbinfo said FAILED.
		h.close(ctx, run, billno, pe.Status, "", time.Time{})
		return store.Result{}, "", true, nil
	case errors.Is(pe, hongbao.ErrFatal):
		return h.recoverTerms(ctx, run, billno, err)
	case errors.Is(pe, hongbao.ErrSendFailed):
		return h.sendFailed(ctx, run, billno, prev, pe, err)
	case isAny(pe, refusalCodes...):
		return h.refused(ctx, run, billno, prev, known, pe, err)
	}
	return store.Result{}, "", false, err
}

// refused handles a refusal of the merchant or of the user. A number
// refused before (or whose reply was lost) may be answered the platform's
// record of that refusal: gethbinfo is asked (unless it was lately), and
// FAILED closes the number, the walk moving on through the gates. Any
// other refusal was made on the spot: it is remembered, and the outage or
// the user's limit holds the grant's sends back.
func (h *Handler) refused(ctx context.Context, run *grantRun, billno string, prev store.Result, known bool, pe *hongbao.Error, err error) (store.Result, string, bool, error) {
	now := h.now()
	checked := prev.CheckedAt
	if known && (prev.Refused != "" || !prev.LostAt.IsZero()) && (checked.IsZero() || now.Sub(checked) >= recheckAfter) {
		info, qerr := h.query(ctx, billno)
		if qerr == nil && info.Status == hongbao.StatusFailed {
			at := prev.At
			if prev.Refused == "" || at.IsZero() {
				at = now
			}
			h.close(ctx, run, billno, info.Status, pe.ErrCode, at)
			return store.Result{}, "", true, nil
		}
		checked = now
	}
	h.remember(ctx, run, billno, store.Result{Refused: pe.ErrCode, At: now, CheckedAt: checked})
	if isAny(pe, merchantCodes...) {
		return store.Result{}, "", false, merchantUnavailable(billno, h.merchantRefused(ctx, run, pe.ErrCode, now), err)
	}
	return store.Result{}, "", false, userLimited(billno, pe.ErrCode, limitEnds(now).Sub(now), err)
}

// sendFailed handles SEND_FAILED: gethbinfo is asked at once (unless it
// was lately) and FAILED moves the walk on; otherwise the refusal is
// remembered and the next tap sends the same number again.
func (h *Handler) sendFailed(ctx context.Context, run *grantRun, billno string, prev store.Result, pe *hongbao.Error, err error) (store.Result, string, bool, error) {
	now := h.now()
	r := store.Result{Refused: pe.ErrCode, CheckedAt: prev.CheckedAt}
	if prev.CheckedAt.IsZero() || now.Sub(prev.CheckedAt) >= recheckAfter {
		info, qerr := h.query(ctx, billno)
		if qerr == nil && info.Status == hongbao.StatusFailed {
			h.close(ctx, run, billno, info.Status, "", time.Time{})
			return store.Result{}, "", true, nil
		}
		r.CheckedAt = now
	}
	h.remember(ctx, run, billno, r)
	return store.Result{}, "", false, err
}

// lost remembers that a send of billno lost its reply (it may have paid),
// for PaidAt: the start of the earliest such send since the number's last
// refusal. The next tap sends the same number again, as ever.
func (h *Handler) lost(ctx context.Context, run *grantRun, billno string, prev store.Result, known bool) {
	if run.sendStart.IsZero() || known && !prev.LostAt.IsZero() {
		return
	}
	r := prev
	r.Billno, r.OpenID, r.Amount, r.LostAt = billno, run.openID, run.terms.Amount, run.sendStart
	// Never over a record saved meanwhile by another replica.
	if cur, ok := h.lookup(ctx, billno); ok && (cur.Paid() || cur.Closed != "") {
		return
	}
	h.save(ctx, billno, r)
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
		h.close(ctx, run, billno, info.Status, "", time.Time{})
		return store.Result{}, "", true, nil
	case hongbao.StatusRefunded:
		h.close(ctx, run, billno, info.Status, "", time.Time{})
		if run.closedAllowsNext(info.Status) {
			return store.Result{}, "", true, nil
		}
		return store.Result{}, "", false, errExpired(billno, "the platform refunded it")
	}
	if err := h.adoptTerms(ctx, run, info); err != nil {
		return store.Result{}, "", false, err
	}
	res, src, err := h.sendAttempt(ctx, run, billno)
	if err != nil {
		return store.Result{}, "", false, err
	}
	return h.settled(ctx, run, res, src)
}

// adoptTerms makes the platform's record of the grant's packet its terms:
// amount and texts from gethbinfo, send_name and scene_id (which gethbinfo
// does not report) from the current grant. Terms that cannot be sent as
// they are (a scene_id the amount needs and the grant no longer has, a
// text gethbinfo answered empty) are an error naming the field, logged:
// never replaced by other terms, which the platform would refuse
// (FATAL_ERROR) or pay as another packet.
func (h *Handler) adoptTerms(ctx context.Context, run *grantRun, info *hongbao.HBInfo) error {
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
		Campaign:  run.grant.Campaign,
	}
	if t.DecidedAt.IsZero() {
		t.DecidedAt = run.terms.DecidedAt
	}
	req := grantOf(t).request(run.billno, run.openID)
	if err := req.Validate(); err != nil {
		field := ""
		var ve *hongbao.ValidationError
		if errors.As(err, &ve) {
			field = ve.Field
		}
		h.log.LogAttrs(ctx, slog.LevelError, "hongbao: the platform's terms of a grant cannot be sent again",
			slog.String("billno", run.billno), slog.String("field", field), slog.String("error", err.Error()))
		e := newError(http.StatusInternalServerError, "recovered_terms_invalid", "the red packet's recorded terms cannot be sent again",
			fmt.Errorf("claim: %s: the platform's terms with the grant's send_name and scene_id: %w", run.billno, err))
		e.Billno = run.billno
		return e
	}
	run.terms, run.sentAt = t, info.SendTime
	h.saveTerms(ctx, run.id, t)
	// The platform holds the packet: its money left, whatever the
	// budget's account says.
	h.commit(ctx, run, store.Result{Billno: run.billno, Amount: t.Amount})
	return nil
}

// close records that the platform reported billno closed; refused is the
// refusal that preceded it, at when it was made (the closing's time when
// zero).
func (h *Handler) close(ctx context.Context, run *grantRun, billno string, status hongbao.Status, refused string, at time.Time) {
	if refused == "" {
		// A refusal another replica remembered since this run looked
		// (the platform answered it, then closed the number) is why.
		if cur, ok := h.lookup(ctx, billno); ok && cur.Closed == "" && cur.Refused != "" {
			refused, at = cur.Refused, cur.At
		}
	}
	r := store.Result{Closed: status, Refused: refused, At: at}
	h.remember(ctx, run, billno, r)
	h.release(ctx, run, billno)
	if r.At.IsZero() {
		r.At = h.now()
	}
	r.Billno = billno
	run.passed(r)
	h.log.LogAttrs(ctx, slog.LevelInfo, "hongbao: bill number closed by the platform",
		slog.String("openid", run.openID), slog.String("billno", billno),
		slog.Int("attempt", run.attempt), slog.String("status", string(status)), slog.String("refused", refused))
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
