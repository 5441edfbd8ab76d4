package store

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
	// BudgetCommit turns Billno's reservation into a commitment; a number
	// without one is committed anyway (the money left), beyond the caps if
	// need be.
	BudgetCommit
	// BudgetRelease drops Billno's reservation or commitment: the platform
	// reported the number closed.
	BudgetRelease
)

// BudgetOp is one call of Store.Budget.
type BudgetOp struct {
	Step   BudgetStep
	Billno string // the attempt's bill number; empty for BudgetRead
	Amount int64  // fen: the grant's terms (BudgetReserve, BudgetCommit)
	// Limit is the campaign's budget, passed on each call (the Store
	// keeps the account, the configuration keeps the caps).
	Limit Budget
}
