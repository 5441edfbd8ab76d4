package hongbao_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"github.com/hongbao-go/hongbao"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

// heldBytes returns the live heap bytes per item that keep holds: the live
// heap while keep's values are reachable, minus the live heap once drop
// has let them go, divided by n.
func heldBytes(n int, drop func()) float64 {
	// Let the connections' goroutines settle first: what they free or
	// allocate meanwhile is not the kept values'.
	time.Sleep(50 * time.Millisecond)
	held := liveHeap()
	drop()
	return float64(int64(held)-int64(liveHeap())) / float64(n)
}

func liveHeap() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestKeptFieldsOwnTheirMemory keeps one field of many results and errors
// and checks that each kept field holds only its own bytes: decoded values
// are pieces of one string holding the whole reply (hundreds of bytes), and
// the client hands out copies.
func TestKeptFieldsOwnTheirMemory(t *testing.T) {
	// Many items, so that the heap's own noise (buffers of connections,
	// timers) is small per item.
	const n = 1000
	s := wxpaytest.Start(t, wxpaytest.Options{})
	c, _ := newClient(t, s, func(cfg *hongbao.Config) {
		cfg.Logger = slog.New(slog.DiscardHandler) // the logs' own garbage is not the fields'
		cfg.Flow.SendsPerMinute = -1
	})
	ctx := context.Background()

	kept := make([][2]string, n)
	billnos := make([]string, n)
	for i := range n {
		r := sendRequest(t, c, "memory", fmt.Sprintf("oMemory%021d", i))
		res, err := c.SendMiniProgramHB(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		kept[i], billnos[i] = [2]string{res.Package, res.SendListID}, r.Billno
	}
	// A package is about 190 bytes (a 192-byte allocation), a send_listid
	// 29 (32), their headers 32, and the heap's noise a few more; the reply
	// is over 500.
	if per := heldBytes(n, func() { kept = nil }); per > 340 {
		t.Errorf("a kept SendResult.Package and SendListID hold %.0f bytes", per)
	}

	statuses := make([]hongbao.Status, n)
	for i, b := range billnos {
		info, err := c.QueryHB(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		statuses[i] = info.Status
	}
	if per := heldBytes(n, func() { statuses = nil }); per > 64 {
		t.Errorf("a kept HBInfo.Status holds %.0f bytes", per)
	}

	s.Inject(wxpaytest.Fault{ErrCode: "SENDNUM_LIMIT", Times: n})
	codes := make([]string, n)
	for i := range n {
		_, err := c.SendMiniProgramHB(ctx, sendRequest(t, c, "memory-refused", fmt.Sprintf("oMemory%021d", i)))
		var he *hongbao.Error
		if !errors.As(err, &he) || he.ErrCode != "SENDNUM_LIMIT" {
			t.Fatalf("send %d: %v, want SENDNUM_LIMIT", i, err)
		}
		codes[i] = he.ErrCode
	}
	if per := heldBytes(n, func() { codes = nil }); per > 64 {
		t.Errorf("a kept Error.ErrCode holds %.0f bytes", per)
	}
}
