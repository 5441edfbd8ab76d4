package main

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"golang.org/x/time/rate"

	"github.com/hongbao-go/hongbao/middleware/claim"
	"github.com/hongbao-go/hongbao/rail"
	"github.com/hongbao-go/hongbao/store"
	"github.com/hongbao-go/hongbao/store/redisstore"
	"github.com/hongbao-go/hongbao/transfer"
)

// runCancel closes, at a campaign's end, the transfer bills still waiting
// for the users' confirmation: it finds them from the Store's grants of
// the campaign (or the openids of a file), cancels each through the
// transfer rail, waits for the platform to confirm CANCELLED, and records
// it as the services record the bill's notification, releasing its
// amount from the campaign's budget only then.
func runCancel(ctx context.Context, e *env, args []string) int {
	fs := e.newFlags("cancel")
	campaignFlag := fs.String("campaign", "", "the campaign `NAME` whose bills to cancel: the grants' Campaign, or their key (default: $HONGBAO_CAMPAIGN, else "+defaultCampaign+")")
	openidsFile := fs.String("openids", "", "cancel the bills of the openids in `FILE` (one a line; the first field of CSV lines) instead of those of every grant of the campaign in the Store")
	keyFlag := fs.String("key", "", "-openids: the grant `KEY` of the openids (default: the campaign)")
	dryRun := fs.Bool("dry-run", false, "list the bills waiting for confirmation; cancel nothing")
	wait := fs.Duration("wait", 30*time.Second, "wait up to `DURATION` for the platform to confirm the cancels (CANCELING, then CANCELLED)")
	attempts := fs.Int("attempts", 0, "the handler's MaxAttempts, `N` (default: $HONGBAO_MAX_ATTEMPTS, else 3); numbers are followed up to N+8")
	perSecond := fs.Float64("rate", 10, "make at most `N` calls (queries and cancels) a second")
	workers := fs.Int("workers", 4, "look at `N` grants at once")
	prefix := fs.String("prefix", redisstore.DefaultPrefix, "the Store's key `PREFIX` (redisstore.Options.Prefix)")
	timeout := fs.Duration("timeout", 15*time.Second, "give up each call to the platform after `DURATION`")
	operands, code, done := parse(fs, args)
	if done {
		return code
	}
	switch {
	case len(operands) > 0:
		return e.usageError(fs, "no arguments expected, got %q", operands)
	case *keyFlag != "" && *openidsFile == "":
		return e.usageError(fs, "-key goes with -openids")
	case *perSecond <= 0:
		return e.usageError(fs, "-rate must be positive")
	case *workers < 1:
		return e.usageError(fs, "-workers must be at least 1")
	case *wait < 0:
		return e.usageError(fs, "-wait must not be negative")
	case *timeout <= 0:
		return e.usageError(fs, "-timeout must be positive")
	}
	n, err := maxAttempts(*attempts, e.getenv)
	if err != nil {
		return e.usageError(fs, "%v", err)
	}
	redisURL := getter(e.getenv).get(envRedisURL)
	if *openidsFile == "" && redisURL == "" {
		return e.usageError(fs, "set %s to cancel the bills of the Store's grants, or name the openids with -openids FILE", envRedisURL)
	}
	if m := readMerchant(e.getenv); !m.v3() {
		e.errorf("cancel works on transfer bills: set the APIv3 variables (%s and %s, or %s=true with %s); red packets cannot be cancelled (an unopened one is refunded after 24 hours)",
			envPublicKeyID, envPublicKeyFile, envPlatformCerts, envAPIv3Key)
		return exitProblems
	}
	key, err := billnoKey(e.getenv)
	if err != nil {
		e.errorf("cancel derives the grants' bill numbers: %v", err)
		return exitProblems
	}
	var openids []string
	if *openidsFile != "" {
		if openids, err = readOpenIDs(*openidsFile); err != nil {
			e.errorf("%v", err)
			return exitProblems
		}
	}
	r, closeRail, err := transferRail(ctx, e, key, *timeout)
	if err != nil {
		e.errorf("%v", err)
		return exitProblems
	}
	defer closeRail()

	cn := &canceller{
		env:      e,
		rail:     r,
		campaign: campaign(*campaignFlag, e.getenv),
		numbers:  n + 8,
		limiter:  rate.NewLimiter(rate.Limit(*perSecond), 1),
		dryRun:   *dryRun,
		prefix:   *prefix,
	}
	if redisURL != "" {
		st, err := openStore(ctx, redisURL, *prefix)
		if err != nil {
			e.errorf("%v", err)
			return exitProblems
		}
		defer st.Close()
		cn.store = st
		if cn.budgets, err = scanSpace(ctx, st.Client(), *prefix, "budget:"); err != nil {
			e.errorf("reading the campaigns' budgets: %v", err)
			return exitProblems
		}
		if cn.handler, err = settler(r, st, cn.budgets); err != nil {
			e.errorf("%v", err)
			return exitProblems
		}
	}

	var grants []store.RebuildGrant
	if openids != nil {
		grantKey := *keyFlag
		if grantKey == "" {
			grantKey = cn.campaign
		}
		for _, o := range openids {
			grants = append(grants, store.RebuildGrant{Key: grantKey, OpenID: o})
		}
	} else if grants, err = cn.grants(ctx); err != nil {
		e.errorf("reading the grants: %v", err)
		return exitProblems
	}
	if cn.store == nil {
		fmt.Fprintf(e.stderr, "hongbao: cancel: without %s nothing is recorded: the services learn each cancel from its notification, or on the user's next tap\n", envRedisURL)
	}
	fmt.Fprintf(e.stderr, "hongbao: cancel: %d %s of campaign %s: looking for bills waiting for the users' confirmation\n",
		len(grants), plural(len(grants), "grant", "grants"), cn.campaign)

	// Find the waiting bills, grant by grant, and cancel each.
	jobs := make(chan store.RebuildGrant)
	var wg sync.WaitGroup
	for range min(*workers, max(len(grants), 1)) {
		wg.Go(func() {
			for g := range jobs {
				cn.walk(ctx, g)
			}
		})
	}
	for _, g := range grants {
		if ctx.Err() != nil {
			break
		}
		jobs <- g
	}
	close(jobs)
	wg.Wait()

	// Wait for the platform to confirm the cancels still CANCELING.
	if !cn.dryRun && ctx.Err() == nil {
		cn.await(ctx, *wait)
	}
	return cn.report(ctx)
}

// canceller is one run of cancel.
type canceller struct {
	env      *env
	rail     *transfer.Rail
	store    *redisstore.Store // nil without HONGBAO_REDIS_URL
	handler  *claim.Handler    // records what the platform reports, with the Store
	budgets  []string          // the campaigns with a budget account in the Store
	campaign string
	numbers  int
	limiter  *rate.Limiter
	dryRun   bool
	prefix   string

	mu      sync.Mutex
	bills   []*waitingBill
	skipped int // grants whose current bill is paid, closed or never created
	errors  int
}

// waitingBill is a bill found waiting for the user, and what became of it.
type waitingBill struct {
	openid  string
	attempt int
	billno  string
	amount  int64
	before  string // the platform's state when found (WAIT_USER_CONFIRM, ...)
	after   rail.Bill
	done    bool // the platform reports it final, and it is recorded
	detail  []string
	failed  bool
	stored  store.Result
	hasRes  bool
	held    []string // the budget accounts holding its entry when found
	budgets string   // what became of it: released, committed, reserved
}

func (b *waitingBill) note(format string, a ...any) {
	b.detail = append(b.detail, fmt.Sprintf(format, a...))
}

// grants lists the transfer grants of the campaign the Store holds: terms
// whose Campaign is the campaign, or whose Key is when they name no
// Campaign, under a transfer rail's number.
func (cn *canceller) grants(ctx context.Context) ([]store.RebuildGrant, error) {
	ts, err := campaignTerms(ctx, cn.store.Client(), cn.prefix, cn.campaign, isTransferBillno, func(id string) {
		fmt.Fprintf(cn.env.stderr, "hongbao: cancel: %s names no grant: name its openid with -openids\n", id)
	})
	if err != nil {
		return nil, err
	}
	var out []store.RebuildGrant
	for _, g := range ts {
		out = append(out, store.RebuildGrant{Key: g.terms.Key, OpenID: g.terms.OpenID})
	}
	return out, nil
}

// walk follows the grant g's bill numbers as the handler does (attempt 0,
// then the next while the one before is closed) to its current one, and
// cancels it when it waits for the user.
func (cn *canceller) walk(ctx context.Context, g store.RebuildGrant) {
	for a := 0; a < cn.numbers; a++ {
		billno, err := cn.rail.Billno(g.Key, g.OpenID, a)
		if err != nil {
			cn.fail(&waitingBill{openid: g.OpenID, attempt: a}, "%v", err)
			return
		}
		b := &waitingBill{openid: g.OpenID, attempt: a, billno: billno}
		if cn.store != nil {
			res, have, err := cn.store.Result(ctx, billno)
			if err != nil {
				cn.fail(b, "the Store: %v", err)
				return
			}
			b.stored, b.hasRes = res, have
			switch {
			case have && res.Closed == rail.Paid:
				cn.skip()
				return // paid: nothing to cancel
			case have && res.Closed != "":
				continue // closed: the grant moved on
			}
		}
		bill, err := cn.query(ctx, billno)
		if err != nil {
			if ctx.Err() == nil {
				cn.fail(b, "query: %v", err)
			}
			return
		}
		switch bill.State {
		case rail.NotFound:
			if b.hasRes && b.stored.Paid() {
				cn.fail(b, "the Store holds an offer the platform does not know: look at it (hongbao reconcile)")
				return
			}
			cn.skip()
			return // never created: no later number either
		case rail.Waiting, rail.Pending:
			if bill.Status == string(transfer.StateTransfering) {
				cn.skip()
				return // the user confirmed: it pays
			}
			b.before, b.amount = bill.Status, bill.Payout.Amount
			cn.cancel(ctx, b)
			return
		case rail.Paid:
			cn.record(ctx, billno, bill)
			cn.skip()
			return
		case rail.Closed, rail.Returned, rail.Cancelled:
			cn.record(ctx, billno, bill)
			continue
		default:
			cn.fail(b, "the platform reports %s, a state this version does not know", bill.Status)
			return
		}
	}
	cn.skip()
}

// query asks the platform about billno, paced.
func (cn *canceller) query(ctx context.Context, billno string) (rail.Bill, error) {
	if err := cn.limiter.Wait(ctx); err != nil {
		return rail.Bill{}, err
	}
	return cn.rail.Query(ctx, billno)
}

// record records a final state the platform reported, as the services
// do, when there is a Store and this is no dry run; a failure is only
// noted on stderr (reconcile -resolve can record it later).
func (cn *canceller) record(ctx context.Context, billno string, bill rail.Bill) {
	if cn.handler == nil || cn.dryRun {
		return
	}
	if err := cn.handler.Settle(ctx, billno, bill); err != nil {
		fmt.Fprintf(cn.env.stderr, "hongbao: cancel: recording %s %s: %v\n", billno, bill.Status, err)
	}
}

// cancel cancels the waiting bill b (unless -dry-run) and records what the
// platform reports.
func (cn *canceller) cancel(ctx context.Context, b *waitingBill) {
	cn.mu.Lock()
	cn.bills = append(cn.bills, b)
	cn.mu.Unlock()
	if cn.dryRun {
		return
	}
	if cn.store != nil {
		b.held = cn.heldBy(ctx, b.billno)
	}
	if err := cn.limiter.Wait(ctx); err != nil {
		b.failed = true
		b.note("interrupted")
		return
	}
	var bill rail.Bill
	var err error
	if cn.handler != nil {
		// Cancels through the rail, and records a final answer (Settle).
		bill, err = cn.handler.Cancel(ctx, b.billno)
	} else {
		bill, err = cn.rail.Cancel(ctx, b.billno)
	}
	b.after = bill
	switch {
	case err != nil && bill.State == "":
		b.failed = true
		b.note("cancel: %v", err)
	case err != nil:
		b.failed = true
		b.note("recording %s: %v", bill.Status, err)
	default:
		cn.settled(ctx, b)
	}
}

// settled notes what became of b once the platform reported its state,
// recorded (with a Store) by the handler's Settle: a cancelled or closed
// bill's entry released from the budget accounts that held it, a paid
// one's committed.
func (cn *canceller) settled(ctx context.Context, b *waitingBill) {
	st := b.after.State
	if !st.Final() {
		return
	}
	b.done = true
	switch {
	case cn.handler == nil:
		b.budgets = "not recorded"
		return
	case len(b.held) == 0:
		return
	case st == rail.Paid:
		b.budgets = "committed"
		return
	}
	b.budgets = "released"
	if left := cn.heldBy(ctx, b.billno); len(left) > 0 {
		b.budgets = "reserved"
		b.note("the budget of %s still holds it", strings.Join(left, ", "))
	}
}

// heldBy returns the campaigns whose budget account holds an entry of
// billno.
func (cn *canceller) heldBy(ctx context.Context, billno string) []string {
	var out []string
	for _, c := range cn.budgets {
		if ok, err := cn.store.Client().HExists(ctx, cn.prefix+"budget:"+c, "b:"+billno).Result(); err == nil && ok {
			out = append(out, c)
		}
	}
	return out
}

// await asks the platform again, until wait has passed, about the bills
// whose cancel it has not confirmed yet (CANCELING), and records each once
// it does.
func (cn *canceller) await(ctx context.Context, wait time.Duration) {
	deadline := time.Now().Add(wait)
	delay := 200 * time.Millisecond
	for {
		var open []*waitingBill
		for _, b := range cn.bills {
			if !b.done && !b.failed {
				open = append(open, b)
			}
		}
		if len(open) == 0 {
			return
		}
		for _, b := range open {
			bill, err := cn.query(ctx, b.billno)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				continue // asked again on the next round
			}
			if !bill.State.Final() {
				b.after = bill
				continue
			}
			if cn.handler != nil {
				if err := cn.handler.Settle(ctx, b.billno, bill); err != nil {
					b.note("recording %s: %v", bill.Status, err)
					continue
				}
			}
			b.after = bill
			cn.settled(ctx, b)
		}
		if time.Now().Add(delay).After(deadline) {
			return
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		delay = min(2*delay, 5*time.Second)
	}
}

func (cn *canceller) skip() {
	cn.mu.Lock()
	cn.skipped++
	cn.mu.Unlock()
}

// fail reports a grant that could not be looked at.
func (cn *canceller) fail(b *waitingBill, format string, a ...any) {
	b.failed = true
	b.note(format, a...)
	cn.mu.Lock()
	cn.bills = append(cn.bills, b)
	cn.mu.Unlock()
}

// report writes the table of the waiting bills and the counts, and
// returns the exit code: 1 when a bill could not be cancelled or looked
// at, a cancel is not confirmed yet, or the run was interrupted.
func (cn *canceller) report(ctx context.Context) int {
	e := cn.env
	slices.SortFunc(cn.bills, func(a, b *waitingBill) int {
		return cmp.Or(cmp.Compare(a.openid, b.openid), cmp.Compare(a.attempt, b.attempt))
	})
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "OPENID\tATTEMPT\tOUT_BILL_NO\tFOUND\tNOW\tYUAN\tBUDGET\tDETAIL")
	var cancelled, paidFirst, canceling, failed, waiting int
	var releasedFen int64
	for _, b := range cn.bills {
		now, amount := b.after.Status, ""
		switch {
		case b.failed:
			failed++
			now = "ERROR"
		case cn.dryRun:
			waiting++
			now = "-"
		case b.after.State == rail.Cancelled:
			cancelled++
			if b.budgets == "released" {
				releasedFen += b.amount
			}
		case b.after.State == rail.Paid:
			paidFirst++
			b.note("the user confirmed before the cancel")
		case b.done:
			// Closed otherwise meanwhile (OVERDUE_CLOSE, FAIL).
			if b.after.Reason != "" {
				b.note("platform: %s", b.after.Reason)
			}
		default:
			canceling++
			b.budgets = "reserved"
			b.note("the platform has not confirmed the cancel yet")
		}
		if b.amount > 0 {
			amount = yuan(b.amount)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", b.openid, b.attempt, dash(b.billno), dash(b.before), dash(now), dash(amount),
			dash(b.budgets), dash(strings.Join(b.detail, "; ")))
	}
	tw.Flush()

	if cn.dryRun {
		fmt.Fprintf(e.stderr, "hongbao: cancel: -dry-run: %d %s waiting for confirmation, nothing cancelled; %d %s paid, closed or never created\n",
			waiting, plural(waiting, "bill", "bills"), cn.skipped, plural(cn.skipped, "grant", "grants"))
	} else {
		fmt.Fprintf(e.stderr, "hongbao: cancel: %d cancelled (%s yuan released), %d confirmed by the user first, %d still cancelling, %d %s; %d %s paid, closed or never created, left as they are\n",
			cancelled, yuan(releasedFen), paidFirst, canceling, failed, plural(failed, "error", "errors"), cn.skipped, plural(cn.skipped, "grant", "grants"))
	}
	switch {
	case ctx.Err() != nil:
		e.errorf("cancel interrupted: run it again (it is idempotent)")
	case failed > 0:
		e.errorf("%d %s could not be cancelled or looked at: see the rows with ERROR, and run cancel again", failed, plural(failed, "bill", "bills"))
	case canceling > 0:
		e.errorf("the platform has not confirmed %d %s yet (CANCELING): %s until it does; the services' notifications record %s, or run cancel again",
			canceling, plural(canceling, "cancel", "cancels"), plural(canceling, "its amount stays reserved", "their amounts stay reserved"), plural(canceling, "it", "them"))
	default:
		return exitOK
	}
	return exitProblems
}
