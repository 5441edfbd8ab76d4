package redisstore_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hongbao-go/hongbao/rail"
	"github.com/hongbao-go/hongbao/store"
	"github.com/hongbao-go/hongbao/store/redisstore"
)

const testBillno = "1900000109202611280000000001"

func sampleResult() store.Result {
	return store.Result{
		Billno:     testBillno,
		OpenID:     "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
		Rail:       "redpacket:1900000109",
		Package:    "sendid=abc&ver=8&sign=def&mchid=1900000109&appid=wx8888888888888888",
		SendListID: "100004170120261128000000000001",
		Amount:     100,
		PaidAt:     time.Date(2026, 11, 28, 15, 4, 5, 123456789, time.UTC),
	}
}

// eventually polls cond until it holds or within passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestResultRoundTripAndExpiry(t *testing.T) {
	t.Parallel()
	prefix := newPrefix(t)
	s := newStore(t, prefix)
	ctx := context.Background()

	if _, ok, err := s.Result(ctx, testBillno); ok || err != nil {
		t.Fatalf("Result before SaveResult = ok %v, err %v; want a plain miss", ok, err)
	}
	want := sampleResult()
	if err := s.SaveResult(ctx, testBillno, want, 2*time.Second); err != nil {
		t.Fatalf("SaveResult: %v", err)
	}

	// Another replica's Store reads it.
	other := newStore(t, prefix)
	got, ok, err := other.Result(ctx, testBillno)
	if err != nil || !ok {
		t.Fatalf("Result = ok %v, err %v", ok, err)
	}
	if !got.PaidAt.Equal(want.PaidAt) {
		t.Errorf("PaidAt = %v, want %v", got.PaidAt, want.PaidAt)
	}
	got.PaidAt = want.PaidAt
	if got != want {
		t.Errorf("Result = %+v, want %+v", got, want)
	}

	// Layout: one JSON string under prefix+"result:"+billno, with a TTL.
	c := newClient(t, redisURL)
	raw, err := c.Get(ctx, prefix+"result:"+testBillno).Bytes()
	if err != nil {
		t.Fatalf("GET the result key: %v", err)
	}
	var fields map[string]any
	if err := json.Unmarshal(raw, &fields); err != nil {
		t.Fatalf("the stored value is not JSON: %v", err)
	}
	for _, k := range []string{"billno", "openid", "package", "send_listid", "amount", "paid_at"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("stored JSON has no %q: %s", k, raw)
		}
	}
	if ttl := c.PTTL(ctx, prefix+"result:"+testBillno).Val(); ttl <= 0 || ttl > 2*time.Second {
		t.Errorf("PTTL of the result = %v, want in (0, 2s]", ttl)
	}

	eventually(t, 5*time.Second, "the result did not expire", func() bool {
		_, ok, err := s.Result(ctx, testBillno)
		if err != nil {
			t.Fatalf("Result: %v", err)
		}
		return !ok
	})
}

func TestSaveResultReplacesAndKeepsWholeSeconds(t *testing.T) {
	prefix := newPrefix(t)
	s := newStore(t, prefix)
	ctx := context.Background()
	r := sampleResult()
	if err := s.SaveResult(ctx, testBillno, r, time.Hour); err != nil {
		t.Fatal(err)
	}
	r.Package = "sendid=second"
	if err := s.SaveResult(ctx, testBillno, r, 30*24*time.Hour); err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.Result(ctx, testBillno)
	if err != nil || !ok || got.Package != "sendid=second" {
		t.Fatalf("Result = %+v, %v, %v; want the second value", got, ok, err)
	}
	c := newClient(t, redisURL)
	if ttl := c.TTL(ctx, prefix+"result:"+testBillno).Val(); ttl < 30*24*time.Hour-time.Minute {
		t.Errorf("TTL = %v, want about 30 days", ttl)
	}
}

func TestCorruptResultIsAnError(t *testing.T) {
	prefix := newPrefix(t)
	s := newStore(t, prefix)
	ctx := context.Background()
	c := newClient(t, redisURL)
	c.Set(ctx, prefix+"result:"+testBillno, "not json", time.Minute)
	_, ok, err := s.Result(ctx, testBillno)
	if err == nil || ok {
		t.Fatalf("Result of a corrupt value = ok %v, err %v; want an error", ok, err)
	}
	if !strings.HasPrefix(err.Error(), "redisstore: ") {
		t.Errorf("error %q lacks the package prefix", err)
	}
}

func TestResultOfAnotherBillnoIsAnError(t *testing.T) {
	prefix := newPrefix(t)
	s := newStore(t, prefix)
	ctx := context.Background()
	c := newClient(t, redisURL)
	other := sampleResult()
	other.Billno = "1900000109202611280000000002"
	b, err := json.Marshal(other)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"null", "{}", `{"package":"sendid=abc"}`, string(b)} {
		c.Set(ctx, prefix+"result:"+testBillno, v, time.Minute)
		r, ok, err := s.Result(ctx, testBillno)
		if err == nil || ok {
			t.Errorf("Result of %s = %+v, ok %v, err %v; want an error", v, r, ok, err)
		}
	}
}

// Results saved before rails hold the red packet's gethbinfo status in
// closed (FAILED, REFUND): they read as the rail states the handler acts on.
func TestLegacyClosedResults(t *testing.T) {
	prefix := newPrefix(t)
	s := newStore(t, prefix)
	ctx := context.Background()
	c := newClient(t, redisURL)
	for legacy, want := range map[string]rail.State{"FAILED": rail.Closed, "REFUND": rail.Returned, "returned": rail.Returned} {
		v := `{"billno":"` + testBillno + `","openid":"oLegacy","amount":100,"closed":"` + legacy + `","at":"2026-02-10T09:00:00Z"}`
		c.Set(ctx, prefix+"result:"+testBillno, v, time.Minute)
		r, ok, err := s.Result(ctx, testBillno)
		if err != nil || !ok || r.Closed != want || r.Paid() || r.Rail != "" {
			t.Errorf("closed %q: %+v, ok %v, err %v; want %q", legacy, r, ok, err, want)
		}
	}
}

func TestTryLockExclusive(t *testing.T) {
	prefix := newPrefix(t)
	a, b := newStore(t, prefix), newStore(t, prefix)
	ctx := context.Background()

	release, ok, err := a.TryLock(ctx, testBillno, time.Minute)
	if err != nil || !ok || release == nil {
		t.Fatalf("first TryLock = ok %v, err %v", ok, err)
	}
	for _, s := range []*redisstore.Store{a, b} {
		if rel, ok, err := s.TryLock(ctx, testBillno, time.Minute); ok || err != nil || rel != nil {
			t.Fatalf("TryLock while held = ok %v, err %v; want not ok and no error", ok, err)
		}
	}
	c := newClient(t, redisURL)
	if ttl := c.PTTL(ctx, prefix+"lock:"+testBillno).Val(); ttl <= 0 || ttl > time.Minute {
		t.Errorf("PTTL of the lock = %v, want in (0, 1m]", ttl)
	}
	release()
	release() // twice is fine
	if n := c.Exists(ctx, prefix+"lock:"+testBillno).Val(); n != 0 {
		t.Fatalf("the lock key survived its release")
	}
	rel, ok, err := b.TryLock(ctx, testBillno, time.Minute)
	if err != nil || !ok {
		t.Fatalf("TryLock after release = ok %v, err %v", ok, err)
	}
	rel()

	// Many contenders on two replicas: exactly one wins.
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			s := a
			if i%2 == 1 {
				s = b
			}
			_, ok, err := s.TryLock(ctx, "contended", time.Minute)
			if err != nil {
				t.Errorf("TryLock: %v", err)
			}
			if ok {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	if n := wins.Load(); n != 1 {
		t.Fatalf("%d of 40 concurrent TryLock calls won; want exactly 1", n)
	}
}

func TestReleaseNeverDeletesAnotherHoldersLock(t *testing.T) {
	prefix := newPrefix(t)
	a, b := newStore(t, prefix), newStore(t, prefix)
	ctx := context.Background()

	releaseA, ok, err := a.TryLock(ctx, testBillno, 200*time.Millisecond)
	if err != nil || !ok {
		t.Fatalf("TryLock A = ok %v, err %v", ok, err)
	}
	// A is slow: its lock expires and B takes it.
	var releaseB func()
	eventually(t, 5*time.Second, "B never got the expired lock", func() bool {
		rel, ok, err := b.TryLock(ctx, testBillno, time.Minute)
		if err != nil {
			t.Fatalf("TryLock B: %v", err)
		}
		releaseB = rel
		return ok
	})
	c := newClient(t, redisURL)
	tokenB := c.Get(ctx, prefix+"lock:"+testBillno).Val()

	releaseA() // late: must not delete B's lock
	if got := c.Get(ctx, prefix+"lock:"+testBillno).Val(); got != tokenB || got == "" {
		t.Fatalf("A's late release changed the lock: token %q, want B's %q", got, tokenB)
	}
	if _, ok, err := a.TryLock(ctx, testBillno, time.Minute); ok || err != nil {
		t.Fatalf("TryLock after A's late release = ok %v, err %v; B still holds it", ok, err)
	}
	releaseB()
	if _, ok, err := a.TryLock(ctx, testBillno, time.Minute); !ok || err != nil {
		t.Fatalf("TryLock after B's release = ok %v, err %v", ok, err)
	}
}

func TestLockExpiresWhenTheHolderDies(t *testing.T) {
	t.Parallel()
	prefix := newPrefix(t)
	dead, alive := newStore(t, prefix), newStore(t, prefix)
	ctx := context.Background()

	const ttl = 2 * time.Second
	start := time.Now()
	if _, ok, err := dead.TryLock(ctx, testBillno, ttl); !ok || err != nil {
		t.Fatalf("TryLock = ok %v, err %v", ok, err)
	}
	dead.Close() // the holder is gone and never releases
	_, ok, err := alive.TryLock(ctx, testBillno, time.Minute)
	if err != nil {
		t.Fatalf("TryLock: %v", err)
	}
	if ok {
		t.Fatalf("TryLock after %v succeeded; the dead holder's lock lasts %v", time.Since(start), ttl)
	}
	eventually(t, 5*time.Second, "the dead holder's lock never expired", func() bool {
		_, ok, err := alive.TryLock(ctx, testBillno, time.Minute)
		if err != nil {
			t.Fatalf("TryLock: %v", err)
		}
		return ok
	})
	if el := time.Since(start); el < ttl {
		t.Fatalf("the lock was taken again after %v, before its ttl %v", el, ttl)
	}
}

func TestAllowSharedAcrossStores(t *testing.T) {
	t.Parallel()
	prefix := newPrefix(t)
	a, b := newStore(t, prefix), newStore(t, prefix)
	ctx := context.Background()
	const window = 2 * time.Second

	start := time.Now()
	for i, s := range []*redisstore.Store{a, b, a} {
		ok, wait, err := s.Allow(ctx, "openid-1", 3, window)
		if err != nil || !ok || wait != 0 {
			t.Fatalf("event %d: Allow = %v, %v, %v; want allowed", i+1, ok, wait, err)
		}
	}
	ok, wait, err := b.Allow(ctx, "openid-1", 3, window)
	if err != nil || ok {
		t.Fatalf("4th event on the other Store: Allow = %v, %v; want refused", ok, err)
	}
	if wait <= 0 || wait > window {
		t.Fatalf("retryAfter = %v, want in (0, %v]", wait, window)
	}
	// The window is fixed: later events do not extend it.
	time.Sleep(50 * time.Millisecond)
	_, wait2, _ := a.Allow(ctx, "openid-1", 3, window)
	if wait2 > wait {
		t.Errorf("retryAfter grew from %v to %v: the window was extended", wait, wait2)
	}
	// Other keys are counted apart.
	if ok, _, err := a.Allow(ctx, "openid-2", 3, window); !ok || err != nil {
		t.Fatalf("another key: Allow = %v, %v", ok, err)
	}
	c := newClient(t, redisURL)
	if n := c.Get(ctx, prefix+"rate:openid-1").Val(); n != "5" {
		t.Errorf("counter = %q, want 5", n)
	}
	// After the window a new one starts.
	eventually(t, 3*window, "the window never ended", func() bool {
		ok, _, err := b.Allow(ctx, "openid-1", 3, window)
		if err != nil {
			t.Fatalf("Allow: %v", err)
		}
		return ok
	})
	if el := time.Since(start); el < window-50*time.Millisecond {
		t.Fatalf("allowed again after %v, before the window of %v ended", el, window)
	}
}

func TestAllowConcurrentIsExact(t *testing.T) {
	prefix := newPrefix(t)
	a, b := newStore(t, prefix), newStore(t, prefix)
	ctx := context.Background()
	var allowed atomic.Int32
	var wg sync.WaitGroup
	for i := range 60 {
		wg.Go(func() {
			s := a
			if i%2 == 1 {
				s = b
			}
			ok, _, err := s.Allow(ctx, "burst", 25, time.Minute)
			if err != nil {
				t.Errorf("Allow: %v", err)
			}
			if ok {
				allowed.Add(1)
			}
		})
	}
	wg.Wait()
	if n := allowed.Load(); n != 25 {
		t.Fatalf("%d of 60 concurrent events allowed with limit 25", n)
	}
}

func TestAllowRepairsACounterWithoutExpiry(t *testing.T) {
	prefix := newPrefix(t)
	s := newStore(t, prefix)
	ctx := context.Background()
	c := newClient(t, redisURL)
	c.Set(ctx, prefix+"rate:stuck", 100, 0) // no expiry
	ok, wait, err := s.Allow(ctx, "stuck", 3, time.Second)
	if err != nil || ok || wait <= 0 || wait > time.Second {
		t.Fatalf("Allow = %v, %v, %v; want refused with retryAfter in (0, 1s]", ok, wait, err)
	}
	if ttl := c.PTTL(ctx, prefix+"rate:stuck").Val(); ttl <= 0 {
		t.Fatalf("the counter still has no expiry (PTTL %v)", ttl)
	}
}

func TestPrefixesIsolateApplications(t *testing.T) {
	p1, p2 := newPrefix(t), newPrefix(t)
	app1, app2 := newStore(t, p1), newStore(t, p2)
	ctx := context.Background()

	if err := app1.SaveResult(ctx, testBillno, sampleResult(), time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := app2.Result(ctx, testBillno); ok || err != nil {
		t.Fatalf("app2 sees app1's result: ok %v, err %v", ok, err)
	}
	if _, ok, _ := app1.TryLock(ctx, testBillno, time.Minute); !ok {
		t.Fatal("app1 TryLock failed")
	}
	if _, ok, err := app2.TryLock(ctx, testBillno, time.Minute); !ok || err != nil {
		t.Fatalf("app1's lock blocks app2: ok %v, err %v", ok, err)
	}
	if ok, _, _ := app1.Allow(ctx, "openid", 1, time.Minute); !ok {
		t.Fatal("app1 first Allow refused")
	}
	if ok, _, err := app2.Allow(ctx, "openid", 1, time.Minute); !ok || err != nil {
		t.Fatalf("app1's counter limits app2: ok %v, err %v", ok, err)
	}
	c := newClient(t, redisURL)
	for _, p := range []string{p1, p2} {
		keys, err := keysMatching(ctx, c, p+"*")
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) == 0 || len(keys) > 3 {
			t.Errorf("keys under %q = %v", p, keys)
		}
		for _, k := range keys {
			rest := strings.TrimPrefix(k, p)
			if !strings.HasPrefix(rest, "result:") && !strings.HasPrefix(rest, "lock:") && !strings.HasPrefix(rest, "rate:") {
				t.Errorf("unexpected key %q", k)
			}
		}
	}
}

func TestDefaultPrefix(t *testing.T) {
	needRedis(t)
	c := newClient(t, redisURL)
	s, err := redisstore.New(c, redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Prefix() != "hongbao:" || redisstore.DefaultPrefix != "hongbao:" {
		t.Fatalf("Prefix() = %q, want hongbao:", s.Prefix())
	}
	ctx := context.Background()
	key := "redisstore-test-" + rand.Text()
	t.Cleanup(func() { c.Del(context.Background(), "hongbao:rate:"+key) })
	if ok, _, err := s.Allow(ctx, key, 1, time.Minute); !ok || err != nil {
		t.Fatalf("Allow = %v, %v", ok, err)
	}
	if n := c.Exists(ctx, "hongbao:rate:"+key).Val(); n != 1 {
		t.Fatalf("no key hongbao:rate:%s", key)
	}
}

func TestCloseOwnership(t *testing.T) {
	needRedis(t)
	ctx := context.Background()
	c := newClient(t, redisURL)
	s, err := redisstore.New(c, redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("Close closed a client it does not own: %v", err)
	}

	owned, err := redisstore.NewFromURL(redisURL, redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := owned.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if err := owned.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := owned.Ping(ctx); err == nil || !strings.HasPrefix(err.Error(), "redisstore: ") {
		t.Fatalf("Ping after Close = %v, want a redisstore error", err)
	}
}

// TestErrorsWhenRedisIsUnreachable needs no Redis: every method must
// return a wrapped error, never a silent miss.
func TestErrorsWhenRedisIsUnreachable(t *testing.T) {
	t.Parallel()
	port, err := freePort() // nothing listens there any more
	if err != nil {
		t.Fatal(err)
	}
	s, err := redisstore.NewFromURL("redis://:pw-not-in-errors@127.0.0.1:"+port+"/0?dial_timeout=200ms&max_retries=-1",
		redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	check := func(op string, err error) {
		t.Helper()
		if err == nil {
			t.Errorf("%s: no error with Redis unreachable", op)
			return
		}
		if !strings.HasPrefix(err.Error(), "redisstore: ") {
			t.Errorf("%s: error %q lacks the package prefix", op, err)
		}
		if strings.Contains(err.Error(), "pw-not-in-errors") {
			t.Errorf("%s: error %q shows the password", op, err)
		}
		if errors.Is(err, redis.Nil) {
			t.Errorf("%s: error is redis.Nil", op)
		}
	}
	_, ok, err := s.Result(ctx, testBillno)
	check("Result", err)
	if ok {
		t.Error("Result ok with Redis unreachable")
	}
	check("SaveResult", s.SaveResult(ctx, testBillno, sampleResult(), time.Minute))
	rel, ok, err := s.TryLock(ctx, testBillno, time.Minute)
	check("TryLock", err)
	if ok || rel != nil {
		t.Error("TryLock ok with Redis unreachable")
	}
	ok, _, err = s.Allow(ctx, "openid", 3, time.Minute)
	check("Allow", err)
	if ok {
		t.Error("Allow ok with Redis unreachable")
	}
	check("Ping", s.Ping(ctx))
}

func TestInvalidArguments(t *testing.T) {
	if _, err := redisstore.New(nil, redisstore.Options{}); err == nil || !strings.HasPrefix(err.Error(), "redisstore: ") {
		t.Errorf("New(nil) = %v, want a redisstore error", err)
	}
	for _, u := range []string{
		"http://127.0.0.1:6379",
		"redis://user:secret-pw@127.0.0.1:notaport/0",
		"redis://user:secret-pw@127.0.0.1:6379/notadb",
		"redis://user:secret-pw@[::1/0",
		"redis://user:secret-pw@127.0.0.1:6379/0?dial_timeout=never",
	} {
		_, err := redisstore.NewFromURL(u, redisstore.Options{})
		if err == nil {
			t.Errorf("NewFromURL(%q) accepted", u)
			continue
		}
		if !strings.HasPrefix(err.Error(), "redisstore: ") || strings.Contains(err.Error(), "secret-pw") {
			t.Errorf("NewFromURL error %q: want the package prefix and no password", err)
		}
	}

	// Argument checks come before any network call.
	port, _ := freePort()
	s, err := redisstore.NewFromURL("redis://127.0.0.1:"+port+"/0", redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if _, _, err := s.Result(ctx, ""); err == nil {
		t.Error("Result with an empty bill number accepted")
	}
	if err := s.SaveResult(ctx, "", sampleResult(), time.Minute); err == nil {
		t.Error("SaveResult with an empty bill number accepted")
	}
	if err := s.SaveResult(ctx, testBillno, sampleResult(), 0); err == nil {
		t.Error("SaveResult with ttl 0 accepted")
	}
	if _, _, err := s.TryLock(ctx, "", time.Minute); err == nil {
		t.Error("TryLock with an empty key accepted")
	}
	if _, _, err := s.TryLock(ctx, "k", -time.Second); err == nil {
		t.Error("TryLock with a negative ttl accepted")
	}
	if _, _, err := s.Allow(ctx, "", 1, time.Minute); err == nil {
		t.Error("Allow with an empty key accepted")
	}
	if _, _, err := s.Allow(ctx, "k", 0, time.Minute); err == nil {
		t.Error("Allow with limit 0 accepted")
	}
	if _, _, err := s.Allow(ctx, "k", 1, 0); err == nil {
		t.Error("Allow with window 0 accepted")
	}
}

// TestTimeoutBoundsAHungRedis needs no Redis: a server that accepts
// connections and never answers must turn into errors within Timeout.
func TestTimeoutBoundsAHungRedis(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never answered
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})

	s, err := redisstore.NewFromURL("redis://"+ln.Addr().String()+"/0", redisstore.Options{Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	for _, call := range []struct {
		name string
		run  func() error
	}{
		{"Result", func() error { _, _, err := s.Result(ctx, testBillno); return err }},
		{"SaveResult", func() error { return s.SaveResult(ctx, testBillno, sampleResult(), time.Minute) }},
		{"TryLock", func() error { _, _, err := s.TryLock(ctx, testBillno, time.Minute); return err }},
		{"Allow", func() error { _, _, err := s.Allow(ctx, "openid", 3, time.Minute); return err }},
	} {
		start := time.Now()
		err := call.run()
		el := time.Since(start)
		if err == nil {
			t.Errorf("%s: no error from a Redis that never answers", call.name)
		}
		if el > 2*time.Second {
			t.Errorf("%s took %v with Timeout 200ms", call.name, el)
		}
	}

	if _, err := redisstore.NewFromURL("redis://127.0.0.1:6379/0", redisstore.Options{Timeout: -time.Second}); err == nil {
		t.Error("a negative Timeout was accepted")
	}
}
