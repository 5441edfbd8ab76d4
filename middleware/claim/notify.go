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

// Settlement news: the platform of a rail.Notifier (the transfer) pushes
// the final state of each number to the merchant's notify URL, and an
// operator's cancel learns one. Settle records it as the handler records a
// query's report: the number's result and its campaign's budget, under the
// number's lock in the Store (so that it and a tap's send of the number
// settle to one state), idempotently and forward only.

// notifyWait bounds the handling of one notification: the platform waits
// 5 seconds for the answer, and sends again when it gets none.
const notifyWait = 4 * time.Second

var (
	errNotNotifier  = errors.New("claim: the handler's rail receives no notifications (it is not a rail.Notifier)")
	errNotCanceller = errors.New("claim: the handler's rail cannot cancel a payout (it is not a rail.Canceller)")
	errNumberBusy   = errors.New("claim: the bill number is being sent; the notification is to be sent again")
)

// NotificationHandler returns the http.Handler of the notify URL of the
// handler's rail (a rail.Notifier, such as the transfer's, whose
// RailConfig.NotifyURL is the public URL of this handler): mount it beside
// the claim route, without the JWT middleware. It answers the platform's
// success (204) only after the notification verified and what it reports
// is stored (Settle); a notification that does not verify (forged,
// altered, stale, probe-signed) is refused and never acted on; any failure
// to store makes the platform send it again.
func (h *Handler) NotificationHandler() (http.Handler, error) {
	n, ok := h.rail.(rail.Notifier)
	if !ok {
		return nil, errNotNotifier
	}
	inner, err := n.NotificationHandler(h.notified)
	if err != nil {
		return nil, err
	}
	return h.observedNotifications(inner), nil
}

// HandleNotification is NotificationHandler as a function, for frameworks
// that hand over the request's header and body themselves: body must be
// the bytes received, unchanged. Answer the platform 204 (or 200) when it
// returns nil, and otherwise an error status (401 when errors.Is(err,
// apiv3.ErrUnverified) for the transfer, else 500) with
// {"code":"FAIL","message":"..."}, so that the platform sends it again.
func (h *Handler) HandleNotification(ctx context.Context, header http.Header, body []byte) error {
	n, ok := h.rail.(rail.Notifier)
	if !ok {
		return errNotNotifier
	}
	start := time.Now()
	notice, err := n.ParseNotification(ctx, header, body)
	if err != nil {
		h.notificationEnded(ctx, false, rail.Notice{}, err, start)
		return err
	}
	err = h.record(ctx, notice)
	h.notificationEnded(ctx, true, notice, err, start)
	return err
}

// notified records a verified notification received by the notify URL's
// handler, and keeps what it learnt for the observer.
func (h *Handler) notified(ctx context.Context, n rail.Notice) error {
	err := h.record(ctx, n)
	if slot, ok := ctx.Value(noticeKey{}).(*noticeSlot); ok {
		slot.called, slot.n, slot.err = true, n, err
	}
	return err
}

// record records a verified notification.
func (h *Handler) record(ctx context.Context, n rail.Notice) error {
	if n.Billno == "" {
		return nil // an event that settles no number
	}
	err := h.settle(ctx, n.Billno, n.OpenID, n.Bill)
	level := slog.LevelInfo
	if err != nil {
		level = slog.LevelWarn
	}
	if h.log.Enabled(ctx, level) {
		attrs := []slog.Attr{slog.String("id", n.ID), slog.String("billno", n.Billno),
			slog.String("state", string(n.Bill.State)), slog.String("status", n.Bill.Status)}
		if n.Bill.Reason != "" {
			attrs = append(attrs, slog.String("reason", n.Bill.Reason))
		}
		if err != nil {
			attrs = append(attrs, slog.String("error", err.Error()))
		}
		h.log.LogAttrs(ctx, level, "hongbao: notification", attrs...)
	}
	return err
}

// Settle records that the platform reports billno, a number of this
// handler's rail, in the final state b.State (rail.Paid, Closed, Returned
// or Cancelled; other states record nothing): its stored result and its
// campaign's budget, as a tap does on learning it. It takes the number's
// lock in the Store (waiting a few seconds for a send of the number to
// end), and moves forward only: a number recorded Paid stays so (a later
// FAIL or CANCELLED changes nothing), a number recorded closed keeps its
// first final state, and the same report twice changes nothing but
// repeats its (idempotent) budget step: commit on Paid (the amount the
// platform reports, b.Payout.Amount, when it reports one), release on the
// others. A budget step never opens an account: one the Store lost stays
// missing (a paid number is written into it, and the loss logged) until
// it is rebuilt. It returns nil only once the result is stored in the
// Store (no fallback to this process) and the budget step is done.
func (h *Handler) Settle(ctx context.Context, billno string, b rail.Bill) error {
	return h.settle(ctx, billno, "", b)
}

func (h *Handler) settle(ctx context.Context, billno, openID string, b rail.Bill) error {
	st := b.State
	if billno == "" || !st.Final() {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, notifyWait)
	defer cancel()
	release, err := h.lockNumber(ctx, billno)
	if err != nil {
		return err
	}
	defer release()
	prev, known, err := h.store.Result(ctx, billno)
	if err != nil {
		return fmt.Errorf("claim: reading the result of %s: %w", billno, err)
	}
	if !known {
		// The Store does not know the number (a send whose answer was
		// lost, records lost): what the platform says is all there is.
		prev = store.Result{Billno: billno, OpenID: openID, Rail: h.railName, Amount: b.Payout.Amount}
	}
	if prev.Rail != "" && prev.Rail != h.railName {
		h.log.LogAttrs(ctx, slog.LevelError, "hongbao: a settlement of another rail's number is ignored",
			slog.String("billno", billno), slog.String("rail", prev.Rail))
		return nil
	}
	if openID != "" && prev.OpenID != "" && prev.OpenID != openID {
		h.log.LogAttrs(ctx, slog.LevelError, "hongbao: the platform reports another openid for a number",
			slog.String("billno", billno))
	}
	switch {
	case prev.Closed == rail.Paid:
		if st != rail.Paid {
			h.log.LogAttrs(ctx, slog.LevelWarn, "hongbao: a number recorded paid is reported "+string(st)+"; it stays paid",
				slog.String("billno", billno), slog.String("status", b.Status))
			return nil
		}
	case prev.Closed != "" && st != rail.Paid:
		// Closed already: the first final state stays.
		st = prev.Closed
	default:
		if prev.Closed != "" {
			h.log.LogAttrs(ctx, slog.LevelError, "hongbao: a number recorded "+string(prev.Closed)+" is reported paid; recorded paid",
				slog.String("billno", billno))
		}
		r := prev
		r.Closed, r.Package = st, ""
		if st == rail.Paid || r.Refused == "" || r.At.IsZero() {
			// A closed number keeps the refusal that preceded its
			// closing, and when it was made (lifecycle.go's close).
			r.Refused, r.Refusal, r.At = "", "", h.now()
		}
		if st == rail.Paid && b.Payout.Amount > 0 {
			// What the platform paid is what the budget commits.
			if r.Amount != 0 && r.Amount != b.Payout.Amount {
				h.log.LogAttrs(ctx, slog.LevelWarn, "hongbao: the platform paid another amount than the number's terms; its amount is counted",
					slog.String("billno", billno), slog.Int64("terms_fen", r.Amount), slog.Int64("paid_fen", b.Payout.Amount))
			}
			r.Amount = b.Payout.Amount
		}
		if r.Amount == 0 {
			r.Amount = b.Payout.Amount
		}
		if err := h.store.SaveResult(ctx, billno, r, h.resultTTL); err != nil {
			return fmt.Errorf("claim: saving the result of %s: %w", billno, err)
		}
		// A copy kept in this process while the Store failed must not
		// be flushed over the settlement.
		h.pending.drop(billno)
		if h.store != store.Store(h.local) {
			if _, held, _ := h.local.Result(ctx, billno); held {
				_ = h.local.SaveResult(context.WithoutCancel(ctx), billno, r, h.resultTTL)
			}
		}
		prev = r
	}
	return h.settleBudget(ctx, prev, st)
}

// settleBudget applies the budget step of a number settled in st: commit
// on Paid, release otherwise, to the number's campaign. A release of a
// number whose campaign is not recorded goes to every campaign (a release
// of a number an account does not hold changes nothing); a commitment
// waits for the grant's next tap.
func (h *Handler) settleBudget(ctx context.Context, r store.Result, st rail.State) error {
	if len(h.budgets) == 0 {
		return nil
	}
	op := store.BudgetOp{Step: store.BudgetRelease, Billno: r.Billno}
	if st == rail.Paid {
		op = store.BudgetOp{Step: store.BudgetCommit, Billno: r.Billno, Amount: r.Amount}
	}
	campaigns := []string{r.Campaign}
	if _, ok := h.budgets[r.Campaign]; !ok {
		if st == rail.Paid {
			h.log.LogAttrs(ctx, slog.LevelWarn, "hongbao: the campaign of a paid number is not recorded; the grant's next tap commits it",
				slog.String("billno", r.Billno))
			return nil
		}
		campaigns = h.Campaigns()
	}
	for _, c := range campaigns {
		op.Limit = h.budgets[c]
		acct, _, err := h.store.Budget(ctx, c, op)
		if err != nil {
			return fmt.Errorf("claim: the budget of %s for %s: %w", c, r.Billno, err)
		}
		if !acct.Open && op.Step == store.BudgetCommit {
			// Written into the missing account, which stays closed:
			// a settlement never opens one (a fresh count).
			h.log.LogAttrs(ctx, slog.LevelError, "hongbao: budget account lost: a paid number is counted in it; nothing is paid until it is rebuilt from the platform",
				slog.String("campaign", c), slog.String("billno", r.Billno))
		}
	}
	return nil
}

// lockNumber takes billno's lock in the Store, polling while a send holds
// it, until ctx ends.
func (h *Handler) lockNumber(ctx context.Context, billno string) (func(), error) {
	delay := firstPoll
	for {
		release, ok, err := h.store.TryLock(ctx, billno, h.lockTTL)
		switch {
		case err != nil:
			return nil, fmt.Errorf("claim: the lock of %s: %w", billno, err)
		case ok:
			return release, nil
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, errNumberBusy
		case <-t.C:
		}
		delay = min(2*delay, maxPoll)
	}
}

// Cancel withdraws billno, an offer of the handler's rail still waiting
// for the user (see Waiting), through the rail (a rail.Canceller, such as
// the transfer's), and records what the platform then reports (Settle):
// Cancelled, the number closed and its amount released from its budget;
// Pending while the cancel completes (its notification, or a later tap's
// query, settles it); Paid when the user accepted first. It returns the
// platform's state; an error when the rail could not ask, or the record
// could not be stored (call it again: it is idempotent).
func (h *Handler) Cancel(ctx context.Context, billno string) (rail.Bill, error) {
	c, ok := h.rail.(rail.Canceller)
	if !ok {
		return rail.Bill{}, errNotCanceller
	}
	b, err := c.Cancel(ctx, billno)
	if err != nil {
		return b, err
	}
	return b, h.Settle(ctx, billno, b)
}
