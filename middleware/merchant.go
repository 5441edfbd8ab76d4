package middleware

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/hongbao-go/hongbao"
)

// merchantGate paces new bill numbers while the merchant cannot pay
// (NOTENOUGH, SENDAMOUNT_LIMIT, API_METHOD_CLOSED, PRODUCT_AUTHORITY_UNOPEN).
// When the platform records such refusals as FAILED, every number sent
// meanwhile is closed and a grant would use up its attempts during the
// outage. After a merchant refusal of a number's first send, no grant moves
// to a new number for merchantProbe; after that, one tap at a time probes,
// and any success opens the gate. Resends of a refused number (which the
// platform may pay once the operator acts) are not gated. The gate is this
// process's: replicas probe independently.
type merchantGate struct {
	downAt atomic.Int64 // unix nanoseconds of the last refusal; 0: open
}

// merchantProbe is how long after a merchant refusal new numbers wait.
const merchantProbe = 30 * time.Second

var merchantCodes = []error{hongbao.ErrNotEnough, hongbao.ErrSendAmountLimit, hongbao.ErrAPIMethodClosed, hongbao.ErrProductAuthorityUnopen}

var errMerchantDown = errors.New("middleware: the merchant's last send was refused; new bill numbers wait")

func (g *merchantGate) down(now time.Time) { g.downAt.Store(now.UnixNano()) }
func (g *merchantGate) up()                { g.downAt.Store(0) }

// wait returns how long new numbers must still wait (0: go ahead). A probe
// that goes ahead closes the gate again for the others until it is answered.
func (g *merchantGate) wait(now time.Time) time.Duration {
	at := g.downAt.Load()
	if at == 0 {
		return 0
	}
	if left := time.Duration(at + int64(merchantProbe) - now.UnixNano()); left > 0 {
		return left
	}
	if g.downAt.CompareAndSwap(at, now.UnixNano()) {
		return 0 // this tap probes
	}
	return merchantProbe
}
