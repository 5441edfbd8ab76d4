package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hongbao-go/hongbao/rail"
)

// Platform is what a rebuild asks of the payment platform, through the
// grants' rail: the bill numbers of a grant, and where each stands. Every
// rail.Rail implements it (hongbao.Client.Rail for the red packet,
// transfer.Client.Rail for the transfer). One that is a
// rail.ConfirmedPayout has its offers reserved, not committed.
type Platform interface {
	Billno(grantKey, openID string, attempt int) (string, error)
	Query(ctx context.Context, billno string) (rail.Bill, error)
}

// DefaultRebuildNumbers is the default of RebuildConfig.Numbers: the
// handler's default MaxAttempts (3) and the 8 numbers refusals may close
// beyond it.
const DefaultRebuildNumbers = 3 + 8

// RebuildConfig configures RebuildBudget.
type RebuildConfig struct {
	// Platform derives the grants' bill numbers and answers queries,
	// for every grant that names no Platform of its own.
	Platform Platform
	// Store holds the account and the grants' records.
	Store Store
	// Campaign names the account.
	Campaign string
	// Grants are the grants the account counts: every grant of the
	// campaign the Store still holds, or those of the openids an operator
	// gives (after a loss that took the grants' records too).
	Grants []RebuildGrant
	// Numbers bounds the bill numbers followed per grant (attempt 0, 1,
	// ...); DefaultRebuildNumbers when 0.
	Numbers int
	// Wait paces the queries (a rate limiter's Wait, say); nil means
	// none.
	Wait func(context.Context) error
	// Now is the opening time when no grant is older; time.Now when nil.
	Now func() time.Time
	// Logger receives a line per bill number counted; nil means silent.
	Logger *slog.Logger
}

// RebuildGrant is one grant of a rebuild.
type RebuildGrant struct {
	Key, OpenID string
	// DecidedAt is when the grant's terms were recorded (Terms.DecidedAt),
	// when known: the account is opened no later than that, so that it
	// counts the grant (a grant decided before its account's opening is
	// refused new numbers: see BudgetOp).
	DecidedAt time.Time
	// Platform is the grant's own rail when it is not
	// RebuildConfig.Platform: a campaign paid on both rails (while it
	// moves from the red packet to the transfer, say) is rebuilt in one
	// call, each grant's numbers derived and asked about on its rail, and
	// its offers reserved when that rail is a rail.ConfirmedPayout. nil
	// means RebuildConfig.Platform. A grant walked on a rail it was not
	// paid on finds nothing there, and would be counted as never paid:
	// give each grant the rail its terms were recorded on (the rail whose
	// attempt-0 number is their key).
	Platform Platform
}

// RebuildReport tells what RebuildBudget counted.
type RebuildReport struct {
	Grants                        int   // grants walked
	Committed, Reserved, Released int   // bill numbers
	CommittedFen, ReservedFen     int64 // their amounts
	// Failed are the bill numbers the platform could not be asked about
	// (or answered in a state a rebuild cannot count);
	// the account is not opened while there are any.
	Failed []string
	// State is the account after the rebuild; State.Open reports that it
	// was opened (taps resume).
	State BudgetState
}

// ErrRebuildIncomplete is returned when some bill numbers could not be
// asked about: the account was not opened. Run the rebuild again.
var ErrRebuildIncomplete = errors.New("store: the rebuild is incomplete: some bill numbers could not be asked about; the account stays closed")

// RebuildBudget rebuilds a campaign's account from the platform, for an
// account the Store lost (a flushed Redis, a failover to a replica that
// lagged), or to repair one: for each grant it follows the bill numbers,
// attempt 0 then each next one while the platform reports the one before
// it closed, asking the platform about each (rail.Rail.Query) through the
// grant's rail (RebuildGrant.Platform, else RebuildConfig.Platform):
//
//   - Waiting, Paid (the red packet's SENT, RECEIVED; the transfer's
//     SUCCESS): paid; the amount the platform reports is committed,
//     whatever was reserved;
//   - Pending (SENDING, RFUND_ING; the transfer's TRANSFERING, CANCELING),
//     and Waiting on a grant's rail whose payouts the user must still
//     confirm (a rail.ConfirmedPayout: the transfer's WAIT_USER_CONFIRM,
//     an offer, not a payment): not settled; the amount the platform
//     reports is reserved, beyond the caps if need be, until the platform
//     reports the number paid or closed (the claim handler's
//     notifications and queries commit or release it);
//   - Closed, Returned, Cancelled (FAILED, REFUND): the money never left,
//     or came back; any entry of the number is released, and the next
//     number is followed;
//   - NotFound: nothing was paid under the number (or longer ago than the
//     platform's records go: a paid result in the Store is committed); if
//     the Store records a send of it that may still pay (a refusal the
//     platform did not record, a reply lost), its amount is reserved.
//
// Entries are written into the account while it is missing, so taps stay
// refused; once every number is counted the account is opened, at the
// time of its oldest grant (so that it counts them all), and taps resume.
// Every step is idempotent: a rebuild may run again, and taps may go on
// during it (their commits and releases are counted too).
func RebuildBudget(ctx context.Context, cfg RebuildConfig) (RebuildReport, error) {
	var rep RebuildReport
	if cfg.Platform == nil || cfg.Store == nil || cfg.Campaign == "" {
		return rep, errors.New("store: RebuildConfig needs a Platform, a Store and a Campaign")
	}
	numbers := cfg.Numbers
	if numbers <= 0 {
		numbers = DefaultRebuildNumbers
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := time.Now
	if cfg.Now != nil {
		now = cfg.Now
	}
	openAt := now()
	step := func(op BudgetOp) error {
		_, _, err := cfg.Store.Budget(ctx, cfg.Campaign, op)
		return err
	}
	for _, g := range cfg.Grants {
		rep.Grants++
		platform := cfg.Platform
		if g.Platform != nil {
			platform = g.Platform
		}
		// Per grant: the transfer's offers are reserved, the red
		// packet's SENT committed, in one campaign.
		onConfirmation := paidOnConfirmation(platform)
		if !g.DecidedAt.IsZero() && g.DecidedAt.Before(openAt) {
			openAt = g.DecidedAt
		}
	walk:
		for n := range numbers {
			billno, err := platform.Billno(g.Key, g.OpenID, n)
			if err != nil {
				return rep, fmt.Errorf("store: rebuild: grant %q of %q: %w", g.Key, g.OpenID, err)
			}
			if cfg.Wait != nil {
				if err := cfg.Wait(ctx); err != nil {
					return rep, err
				}
			}
			bill, qerr := platform.Query(ctx, billno)
			if qerr != nil {
				if ctx.Err() != nil {
					return rep, ctx.Err()
				}
				log.LogAttrs(ctx, slog.LevelWarn, "hongbao: rebuild: the platform did not answer", slog.String("billno", billno), slog.String("error", qerr.Error()))
				rep.Failed = append(rep.Failed, billno)
				break walk
			}
			if bill.State == rail.NotFound {
				// Open only if the Store records a send.
				r, ok, err := cfg.Store.Result(ctx, billno)
				if err != nil {
					return rep, fmt.Errorf("store: rebuild: reading %s: %w", billno, err)
				}
				switch {
				case !ok || r.Closed != "" || r.Amount <= 0:
				case r.Paid():
					// Paid longer ago than the platform's records go.
					if err := step(BudgetOp{Step: BudgetCommit, Billno: billno, Amount: r.Amount}); err != nil {
						return rep, err
					}
					rep.Committed++
					rep.CommittedFen += r.Amount
				case r.Refused != "" || !r.LostAt.IsZero():
					if err := step(BudgetOp{Step: BudgetRestore, Billno: billno, Amount: r.Amount}); err != nil {
						return rep, err
					}
					rep.Reserved++
					rep.ReservedFen += r.Amount
					log.LogAttrs(ctx, slog.LevelInfo, "hongbao: rebuild: reserved", slog.String("billno", billno), slog.Int64("fen", r.Amount))
				}
				break walk
			}
			if !bill.At.IsZero() && bill.At.Before(openAt) {
				openAt = bill.At
			}
			state := bill.State
			if state == rail.Waiting && onConfirmation {
				state = rail.Pending // an offer: the money has not left
			}
			switch state {
			case rail.Waiting, rail.Paid:
				if err := step(BudgetOp{Step: BudgetCommit, Billno: billno, Amount: bill.Payout.Amount}); err != nil {
					return rep, err
				}
				rep.Committed++
				rep.CommittedFen += bill.Payout.Amount
				log.LogAttrs(ctx, slog.LevelInfo, "hongbao: rebuild: committed", slog.String("billno", billno), slog.Int64("fen", bill.Payout.Amount))
				break walk
			case rail.Pending:
				if err := step(BudgetOp{Step: BudgetRestore, Billno: billno, Amount: bill.Payout.Amount}); err != nil {
					return rep, err
				}
				rep.Reserved++
				rep.ReservedFen += bill.Payout.Amount
				log.LogAttrs(ctx, slog.LevelInfo, "hongbao: rebuild: reserved", slog.String("billno", billno),
					slog.String("status", bill.Status), slog.Int64("fen", bill.Payout.Amount))
				break walk
			case rail.Closed, rail.Returned, rail.Cancelled:
				if err := step(BudgetOp{Step: BudgetRelease, Billno: billno}); err != nil {
					return rep, err
				}
				rep.Released++
			default:
				rep.Failed = append(rep.Failed, billno)
				break walk
			}
		}
	}
	var err error
	op := BudgetOp{Step: BudgetOpen, At: openAt}
	if len(rep.Failed) > 0 {
		op, err = BudgetOp{Step: BudgetRead}, ErrRebuildIncomplete
	}
	st, _, serr := cfg.Store.Budget(ctx, cfg.Campaign, op)
	if serr != nil {
		return rep, serr
	}
	rep.State = st
	return rep, err
}

// paidOnConfirmation reports whether p is a rail.ConfirmedPayout whose
// payouts are paid only once the user confirms them.
func paidOnConfirmation(p Platform) bool {
	c, ok := p.(rail.ConfirmedPayout)
	return ok && c.PaidOnConfirmation()
}
