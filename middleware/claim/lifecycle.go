package claim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/hongbao-go/hongbao"
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

// refusalNumbers is how many numbers a grant may use, beyond MaxAttempts,
// for numbers the platform closed after the merchant's or the user's
// refusals (which MaxAttempts does not count): a bound that an outage or a
// daily limit reaches only after days (see merchant.go and userlimit.go).
const refusalNumbers = 8

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
	// sentAt is the platform's time of the current attempt's payout,
	// when known (a query, the send's answer).
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
	first := store.Terms{Payout: run.grant.Payout, DecidedAt: h.now(), Key: run.grant.Key, OpenID: run.openID, Campaign: run.grant.Campaign}
	run.terms, run.fresh = h.recordTerms(ctx, run.id, first)
	for n := 0; n < h.maxAttempts+refusalNumbers; n++ {
		billno := run.id
		if n > 0 {
			var err error
			if billno, err = h.rail.Billno(run.grant.Key, run.openID, n); err != nil {
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
	numberHeld                      // a payout the platform holds: sending it again answers its material
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
			// the handler skip back to a returned number or pay other
			// terms.
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
		run.passed(r)
		return store.Result{}, "", true, nil
	}
	return store.Result{}, "", false, errExpired(r.Billno, "the platform reports it "+string(r.Closed))
}

// passed records that the walk passed r, a closed number.
func (run *grantRun) passed(r store.Result) {
	run.closed = append(run.closed, r)
	if !closedByRefusal(r) {
		run.spent++
	}
}

// refusalOf is the rail's state of r's refusal: Result.Refusal, or for a
// result of an older version the red packet's code's.
func refusalOf(r store.Result) rail.State {
	if r.Refusal != "" || r.Refused == "" {
		return r.Refusal
	}
	if st, ok := rail.Classify(&hongbao.Error{ErrCode: r.Refused}); ok {
		return st
	}
	return rail.Unrecognized
}

// closedByRefusal reports whether r was closed after a refusal of the
// merchant or of the user, which MaxAttempts does not count.
func closedByRefusal(r store.Result) bool {
	return r.Closed == rail.Closed && refusalOf(r).Refused()
}

// recoverFrom asks the platform about billno, which the Store does not
// know, before it is sent. A number the platform holds as a payout gives
// the grant's terms (adoptTerms). Past MaxAttempts (beyond), a number the
// platform does not hold is not sent: 410 attempts_exhausted.
func (h *Handler) recoverFrom(ctx context.Context, run *grantRun, billno string, beyond bool) (numberState, error) {
	bill, err := h.query(ctx, billno)
	switch {
	case err != nil && beyond:
		return numberOpen, err
	case bill.State == rail.NotFound && beyond:
		return numberOpen, exhausted(billno)
	case err != nil || bill.State == rail.NotFound:
		// No answer, or nothing there: sending the same number is safe.
		return numberOpen, nil
	}
	if next, settled, err := h.closedByPlatform(ctx, run, billno, bill); settled {
		if next {
			return numberClosed, nil
		}
		return numberOpen, err
	}
	if err := h.adoptTerms(ctx, run, bill); err != nil {
		return numberOpen, err
	}
	return numberHeld, nil
}

// closedByPlatform records a query's report that billno is closed
// (settled): next when the walk moves on, else the 410 to answer.
func (h *Handler) closedByPlatform(ctx context.Context, run *grantRun, billno string, bill rail.Bill) (next, settled bool, err error) {
	switch bill.State {
	case rail.Closed:
		h.close(ctx, run, billno, bill.State, refusal{})
		return true, true, nil
	case rail.Returned, rail.Cancelled:
		h.close(ctx, run, billno, bill.State, refusal{})
		if run.closedAllowsNext(bill.State) {
			return true, true, nil
		}
		return false, true, errExpired(billno, "the platform reports it "+bill.Status)
	}
	return false, false, nil
}

// afterFailure decides what a failed send of billno means for the grant.
func (h *Handler) afterFailure(ctx context.Context, run *grantRun, billno string, prev store.Result, known bool, err error) (store.Result, string, bool, error) {
	var re *rail.Error
	if !errors.As(err, &re) {
		return store.Result{}, "", false, err
	}
	switch st := re.State; {
	case st == rail.Unknown:
		h.lost(ctx, run, billno, prev, known)
		return store.Result{}, "", false, err // never move on from an unknown outcome
	case st == rail.Closed:
		// The platform reported the number closed (the red packet's
		// PROCESSING, then gethbinfo FAILED).
		h.close(ctx, run, billno, st, refusal{})
		return store.Result{}, "", true, nil
	case st == rail.Paid:
		// The user has it and there is nothing left to open (the
		// terms' amount: the refusal reports none).
		return store.Result{}, "", false, h.received(ctx, run, billno, rail.Bill{})
	case st == rail.Returned || st == rail.Cancelled:
		// The send found the number closed (a transfer bill that
		// closed unconfirmed, or was cancelled).
		next, _, err := h.closedByPlatform(ctx, run, billno, rail.Bill{State: st, Status: re.Code})
		return store.Result{}, "", next, err
	case st == rail.Conflict:
		return h.recoverTerms(ctx, run, billno, err)
	case st == rail.Failed:
		return h.sendFailed(ctx, run, billno, prev, re, err)
	case st.Refused():
		return h.refused(ctx, run, billno, prev, known, re, err)
	}
	// Throttled, rejected, invalid, unrecognized: nothing moves.
	return store.Result{}, "", false, err
}

// refusal is what preceded a number's closing: the platform's code and the
// rail's state of a refusal, and when it was made.
type refusal struct {
	code  string
	state rail.State
	at    time.Time
}

// codeOf is the refusal's code to remember: the platform's, or the state.
func codeOf(re *rail.Error) string {
	if re.Code != "" {
		return re.Code
	}
	return string(re.State)
}

// refused handles a refusal of the merchant or of the user. A number
// refused before (or whose reply was lost) may be answered the platform's
// record of that refusal: the platform is asked (unless it was lately),
// and a number it reports closed is passed, the walk moving on through
// the gates. Any other refusal was made on the spot: it is remembered,
// and the outage or the user's limit holds the grant's sends back.
func (h *Handler) refused(ctx context.Context, run *grantRun, billno string, prev store.Result, known bool, re *rail.Error, err error) (store.Result, string, bool, error) {
	now := h.now()
	checked := prev.CheckedAt
	if known && (prev.Refused != "" || !prev.LostAt.IsZero()) && (checked.IsZero() || now.Sub(checked) >= recheckAfter) {
		bill, qerr := h.query(ctx, billno)
		if qerr == nil && bill.State == rail.Closed {
			at := prev.At
			if prev.Refused == "" || at.IsZero() {
				at = now
			}
			h.close(ctx, run, billno, bill.State, refusal{code: codeOf(re), state: re.State, at: at})
			return store.Result{}, "", true, nil
		}
		checked = now
	}
	h.remember(ctx, run, billno, store.Result{Refused: codeOf(re), Refusal: re.State, At: now, CheckedAt: checked})
	if re.State == rail.RefusedMerchant {
		return store.Result{}, "", false, merchantUnavailable(billno, h.merchantRefused(ctx, run, codeOf(re), now), err)
	}
	return store.Result{}, "", false, userLimited(billno, re.State, limitEnds(now).Sub(now), err)
}

// sendFailed handles a failure the platform may have closed (the red
// packet's SEND_FAILED): it is asked at once (unless it was lately), and a
// number it reports closed moves the walk on; otherwise the refusal is
// remembered and the next tap sends the same number again.
func (h *Handler) sendFailed(ctx context.Context, run *grantRun, billno string, prev store.Result, re *rail.Error, err error) (store.Result, string, bool, error) {
	now := h.now()
	r := store.Result{Refused: codeOf(re), Refusal: re.State, CheckedAt: prev.CheckedAt}
	if prev.CheckedAt.IsZero() || now.Sub(prev.CheckedAt) >= recheckAfter {
		bill, qerr := h.query(ctx, billno)
		if qerr == nil && bill.State == rail.Closed {
			h.close(ctx, run, billno, bill.State, refusal{})
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
	r.Billno, r.OpenID, r.Rail, r.Amount, r.LostAt = billno, run.openID, h.railName, run.terms.Amount, run.sendStart
	r.Campaign = h.campaignOf(run)
	// Never over a record saved meanwhile by another replica.
	if cur, ok := h.lookup(ctx, billno); ok && (cur.Paid() || cur.Closed != "") {
		return
	}
	h.save(ctx, billno, r)
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
	if err := h.adoptTerms(ctx, run, bill); err != nil {
		return store.Result{}, "", false, err
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
// Terms that cannot be sent as they are (a scene_id the amount needs and
// the grant no longer has, a text the platform answered empty) are an
// error naming the field, logged: never replaced by other terms, which the
// platform would refuse (a conflict) or pay as another payout.
func (h *Handler) adoptTerms(ctx context.Context, run *grantRun, bill rail.Bill) error {
	t := store.Terms{
		Payout:    run.grant.Payout.Merge(bill.Payout),
		DecidedAt: bill.At,
		Recovered: true,
		Key:       run.grant.Key,
		OpenID:    run.openID,
		Campaign:  run.grant.Campaign,
	}
	if t.DecidedAt.IsZero() {
		t.DecidedAt = run.terms.DecidedAt
	}
	if err := h.rail.Check(t.Payout); err != nil {
		field := ""
		var ve *hongbao.ValidationError
		if errors.As(err, &ve) {
			field = ve.Field
		}
		h.log.LogAttrs(ctx, slog.LevelError, "hongbao: the platform's terms of a grant cannot be sent again",
			slog.String("billno", run.billno), slog.String("field", field), slog.String("error", err.Error()))
		e := newError(http.StatusInternalServerError, "recovered_terms_invalid", "the red packet's recorded terms cannot be sent again",
			fmt.Errorf("claim: %s: the platform's terms with the grant's other fields: %w", run.billno, err))
		e.Billno = run.billno
		return e
	}
	run.terms, run.sentAt = t, bill.At
	h.saveTerms(ctx, run.id, t)
	// The platform holds the payout: it counts, whatever the budget's
	// account says (beyond the cap if need be). Its money left unless it
	// is an offer the user must still confirm, which stays reserved
	// until the platform reports it paid or closed (waiting.go).
	if h.paidOnConfirmation() && bill.State != rail.Paid {
		_, _, _ = h.account(ctx, run, store.BudgetOp{Step: store.BudgetRestore, Billno: run.billno, Amount: t.Amount})
		return nil
	}
	h.commit(ctx, run, store.Result{Billno: run.billno, Amount: t.Amount})
	return nil
}

// close records that the platform reported billno closed, after the
// refusal why (zero when none preceded it, or none is known).
func (h *Handler) close(ctx context.Context, run *grantRun, billno string, state rail.State, why refusal) {
	if why.code == "" {
		// A refusal another replica remembered since this run looked
		// (the platform answered it, then closed the number) is why.
		if cur, ok := h.lookup(ctx, billno); ok && cur.Closed == "" && cur.Refused != "" {
			why = refusal{code: cur.Refused, state: refusalOf(cur), at: cur.At}
		}
	}
	r := store.Result{Closed: state, Refused: why.code, Refusal: why.state, At: why.at}
	h.remember(ctx, run, billno, r)
	h.release(ctx, run, billno)
	if r.At.IsZero() {
		r.At = h.now()
	}
	r.Billno = billno
	run.passed(r)
	h.log.LogAttrs(ctx, slog.LevelInfo, "hongbao: bill number closed by the platform",
		slog.String("openid", run.openID), slog.String("billno", billno),
		slog.Int("attempt", run.attempt), slog.String("state", string(state)), slog.String("refused", why.code))
}

// remember saves what the platform said of billno.
func (h *Handler) remember(ctx context.Context, run *grantRun, billno string, r store.Result) {
	r.Billno, r.OpenID, r.Rail = billno, run.openID, h.railName
	if r.Amount == 0 {
		r.Amount = run.terms.Amount // else the amount the platform reports
	}
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
