package store

import (
	"context"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hongbao-go/hongbao/rail"
)

func TestMemoryStoreResult(t *testing.T) {
	ctx := context.Background()
	m := NewMemoryStore()
	if _, ok, err := m.Result(ctx, "b1"); ok || err != nil {
		t.Fatalf("empty store: %v %v", ok, err)
	}
	want := Result{Billno: "b1", OpenID: "o1", Package: "sendid=1&ver=8", SendListID: "100", Amount: 100,
		PaidAt: time.Date(2026, 2, 10, 9, 0, 0, 0, time.UTC)}
	if err := m.SaveResult(ctx, "b1", want, 80*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	got, ok, err := m.Result(ctx, "b1")
	if err != nil || !ok || got != want {
		t.Fatalf("Result = %+v %v %v", got, ok, err)
	}
	if _, ok, _ := m.Result(ctx, "b2"); ok {
		t.Fatal("another key found")
	}
	time.Sleep(120 * time.Millisecond)
	if _, ok, err := m.Result(ctx, "b1"); ok || err != nil {
		t.Fatalf("the result outlived its ttl: %v %v", ok, err)
	}
	// Arguments a shared store would refuse.
	if err := m.SaveResult(ctx, "b1", want, 0); err == nil {
		t.Error("ttl 0 accepted")
	}
	if err := m.SaveResult(ctx, "", want, time.Hour); err == nil {
		t.Error("empty key accepted")
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := m.Result(cancelled, "b1"); err == nil {
		t.Error("a cancelled context was ignored")
	}
}

// TestMemoryStoreResultPacked saves results of every shape and reads each
// back equal: the packed form (strings in one allocation, times in one
// location) and the results it cannot pack (times in two locations, a
// string over 64 KiB), kept as they are.
func TestMemoryStoreResultPacked(t *testing.T) {
	ctx := context.Background()
	m := NewMemoryStore()
	beijing := time.FixedZone("CST", 8*60*60)
	at := time.Date(2026, 2, 10, 9, 0, 0, 123456789, beijing)
	cases := map[string]Result{
		"empty":     {},
		"paid":      {Billno: "k1", OpenID: "o1", Rail: "redpacket:1900000109", Package: "sendid=1&ver=8", SendListID: "100", Amount: 100, PaidAt: at, Exact: true},
		"lost":      {Billno: "k7", OpenID: "o7", Amount: 100, LostAt: at, Refused: "NOTENOUGH", Refusal: rail.RefusedMerchant, At: at.Add(-time.Hour)},
		"campaign":  {Billno: "k8", OpenID: "o8", Rail: "transfer:1900000109", Package: "pkg", Amount: 100, PaidAt: at, Exact: true, Campaign: "spring-2026"},
		"closed":    {Billno: "k2", OpenID: "o2", Amount: 100, Closed: rail.Returned, Refused: "NOT_ENOUGH", Refusal: rail.RefusedMerchant, At: at, PaidAt: at.Add(-time.Hour)},
		"refused":   {Billno: "k3", OpenID: "o3", Amount: 1, Refused: "NOTENOUGH", At: at, CheckedAt: at.Add(time.Minute)},
		"other":     {Billno: "not-the-key", OpenID: "o4", Package: "p", At: time.Unix(-1e11, 1).In(time.Local)},
		"two zones": {Billno: "k5", PaidAt: at, At: at.UTC()},
		"long":      {Billno: "k6", Package: strings.Repeat("p", 1<<16), PaidAt: at},
	}
	for name, want := range cases {
		if err := m.SaveResult(ctx, name, want, time.Hour); err != nil {
			t.Fatal(err)
		}
		got, ok, err := m.Result(ctx, name)
		if err != nil || !ok || got != want {
			t.Errorf("%s: Result = %+v %v %v, want %+v", name, got, ok, err, want)
		}
	}
	// pack and unpack know every field of a Result.
	if n := reflect.TypeOf(Result{}).NumField(); n != 15 {
		t.Errorf("Result has %d fields: pack and unpack them all, then count them here", n)
	}
	// A time read from the clock comes back without its monotonic reading.
	now := time.Now()
	if err := m.SaveResult(ctx, "now", Result{Billno: "now", PaidAt: now}, time.Hour); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := m.Result(ctx, "now"); !got.PaidAt.Equal(now) || got.PaidAt != now.Round(0) {
		t.Errorf("PaidAt = %v, want %v", got.PaidAt, now.Round(0))
	}
}

func TestResultJSON(t *testing.T) {
	r := Result{Billno: "1900000109x7rhUBJ28onPYlVmCd", OpenID: "o1", Package: "sendid=a&ver=8&sign=b",
		SendListID: "1000041701", Amount: 100, PaidAt: time.Date(2026, 2, 10, 9, 0, 0, 123, time.UTC)}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back Result
	if err := json.Unmarshal(b, &back); err != nil || back != r {
		t.Fatalf("round trip: %+v, %v (%s)", back, err, b)
	}
	var fields map[string]any
	_ = json.Unmarshal(b, &fields)
	for _, k := range []string{"billno", "openid", "package", "send_listid", "amount", "paid_at"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("no %s in %s", k, b)
		}
	}
}

// Terms serialise as they always did: the payout's fields at the top level,
// so that terms recorded before rails read back whole.
func TestTermsJSON(t *testing.T) {
	tr := Terms{
		Payout:    rail.Payout{Amount: 100, SendName: "shop", Wishing: "w", ActName: "a", Remark: "r", Scene: "PRODUCT_1"},
		DecidedAt: time.Date(2026, 2, 10, 9, 0, 0, 0, time.UTC), Key: "spring", OpenID: "o1",
	}
	b, err := json.Marshal(tr)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"amount":100,"send_name":"shop","wishing":"w","act_name":"a","remark":"r","scene_id":"PRODUCT_1",` +
		`"decided_at":"2026-02-10T09:00:00Z","key":"spring","openid":"o1"}`
	if string(b) != want {
		t.Errorf("JSON %s, want %s", b, want)
	}
	var back Terms
	if err := json.Unmarshal([]byte(want), &back); err != nil || back != tr {
		t.Errorf("back %+v %v", back, err)
	}
}

func TestMemoryStoreLock(t *testing.T) {
	ctx := context.Background()
	m := NewMemoryStore()
	rel1, ok, err := m.TryLock(ctx, "b1", 80*time.Millisecond)
	if err != nil || !ok {
		t.Fatal("first TryLock", ok, err)
	}
	if _, ok, err := m.TryLock(ctx, "b1", time.Minute); ok || err != nil {
		t.Fatal("second holder got the lock", ok, err)
	}
	if _, ok, _ := m.TryLock(ctx, "b2", time.Minute); !ok {
		t.Fatal("another key is locked")
	}
	// The holder dies: the lock expires.
	time.Sleep(120 * time.Millisecond)
	rel2, ok, _ := m.TryLock(ctx, "b1", time.Minute)
	if !ok {
		t.Fatal("the lock did not expire")
	}
	// The late release of the first holder must not free the new one's lock.
	rel1()
	if _, ok, _ := m.TryLock(ctx, "b1", time.Minute); ok {
		t.Fatal("a stale release freed another holder's lock")
	}
	rel2()
	rel2() // idempotent
	rel3, ok, _ := m.TryLock(ctx, "b1", time.Minute)
	if !ok {
		t.Fatal("release did not free the lock")
	}
	rel2() // still must not free rel3's lock
	if _, ok, _ := m.TryLock(ctx, "b1", time.Minute); ok {
		t.Fatal("a repeated release freed another holder's lock")
	}
	rel3()
	if _, _, err := m.TryLock(ctx, "b1", 0); err == nil {
		t.Error("ttl 0 accepted")
	}
	if _, _, err := m.TryLock(ctx, "", time.Second); err == nil {
		t.Error("empty key accepted")
	}
}

func TestMemoryStoreLockExclusive(t *testing.T) {
	m := NewMemoryStore()
	var won atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			if _, ok, err := m.TryLock(context.Background(), "b", time.Minute); err == nil && ok {
				won.Add(1)
			}
		})
	}
	wg.Wait()
	if won.Load() != 1 {
		t.Fatalf("%d holders", won.Load())
	}
}

func TestMemoryStoreLockSweep(t *testing.T) {
	m := NewMemoryStore()
	ctx := context.Background()
	for i := range lockSweepEvery {
		if _, ok, _ := m.TryLock(ctx, "k"+strconv.Itoa(i), time.Millisecond); !ok {
			t.Fatal("lock")
		}
	}
	time.Sleep(5 * time.Millisecond)
	for range lockSweepEvery {
		_, _, _ = m.TryLock(ctx, "held", time.Minute)
	}
	m.mu.Lock()
	n := len(m.locks)
	m.mu.Unlock()
	if n > 1 {
		t.Fatalf("%d locks kept after expiry", n)
	}
}

func TestMemoryStoreAllow(t *testing.T) {
	ctx := context.Background()
	m := NewMemoryStore()
	const window = 150 * time.Millisecond
	for i := range 3 {
		if ok, _, err := m.Allow(ctx, "o1", 3, window); !ok || err != nil {
			t.Fatalf("event %d refused: %v", i, err)
		}
	}
	ok, wait, err := m.Allow(ctx, "o1", 3, window)
	if ok || err != nil || wait <= 0 || wait > window {
		t.Fatalf("4th event: ok %v wait %v err %v", ok, wait, err)
	}
	if ok, _, _ := m.Allow(ctx, "o2", 3, window); !ok {
		t.Fatal("another key was limited")
	}
	time.Sleep(wait + 30*time.Millisecond)
	if ok, _, _ := m.Allow(ctx, "o1", 3, window); !ok {
		t.Fatal("a new window did not start")
	}
	for _, c := range []struct {
		limit  int
		window time.Duration
	}{{0, time.Second}, {-1, time.Second}, {1, 0}} {
		if _, _, err := m.Allow(ctx, "o", c.limit, c.window); err == nil {
			t.Errorf("limit %d window %v accepted", c.limit, c.window)
		}
	}
}

// Counters of ended windows are dropped: a counter's key is not kept
// beyond its window once other keys keep the store busy.
func TestMemoryStoreAllowSweep(t *testing.T) {
	ctx := context.Background()
	m := NewMemoryStore()
	for i := range 100 {
		if ok, _, err := m.Allow(ctx, "old"+strconv.Itoa(i), 1, time.Millisecond); !ok || err != nil {
			t.Fatal(ok, err)
		}
	}
	time.Sleep(5 * time.Millisecond)
	for i := range lockSweepEvery {
		if ok, _, err := m.Allow(ctx, "busy", lockSweepEvery+1, time.Hour); !ok || err != nil {
			t.Fatalf("call %d: %v %v", i, ok, err)
		}
	}
	m.countersMu.Lock()
	n := len(m.counters)
	m.countersMu.Unlock()
	if n != 1 {
		t.Fatalf("%d counters left, want the busy one", n)
	}
	// The busy key's window goes on: one more is over its limit.
	if ok, wait, _ := m.Allow(ctx, "busy", lockSweepEvery, time.Hour); ok || wait <= 0 || wait > time.Hour {
		t.Fatalf("over the limit: %v %v", ok, wait)
	}
}

func TestMemoryStoreAllowConcurrent(t *testing.T) {
	m := NewMemoryStore()
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			if ok, _, err := m.Allow(context.Background(), "o", 10, time.Minute); ok && err == nil {
				allowed.Add(1)
			}
		})
	}
	wg.Wait()
	if allowed.Load() != 10 {
		t.Fatalf("%d allowed, want 10", allowed.Load())
	}
}
