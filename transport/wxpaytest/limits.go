package wxpaytest

import (
	"errors"
	"fmt"
	"time"
)

// UserLimits are the platform's per-user daily limits on red packets: how
// many packets, and how many fen, one openid may receive in a day (the
// platform's defaults are 10 packets and 1,000 yuan, adjustable in the
// merchant console). A day is a calendar day in Beijing time on
// Options.Now, so a test moves to the next day by moving its clock.
//
// Every accepted send of a day counts (a later refund does not give the
// count back); refusals and recorded failures do not. A new bill number
// whose send would go beyond a limit is refused with SENDNUM_LIMIT (the
// count is reached) or RCVDAMOUNT_LIMIT (the amount would be passed),
// after the checks of its fields and before the balance is looked at, and
// Refusals chooses what the server remembers of it:
//
//   - NotEnoughFailed (the zero value) records the refusal, as for
//     NOTENOUGH: the bill number holds a FAILED record, every later send
//     of it answers the same code (on any day), and gethbinfo reports it
//     FAILED;
//   - NotEnoughForgotten records nothing: gethbinfo answers NOT_FOUND and
//     the bill number sent again, the next day say, is processed as new.
//
// A bill number already paid is answered its packet however many the user
// received since (the idempotency of mch_billno comes first).
type UserLimits struct {
	// Count is how many red packets one openid may receive in a day;
	// 0 means no limit, negative is an error.
	Count int
	// Amount is how many fen one openid may receive in a day; 0 means no
	// limit, negative is an error.
	Amount int64
	// Refusals chooses whether a refused send is recorded (see above).
	Refusals NotEnoughMode
}

func (l UserLimits) check() error {
	if l.Count < 0 || l.Amount < 0 {
		return errors.New("wxpaytest: UserLimits.Count and Amount must not be negative")
	}
	switch l.Refusals {
	case NotEnoughFailed, NotEnoughForgotten:
		return nil
	}
	return fmt.Errorf("wxpaytest: unknown UserLimits.Refusals mode %v", l.Refusals)
}

// userLimit refuses a new send of amount to openID that would go beyond
// the user's limits of today, recording the refusal as the limits say; it
// returns nil when the send is within them. s.mu must be held.
func (s *Server) userLimit(params map[string]string, openID string, amount int64) *reply {
	l := s.limits
	if l.Count == 0 && l.Amount == 0 {
		return nil
	}
	count, fen := s.received(openID, s.now())
	var code string
	switch {
	case l.Count > 0 && count >= l.Count:
		code = "SENDNUM_LIMIT"
	case l.Amount > 0 && fen+amount > l.Amount:
		code = "RCVDAMOUNT_LIMIT"
	default:
		return nil
	}
	return s.refuseNew(params, code, l.Refusals)
}

// Received returns how many red packets openid received on the day (in
// Beijing time) of at, and how many fen: the accepted sends of that day,
// refunded ones included, as the per-user daily limits count them.
func (s *Server) Received(openid string, at time.Time) (count int, fen int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.received(openid, at)
}

// received is Received with s.mu held.
func (s *Server) received(openid string, at time.Time) (count int, fen int64) {
	day := beijingDay(at)
	for _, p := range s.byOpenID[openid] {
		if p.ErrCode == "" && beijingDay(p.SentAt) == day {
			count++
			fen += p.Amount
		}
	}
	return count, fen
}

// beijingDay is the calendar day of t in Beijing, as yyyymmdd.
func beijingDay(t time.Time) int {
	y, m, d := t.In(beijing).Date()
	return y*10000 + int(m)*100 + d
}
