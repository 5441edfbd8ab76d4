package redisstore_test

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hongbao-go/hongbao"
	"github.com/hongbao-go/hongbao/store/redisstore"
	"github.com/hongbao-go/hongbao/transport"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

// within reports whether got is want, give or take slack below (time spent
// between the calls) and a millisecond above (rounding).
func within(got, want, slack time.Duration) bool {
	return got >= want-slack && got <= want+time.Millisecond
}

func TestReserveBurstThenPace(t *testing.T) {
	t.Parallel()
	s := newStore(t, newPrefix(t))
	ctx := context.Background()
	const interval = 100 * time.Millisecond // 10 a second
	start := time.Now()
	for i := range 6 {
		wait, ok, err := s.Reserve(ctx, "send:m1", 10, 3, time.Minute)
		if err != nil || !ok {
			t.Fatalf("Reserve %d: %v %v", i, ok, err)
		}
		// The burst of 3 goes at once, then one every interval.
		want := time.Duration(max(i-2, 0)) * interval
		if !within(wait, want, time.Since(start)) {
			t.Errorf("Reserve %d: wait %v, want %v", i, wait, want)
		}
	}
	// Another key has a rate of its own.
	if wait, ok, err := s.Reserve(ctx, "send:m2", 10, 3, 0); err != nil || !ok || wait != 0 {
		t.Errorf("another key: %v %v %v", wait, ok, err)
	}
}

// TestReserveMaxWaitTakesNothing: a refused slot is not taken, so the next
// caller is told the same wait, not one interval more.
func TestReserveMaxWaitTakesNothing(t *testing.T) {
	t.Parallel()
	s := newStore(t, newPrefix(t))
	ctx := context.Background()
	const interval = 100 * time.Millisecond
	start := time.Now()
	for i := range 2 {
		if _, ok, err := s.Reserve(ctx, "k", 10, 1, 150*time.Millisecond); err != nil || !ok {
			t.Fatalf("Reserve %d: %v %v", i, ok, err)
		}
	}
	for i := range 3 {
		wait, ok, err := s.Reserve(ctx, "k", 10, 1, 150*time.Millisecond)
		if err != nil || ok {
			t.Fatalf("refusal %d: ok %v, err %v", i, ok, err)
		}
		if !within(wait, 2*interval, time.Since(start)) {
			t.Errorf("refusal %d: wait %v, want %v", i, wait, 2*interval)
		}
	}
	wait, ok, err := s.Reserve(ctx, "k", 10, 1, time.Second)
	if err != nil || !ok || !within(wait, 2*interval, time.Since(start)) {
		t.Errorf("after the refusals: wait %v, ok %v, err %v; want %v", wait, ok, err, 2*interval)
	}
	// maxWait 0 (never wait) takes only what is free at once.
	if _, ok, _ := s.Reserve(ctx, "k", 10, 1, 0); ok {
		t.Error("maxWait 0 took a slot that needs a wait")
	}
}

// slot is one reservation as the test saw it: its send is due at Redis's
// clock at the call plus wait, somewhere in [lo, hi] on the test's clock
// (before and after the call, plus wait).
type slot struct{ lo, hi time.Time }

// TestReserveShared paces many callers on two Stores (two replicas, each
// with its own client) on one key, and checks the promise in a form that a
// slow machine cannot break: in any stretch, no more than burst +
// rate×stretch sends are due. The stretch of a set of slots is measured
// generously (from the earliest lo to the latest hi), so slowness only
// loosens the check.
func TestReserveShared(t *testing.T) {
	t.Parallel()
	prefix := newPrefix(t)
	stores := []*redisstore.Store{newStore(t, prefix), newStore(t, prefix)}
	const (
		rate     = 40.0 // per second
		burst    = 4
		callers  = 4 // per Store
		perCall  = 15
		total    = len("xx") * callers * perCall
		interval = time.Second / time.Duration(rate)
	)
	ctx := context.Background()
	var mu sync.Mutex
	var slots []slot
	var wg sync.WaitGroup
	start := time.Now()
	for _, s := range stores {
		for range callers {
			wg.Go(func() {
				for range perCall {
					before := time.Now()
					wait, ok, err := s.Reserve(ctx, "send:1900000109", rate, burst, time.Minute)
					after := time.Now()
					if err != nil || !ok {
						t.Errorf("Reserve: %v %v", ok, err)
						return
					}
					mu.Lock()
					slots = append(slots, slot{before.Add(wait), after.Add(wait)})
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	elapsed := time.Since(start)
	if len(slots) != total {
		t.Fatalf("%d slots, want %d", len(slots), total)
	}
	// For every pair (i, j), the slots wholly inside [lo_i, hi_j] are due
	// within a stretch of at most hi_j - lo_i.
	slices.SortFunc(slots, func(a, b slot) int { return a.lo.Compare(b.lo) })
	worst := 0.0
	for i := range slots {
		for j := range slots {
			stretch := slots[j].hi.Sub(slots[i].lo)
			if stretch < 0 {
				continue
			}
			n := 0
			for _, s := range slots[i:] {
				if !s.hi.After(slots[j].hi) {
					n++
				}
			}
			allowed := burst + rate*stretch.Seconds()
			worst = math.Max(worst, float64(n)-allowed)
			if float64(n) > allowed+1e-9 {
				t.Fatalf("%d sends due within %v; at most %.2f allowed", n, stretch, allowed)
			}
		}
	}
	// And the pace is not slower than asked: the last send is due after
	// (total - burst) intervals, give or take the time the calls took.
	last := slots[0].hi
	for _, s := range slots {
		if s.hi.After(last) {
			last = s.hi
		}
	}
	want := time.Duration(total-burst) * interval
	if got := last.Sub(start); got < want-elapsed || got > want+elapsed+10*time.Millisecond {
		t.Errorf("the last send is due %v after the start, want %v (the calls took %v)", got, want, elapsed)
	}
	t.Logf("%d slots reserved in %v; closest to the bound: %.3f sends under it", total, elapsed, -worst)
}

func TestReserveKeyAndArguments(t *testing.T) {
	t.Parallel()
	prefix := newPrefix(t)
	s := newStore(t, prefix)
	c := newClient(t, redisURL)
	ctx := context.Background()

	// The key lives under the prefix and expires once a whole burst is
	// free again: 3 slots at 10 a second, about 300 ms.
	for range 3 {
		if _, _, err := s.Reserve(ctx, "send:m", 10, 5, 0); err != nil {
			t.Fatal(err)
		}
	}
	key := prefix + "flow:send:m"
	if ttl := c.PTTL(ctx, key).Val(); ttl <= 0 || ttl > 302*time.Millisecond {
		t.Errorf("PTTL %s = %v, want about 300ms", key, ttl)
	}
	// A value that is not a number is a rate not used yet.
	c.Set(ctx, key, "garbage", time.Minute)
	if wait, ok, err := s.Reserve(ctx, "send:m", 10, 1, 0); err != nil || !ok || wait != 0 {
		t.Errorf("over garbage: %v %v %v", wait, ok, err)
	}

	for _, r := range []float64{0, -1, math.NaN(), math.Inf(1)} {
		if _, _, err := s.Reserve(ctx, "send:m", r, 1, 0); err == nil {
			t.Errorf("rate %v accepted", r)
		}
	}
	if _, _, err := s.Reserve(ctx, "", 10, 1, 0); err == nil {
		t.Error("empty key accepted")
	}
	// burst below 1 is 1; a negative maxWait is 0.
	if wait, ok, err := s.Reserve(ctx, "send:b", 10, 0, -time.Second); err != nil || !ok || wait != 0 {
		t.Errorf("burst 0: %v %v %v", wait, ok, err)
	}
	if _, ok, err := s.Reserve(ctx, "send:b", 10, 0, -time.Second); err != nil || ok {
		t.Errorf("burst 0, second slot without waiting: ok %v, err %v", ok, err)
	}

	// A Redis that does not answer is an error.
	down, err := redisstore.NewFromURL("redis://127.0.0.1:1/0?dial_timeout=200ms&max_retries=-1", redisstore.Options{Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer down.Close()
	if _, _, err := down.Reserve(ctx, "send:m", 10, 1, 0); err == nil {
		t.Error("no error without Redis")
	}
}

// TestSharedSendRateTwoReplicas runs two clients, as two replicas of one
// merchant, against a host enforcing its rate: sharing the rate through
// Redis they provoke no FREQ_LIMIT, although each alone would be allowed
// the host's whole rate.
func TestSharedSendRateTwoReplicas(t *testing.T) {
	t.Parallel()
	prefix := newPrefix(t)
	// The host lets 20 sends through in any second; each client may send
	// 10 a second after a burst of 5, so the two together, paced as one,
	// send no more than 15 in any second.
	host := wxpaytest.Start(t, wxpaytest.Options{SendsPerMinute: 1200})
	billnoKey := []byte("redisstore-shared-send-rate-test")
	newClient := func(shared hongbao.SharedLimiter) *hongbao.Client {
		c, err := hongbao.New(hongbao.Config{
			AppID: host.AppID,
			Transport: transport.Config{
				MchID:     host.MchID,
				APIKey:    host.APIKey,
				CertPEM:   host.ClientCertPEM(),
				KeyPEM:    host.ClientKeyPEM(),
				RootCAPEM: host.CACertPEM(),
				BaseURL:   host.URL,
			},
			BillnoKey: billnoKey,
			Flow:      hongbao.FlowControl{SendsPerMinute: 600, Burst: 5, MaxWait: time.Minute, Shared: shared},
		})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	clients := []*hongbao.Client{newClient(newStore(t, prefix)), newClient(newStore(t, prefix))}
	const perClient = 15
	var wg sync.WaitGroup
	start := time.Now()
	for ci, c := range clients {
		for i := range perClient {
			wg.Go(func() {
				openID := fmt.Sprintf("oReplica%d_%019d", ci, i)
				billno, err := c.Billno("shared-rate", openID)
				if err != nil {
					t.Error(err)
					return
				}
				_, err = c.SendMiniProgramHB(context.Background(), &hongbao.SendRequest{Billno: billno, OpenID: openID,
					Amount: 100, SendName: "hongbao", Wishing: "Happy new year", ActName: "spring", Remark: "thanks"})
				if err != nil {
					t.Errorf("send: %v", err)
				}
			})
		}
	}
	wg.Wait()
	if n := host.FreqLimited(); n != 0 {
		t.Errorf("the host answered FREQ_LIMIT %d times", n)
	}
	// 30 sends at 10 a second after a burst of 5 take 2.5 seconds.
	if d := time.Since(start); d < 2400*time.Millisecond {
		t.Errorf("30 sends took %v: the replicas did not share one pace", d)
	}
}
