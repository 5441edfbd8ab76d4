package store

import "time"

// Budget caps what one campaign may pay: money in fen and/or a number of
// packets (0: that dimension has no cap). A grant counts against the budget
// of its campaign (claim.Grant.Campaign, or its Key) when claim.HandlerConfig.Budgets
// names one.
//
// The accounting follows each bill number (each attempt of a grant): its
// amount is reserved before its first send (right after the grant's terms
// are recorded), stays reserved while the send is in flight or its outcome
// unknown, is committed once paid, and is released only when the platform
// reports the number closed (FAILED, or REFUND: the money came back). A
// grant moving to its next number reserves again, and may then find the
// budget used up. A repeat tap of a paid grant reserves nothing. Reserved
// and committed money both count against the cap, so a send is never made
// beyond it; a reservation a crash left behind stays until the grant's next
// tap settles it from the platform (see claim.Handler.Budget for what is left).
//
// An account exists because it was opened (BudgetOpen): by the application
// when the campaign is first configured, or by the operator's rebuild from
// the platform. No other step opens one, so an account the Store lost (a
// flushed Redis, a failover to a replica that lagged) is missing instead
// of starting a fresh count: reservations in it are refused until it is
// rebuilt, and the handler answers 503 budget_unavailable.
type Budget struct {
	Fen     int64 // money, in fen; 0: no cap
	Packets int64 // packets; 0: no cap
}

// BudgetState is a campaign's account: its caps and what is reserved and
// committed. Remaining is what is left under each cap (-1 where there is
// none).
type BudgetState struct {
	Budget
	ReservedFen, ReservedPackets   int64
	CommittedFen, CommittedPackets int64
	// Open reports that the account exists and was opened. A missing
	// account (never opened, or lost) is not open; neither is one that
	// holds only entries written while it was missing (commits of sends
	// that paid meanwhile, a rebuild under way).
	Open bool
	// OpenedAt is when the account was opened: no grant it counts was
	// decided before then. Zero when unknown (an account of an older
	// version).
	OpenedAt time.Time
}

// RemainingFen is the money left under the cap (-1: no cap).
func (s BudgetState) RemainingFen() int64 {
	if s.Fen == 0 {
		return -1
	}
	return max(s.Fen-s.ReservedFen-s.CommittedFen, 0)
}

// RemainingPackets is the packets left under the cap (-1: no cap).
func (s BudgetState) RemainingPackets() int64 {
	if s.Packets == 0 {
		return -1
	}
	return max(s.Packets-s.ReservedPackets-s.CommittedPackets, 0)
}

// BudgetStep is one step of a bill number's accounting.
type BudgetStep int

const (
	// BudgetRead changes nothing and returns the account.
	BudgetRead BudgetStep = iota
	// BudgetReserve reserves Amount for Billno when the caps allow it
	// (ok=false otherwise). A number already reserved or committed keeps
	// its entry (ok=true); a reserved one whose amount differs takes the
	// new amount, even beyond the caps (the platform's terms win).
	BudgetReserve
	// BudgetCommit turns Billno's entry into a commitment of Amount, the
	// amount the platform paid, whatever was reserved (the reserved
	// amount when Amount is 0); a number without an entry is committed
	// anyway (the money left), beyond the caps if need be.
	BudgetCommit
	// BudgetRelease drops Billno's reservation or commitment: the platform
	// reported the number closed.
	BudgetRelease
	// BudgetOpen opens the account at At when it is not open (the entries
	// it holds stay); an open account's OpenedAt moves back to At when At
	// is earlier (a rebuild that counted older grants), and is kept
	// otherwise.
	BudgetOpen
	// BudgetRestore records Billno reserved for Amount whatever the caps
	// and whether the account is open, for a rebuild: a number the
	// platform may still pay. A committed entry is kept.
	BudgetRestore
)

// BudgetOp is one call of Store.Budget.
//
// Every step but BudgetOpen leaves a missing account missing, except that
// BudgetCommit and BudgetRestore write their entry into it (without opening
// it); BudgetReserve is refused (ok=false) on an account that is not open,
// and when At is set and the account was opened after At (the account is
// younger than the grant, decided at At, whose number it would count: it
// was lost and opened again), unless the number already has an entry.
type BudgetOp struct {
	Step   BudgetStep
	Billno string // the attempt's bill number; empty for BudgetRead and BudgetOpen
	Amount int64  // fen: the grant's terms (BudgetReserve, BudgetRestore), the paid amount (BudgetCommit)
	// Limit is the campaign's budget, passed on each call (the Store
	// keeps the account, the configuration keeps the caps).
	Limit Budget
	// At is the opening time (BudgetOpen), or when the grant was decided
	// (BudgetReserve; zero: not checked).
	At time.Time
}

// Younger reports whether the account was opened after the grant decided
// at decided: it cannot have counted that grant's earlier numbers.
func (s BudgetState) Younger(decided time.Time) bool {
	return s.Open && !s.OpenedAt.IsZero() && !decided.IsZero() && s.OpenedAt.After(decided)
}
