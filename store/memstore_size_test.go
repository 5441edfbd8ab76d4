package store

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/hongbao-go/hongbao"
	"github.com/hongbao-go/hongbao/transport"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

var testBillnoKey = []byte("store-test-billno-key")

// resultTTL is the claim handler's default ResultTTL (30 days).
const resultTTL = 30 * 24 * time.Hour

// maxResultBytes is the most a stored result may cost in a MemoryStore.
const maxResultBytes = 500

// measureResultBytes pays n red packets to n users through a real client
// and a wxpaytest host, saves each result in a MemoryStore as the handler
// does, and returns the heap bytes the store holds per result: the live
// heap with the results stored, minus the live heap once they are dropped
// (everything else, the host's own records included, is alive in both).
func measureResultBytes(tb testing.TB, n int) float64 {
	tb.Helper()
	host := wxpaytest.Start(tb, wxpaytest.Options{})
	cert := host.ClientCertificate()
	client, err := hongbao.New(hongbao.Config{
		AppID: host.AppID,
		Transport: transport.Config{
			MchID:       host.MchID,
			APIKey:      host.APIKey,
			Certificate: &cert,
			RootCAs:     host.RootCAs(),
			BaseURL:     host.URL,
		},
		Flow:      hongbao.FlowControl{SendsPerMinute: -1},
		BillnoKey: testBillnoKey,
	})
	if err != nil {
		tb.Fatal(err)
	}
	store := NewMemoryStore()
	ctx := context.Background()
	railName := client.Rail().Name()
	g := hongbao.SendRequest{Amount: 100, SendName: "天虹百货", Wishing: "恭喜发财，大吉大利", ActName: "新春红包", Remark: "快来抢"}
	for i := range n {
		// openids are 28 characters, as the platform's are.
		openID := fmt.Sprintf("oUser%023d", i)
		billno, err := client.Billno("spring-2026", openID)
		if err != nil {
			tb.Fatal(err)
		}
		req := g
		req.Billno, req.OpenID = billno, openID
		res, err := client.SendMiniProgramHB(ctx, &req)
		if err != nil {
			tb.Fatalf("send %d: %v", i, err)
		}
		if err := store.SaveResult(ctx, billno, Result{Billno: billno, OpenID: openID, Rail: railName, Package: res.Package,
			SendListID: res.SendListID, Amount: req.Amount, PaidAt: time.Now()}, resultTTL); err != nil {
			tb.Fatal(err)
		}
	}
	stored := liveHeap()
	if got := store.results.ItemCount(); got != n {
		tb.Fatalf("the store holds %d results, want %d", got, n)
	}
	store.results.Flush()
	dropped := liveHeap()
	runtime.KeepAlive(store)
	runtime.KeepAlive(client)
	return float64(int64(stored)-int64(dropped)) / float64(n)
}

// liveHeap returns the bytes of live heap objects after a full collection.
func liveHeap() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestMemoryStoreResultSize checks the figure of the MemoryStore
// documentation: a stored result owns only its fields, not the platform's
// whole reply.
func TestMemoryStoreResultSize(t *testing.T) {
	if testing.Short() {
		t.Skip("pays 2,000 red packets")
	}
	per := measureResultBytes(t, 2000)
	t.Logf("%.0f bytes per stored result", per)
	if per > maxResultBytes {
		t.Errorf("a stored result costs %.0f bytes, want at most %d", per, maxResultBytes)
	}
}

// BenchmarkMemoryStoreResult reports the heap bytes a MemoryStore holds per
// result (B/result), the results being real sends through the client. Each
// iteration stores 5,000 results; ns/op is meaningless.
func BenchmarkMemoryStoreResult(b *testing.B) {
	const n = 5000
	var sum float64
	for range b.N {
		sum += measureResultBytes(b, n)
	}
	b.ReportMetric(sum/float64(b.N), "B/result")
	b.ReportMetric(0, "ns/op")
}
