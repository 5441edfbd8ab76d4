package hongbao_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hongbao-go/hongbao"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

// sendTimes returns when the host received each send, in order.
func sendTimes(s *wxpaytest.Server) []time.Time {
	var at []time.Time
	for _, r := range s.Requests() {
		if r.Path == wxpaytest.PathSendMiniProgramHB {
			at = append(at, r.At)
		}
	}
	sort.Slice(at, func(i, j int) bool { return at[i].Before(at[j]) })
	return at
}

// checkPace fails when some stretch of sends holds more than burst +
// perSecond x its length (+1 for the network's jitter). A slow machine
// only spreads sends further apart, so this cannot fail for slowness.
func checkPace(t *testing.T, at []time.Time, perSecond float64, burst int) {
	t.Helper()
	for i := range at {
		for j := i + 1; j < len(at); j++ {
			n := float64(j - i + 1)
			allowed := float64(burst) + perSecond*at[j].Sub(at[i]).Seconds() + 1
			if n > allowed {
				t.Fatalf("%.0f sends within %v: more than %.1f allowed at %.0f/s, burst %d",
					n, at[j].Sub(at[i]), allowed, perSecond, burst)
			}
		}
	}
}

func sendAll(t *testing.T, c *hongbao.Client, n int) []error {
	t.Helper()
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			req := sendRequest(t, c, "flow", fmt.Sprintf("oFlowUser%019d", i))
			_, errs[i] = c.SendMiniProgramHB(context.Background(), req)
		})
	}
	wg.Wait()
	return errs
}

func TestFlowPacesSends(t *testing.T) {
	s := wxpaytest.Start(t, wxpaytest.Options{})
	c, _ := newClient(t, s, func(cfg *hongbao.Config) {
		cfg.Flow = hongbao.FlowControl{SendsPerMinute: 600, Burst: 2, MaxWait: 10 * time.Second}
	})
	for i, err := range sendAll(t, c, 14) {
		if err != nil {
			t.Errorf("send %d: %v", i, err)
		}
	}
	at := sendTimes(s)
	if len(at) != 14 {
		t.Fatalf("%d sends at the host", len(at))
	}
	checkPace(t, at, 10, 2)
}

func TestFlowThrottlesBeyondMaxWait(t *testing.T) {
	s := wxpaytest.Start(t, wxpaytest.Options{})
	c, _ := newClient(t, s, func(cfg *hongbao.Config) {
		// One send a minute: however slow the machine, the four sends
		// come within a minute of each other.
		cfg.Flow = hongbao.FlowControl{SendsPerMinute: 1, Burst: 1, MaxWait: 100 * time.Millisecond}
	})
	errs := sendAll(t, c, 4)
	sent, throttled := 0, 0
	for _, err := range errs {
		var pe *hongbao.Error
		switch {
		case err == nil:
			sent++
		case errors.Is(err, hongbao.ErrThrottled) && errors.As(err, &pe):
			throttled++
			if pe.Unknown || errors.Is(err, hongbao.ErrOutcomeUnknown) {
				t.Errorf("a send held back is outcome-unknown: %v", err)
			}
			if pe.RetryAfter <= 100*time.Millisecond || pe.RetryAfter > time.Minute {
				t.Errorf("RetryAfter %v", pe.RetryAfter)
			}
		default:
			t.Errorf("unexpected error %v", err)
		}
	}
	if sent != 1 || throttled != 3 {
		t.Errorf("%d sent, %d throttled; want 1 and 3", sent, throttled)
	}
	if n := len(sendTimes(s)); n != sent {
		t.Errorf("the host saw %d sends, %d succeeded", n, sent)
	}
}

func TestFlowFreqLimitTightens(t *testing.T) {
	s := wxpaytest.Start(t, wxpaytest.Options{})
	c, _ := newClient(t, s)
	// The default pace keeps 5% of the merchant's rate unused.
	full := hongbao.DefaultSendsPerMinute * (1 - hongbao.DefaultHeadroom)
	if got := c.SendsPerMinute(); got != full {
		t.Fatalf("SendsPerMinute = %v, want %v", got, full)
	}
	s.Inject(wxpaytest.Fault{ErrCode: "FREQ_LIMIT", Times: 2})
	if _, err := c.SendMiniProgramHB(context.Background(), sendRequest(t, c, "freq", "oFreqUser00000000000000000001")); err != nil {
		t.Fatal(err)
	}
	// Two FREQ_LIMIT answers within a second halve the rate once; the
	// success wins a step back.
	low := c.SendsPerMinute()
	if low >= full*0.6 || low < full/2 {
		t.Fatalf("after two FREQ_LIMIT: %v a minute, want about half of %v", low, full)
	}
	for i := range 40 {
		if _, err := c.SendMiniProgramHB(context.Background(), sendRequest(t, c, "freq", fmt.Sprintf("oFreqUser%020d", i+2))); err != nil {
			t.Fatal(err)
		}
	}
	if got := c.SendsPerMinute(); got != full {
		t.Errorf("after 40 successes: %v a minute, want the configured %v back", got, full)
	}
}

// brokenShared is a shared limiter whose server is down.
type brokenShared struct{ calls int }

func (b *brokenShared) Reserve(context.Context, string, float64, int, time.Duration) (time.Duration, bool, error) {
	b.calls++
	return 0, false, errors.New("dial tcp 10.0.0.7:6379: connection refused")
}

func TestFlowSharedFailsOverToLocal(t *testing.T) {
	s := wxpaytest.Start(t, wxpaytest.Options{})
	shared := &brokenShared{}
	c, logs := newClient(t, s, func(cfg *hongbao.Config) {
		cfg.Flow = hongbao.FlowControl{SendsPerMinute: 600, Burst: 1, MaxWait: 10 * time.Second, Shared: shared}
	})
	for range 4 {
		if _, err := c.SendMiniProgramHB(context.Background(), sendRequest(t, c, "shared", fmt.Sprintf("oShared%021d", shared.calls))); err != nil {
			t.Fatal(err)
		}
	}
	if shared.calls != 4 {
		t.Errorf("the shared limiter was asked %d times", shared.calls)
	}
	checkPace(t, sendTimes(s), 10, 1)
	if !strings.Contains(logs.String(), "shared send rate is unavailable") {
		t.Error("the failover is not logged")
	}
}

func TestFlowOffAndInvalid(t *testing.T) {
	s := wxpaytest.Start(t, wxpaytest.Options{})
	c, _ := newClient(t, s, func(cfg *hongbao.Config) { cfg.Flow.SendsPerMinute = -1 })
	if got := c.SendsPerMinute(); got != 0 {
		t.Errorf("pacing off: %v", got)
	}
	for i, err := range sendAll(t, c, 5) {
		if err != nil {
			t.Errorf("send %d: %v", i, err)
		}
	}
	cert := s.ClientCertificate()
	_, err := hongbao.New(hongbao.Config{AppID: s.AppID, BillnoKey: testBillnoKey, Flow: hongbao.FlowControl{Burst: -1},
		Transport: transportConfig(s, &cert)})
	if err == nil {
		t.Error("a negative burst accepted")
	}
}
