package hongbao

import (
	"context"
	"testing"
)

// Without an Observer the hooks cost no allocation.
func TestNilObserverAllocatesNothing(t *testing.T) {
	c := &Client{}
	ctx := context.Background()
	perr := &Error{Op: opSend, ErrCode: "SYSTEMERROR"}
	var err error = perr
	allocs := testing.AllocsPerRun(100, func() {
		cctx, start := c.callStarted(ctx, opSend, "billno")
		actx, astart := c.attemptStarted(cctx, opSend, "billno", 1)
		c.attemptEnded(actx, opSend, "billno", 1, astart, perr)
		c.callEnded(cctx, opSend, "billno", start, err)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per call without an Observer", allocs)
	}
}
