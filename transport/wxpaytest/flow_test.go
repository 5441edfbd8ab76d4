package wxpaytest_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

// TestSendsPerMinute sends a burst over the rate at once: the calls within
// it pay, the others answer FREQ_LIMIT unprocessed.
func TestSendsPerMinute(t *testing.T) {
	// 60 a minute over 10 seconds: 10 sends in any 10 seconds.
	h := newHarness(t, wxpaytest.Options{SendsPerMinute: 60, RateWindow: 10 * time.Second})
	const n = 25
	codes := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			doc := h.send(h.sendParams(fmt.Sprintf("R%d", i), 100))
			codes[i] = doc.Fields["err_code"]
			if codes[i] == "FREQ_LIMIT" {
				wantBusinessFail(t, doc, "FREQ_LIMIT")
				wantFields(t, doc, "mch_billno", fmt.Sprintf("R%d", i))
			}
		})
	}
	wg.Wait()
	paid, limited := 0, 0
	for i, code := range codes {
		billno := fmt.Sprintf("R%d", i)
		switch code {
		case "":
			paid++
			if h.srv.Sends(billno) != 1 {
				t.Errorf("%s paid but counted %d sends", billno, h.srv.Sends(billno))
			}
		case "FREQ_LIMIT":
			limited++
			if _, ok := h.srv.Packet(billno); ok || h.srv.Sends(billno) != 0 {
				t.Errorf("%s answered FREQ_LIMIT but was processed", billno)
			}
		default:
			t.Errorf("%s: err_code %s", billno, code)
		}
	}
	if paid != 10 || limited != n-10 {
		t.Errorf("%d paid, %d FREQ_LIMIT; want 10 and %d", paid, limited, n-10)
	}
	if got := h.srv.FreqLimited(); got != int64(limited) {
		t.Errorf("FreqLimited = %d, want %d", got, limited)
	}
	// gethbinfo is not limited.
	wantFields(t, h.info("R0"), "return_code", "SUCCESS")
	h.srv.Reset()
	if got := h.srv.FreqLimited(); got != 0 {
		t.Errorf("FreqLimited after Reset = %d", got)
	}
	// Reset keeps the sends counted against the rate.
	wantBusinessFail(t, h.send(h.sendParams("R0", 100)), "FREQ_LIMIT")
}

// TestSendsPerMinuteSliding spreads sends under the rate, then sends one
// more: the window slides, so the send that would put 11 in 300 ms is
// refused, and sends go through again 300 ms later.
func TestSendsPerMinuteSliding(t *testing.T) {
	const window = 300 * time.Millisecond
	// 2,000 a minute over 300 ms: 10 sends in any 300 ms.
	h := newHarness(t, wxpaytest.Options{SendsPerMinute: 2000, RateWindow: window})
	start := time.Now()
	for i := range 10 {
		wantFields(t, h.send(h.sendParams(fmt.Sprintf("S%d", i), 100)), "result_code", "SUCCESS")
		time.Sleep(10 * time.Millisecond)
	}
	doc := h.send(h.sendParams("S10", 100))
	if time.Since(start) >= window {
		t.Skip("the machine is too slow for this timing")
	}
	wantBusinessFail(t, doc, "FREQ_LIMIT")
	time.Sleep(window)
	wantFields(t, h.send(h.sendParams("S10", 100)), "result_code", "SUCCESS")
}

func TestLatency(t *testing.T) {
	const latency = 60 * time.Millisecond
	h := newHarness(t, wxpaytest.Options{Latency: latency})
	start := time.Now()
	wantFields(t, h.send(h.sendParams("L1", 100)), "result_code", "SUCCESS")
	wantFields(t, h.info("L1"), "result_code", "SUCCESS")
	if d := time.Since(start); d < 2*latency {
		t.Errorf("two calls answered in %v, want at least %v", d, 2*latency)
	}
	// A client that gives up during the latency: nothing is processed.
	ctx, cancel := context.WithTimeout(context.Background(), latency/3)
	defer cancel()
	_, _, err := postRaw(ctx, h.client, h.srv.URL+wxpaytest.PathSendMiniProgramHB, marshal(t, h.sign(h.sendParams("L2", 100))))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	time.Sleep(latency)
	if _, ok := h.srv.Packet("L2"); ok || h.srv.Sends("L2") != 0 {
		t.Error("a call abandoned during the latency was processed")
	}
}

// TestPeakConns holds calls open with the latency: each concurrent call
// takes a connection of its own, and the peak stays after they close.
func TestPeakConns(t *testing.T) {
	h := newHarness(t, wxpaytest.Options{Latency: 200 * time.Millisecond})
	if h.srv.OpenConns() != 0 || h.srv.PeakConns() != 0 {
		t.Fatalf("open %d, peak %d before any call", h.srv.OpenConns(), h.srv.PeakConns())
	}
	const n = 6
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { h.send(h.sendParams(fmt.Sprintf("C%d", i), 100)) })
	}
	// The calls wait out the latency on connections of their own.
	deadline := time.Now().Add(5 * time.Second)
	for h.srv.OpenConns() != n && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got := h.srv.OpenConns(); got != n {
		t.Errorf("OpenConns = %d with %d calls in flight", got, n)
	}
	wg.Wait()
	if got := h.srv.PeakConns(); got != n {
		t.Errorf("PeakConns = %d, want %d", got, n)
	}
	h.client.Transport.(*http.Transport).CloseIdleConnections()
	deadline = time.Now().Add(5 * time.Second)
	for h.srv.OpenConns() != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := h.srv.OpenConns(); got != 0 {
		t.Errorf("OpenConns = %d after the client closed them", got)
	}
	if got := h.srv.PeakConns(); got != n {
		t.Errorf("PeakConns = %d after the connections closed, want %d", got, n)
	}
	h.srv.Reset()
	if got := h.srv.PeakConns(); got != 0 {
		t.Errorf("PeakConns = %d after Reset with nothing open", got)
	}
	// A refused handshake opens and closes a connection too.
	postRaw(context.Background(), h.clientWith(), h.srv.URL+wxpaytest.PathSendMiniProgramHB, []byte("<xml></xml>"))
	if got := h.srv.PeakConns(); got != 1 {
		t.Errorf("PeakConns = %d after a refused handshake, want 1", got)
	}
}

func TestFlowOptionErrors(t *testing.T) {
	for _, o := range []wxpaytest.Options{{SendsPerMinute: -1}, {RateWindow: -time.Second}, {Latency: -time.Millisecond}} {
		if _, err := wxpaytest.NewServer(o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
	// A rate below one call per window still lets one through.
	h := newHarness(t, wxpaytest.Options{SendsPerMinute: 1, RateWindow: time.Millisecond})
	wantFields(t, h.send(h.sendParams("M1", 100)), "result_code", "SUCCESS")
}
