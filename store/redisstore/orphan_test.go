package redisstore_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hongbao-go/hongbao/middleware"
	"github.com/hongbao-go/hongbao/store/redisstore"
)

// slowProxy forwards TCP connections to Redis and holds every reply for
// delay (while it is set): commands reach Redis at once and are applied,
// but the client times out before it hears the answer, as with a congested
// link.
type slowProxy struct {
	ln    net.Listener
	delay atomic.Int64 // nanoseconds
	wg    sync.WaitGroup
}

func newSlowProxy(t *testing.T) *slowProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &slowProxy{ln: ln}
	target := mustAddr(t, redisURL)
	var mu sync.Mutex
	var conns []net.Conn
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, up)
			mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() {
				buf := make([]byte, 32<<10)
				for {
					n, err := up.Read(buf)
					if n > 0 {
						time.Sleep(time.Duration(p.delay.Load()))
						if _, werr := c.Write(buf[:n]); werr != nil {
							break
						}
					}
					if err != nil {
						break
					}
				}
				c.Close()
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		p.wg.Wait()
	})
	return p
}

// url is redisURL with the proxy's address.
func (p *slowProxy) url(t *testing.T) string {
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	u := "redis://"
	if opt.Username != "" || opt.Password != "" {
		u += opt.Username + ":" + opt.Password + "@"
	}
	return u + p.ln.Addr().String() + "/" + strconv.Itoa(opt.DB)
}

// TestTryLockTimeoutLeavesNoLock: a TryLock whose SET Redis applied but
// whose reply came too late reports an error and gives the lock up, so no
// replica waits for a holder that never was.
func TestTryLockTimeoutLeavesNoLock(t *testing.T) {
	prefix := newPrefix(t)
	p := newSlowProxy(t)
	slow, err := redisstore.NewFromURL(p.url(t), redisstore.Options{Prefix: prefix, Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { slow.Close() })
	if err := slow.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	p.delay.Store(int64(1500 * time.Millisecond))
	ctx := context.Background()
	direct := newClient(t, redisURL)
	key := prefix + "lock:" + testBillno

	if _, ok, err := slow.TryLock(ctx, testBillno, time.Minute); err == nil || ok {
		t.Fatalf("TryLock through a slow link = ok %v, err %v; want a timeout", ok, err)
	}
	// Redis did take the lock: the SET arrived.
	if n := direct.Exists(ctx, key).Val(); n != 1 {
		t.Fatal("the SET did not reach Redis: the test proves nothing")
	}
	eventually(t, 5*time.Second, "the abandoned lock is released", func() bool {
		return direct.Exists(ctx, key).Val() == 0
	})
	other := newStore(t, prefix)
	rel, ok, err := other.TryLock(ctx, testBillno, time.Minute)
	if err != nil || !ok {
		t.Fatalf("another replica's TryLock = ok %v, err %v", ok, err)
	}
	rel()
}

// TestSlowRedisReplicasPayOnce: replica A's Store answers too late (its
// commands may be applied, their replies are lost to timeouts); A pays,
// degraded to its own process. Replica B, on a healthy link, is not held
// up by any lock of A's, the user is paid once under one number, and what A
// kept locally reaches Redis once the link heals. (TryLockTimeoutLeavesNoLock
// proves the lock itself is given up.)
func TestSlowRedisReplicasPayOnce(t *testing.T) {
	w := newWorld(t)
	prefix := newPrefix(t)
	p := newSlowProxy(t)
	slow, err := redisstore.NewFromURL(p.url(t), redisstore.Options{Prefix: prefix, Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { slow.Close() })
	// A connection made while the link is fast, so that A's commands are
	// sent (and applied) when it turns slow.
	if err := slow.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	p.delay.Store(int64(300 * time.Millisecond))
	a := w.replica(t, "A", slow, nil)
	b := w.replica(t, "B", newStore(t, prefix), func(c *middleware.HandlerConfig) { c.WaitTimeout = 30 * time.Second })
	openID := "oOrphanLock0000000000000000001"
	tok := w.token(t, openID)
	billno := w.billno(t, openID)

	if ans := tap(a, tok); ans.status != 200 {
		t.Fatalf("A: %+v", ans)
	}
	direct := newClient(t, redisURL)
	ctx := context.Background()
	eventually(t, 2*time.Second, "no lock left behind", func() bool {
		return direct.Exists(ctx, prefix+"lock:"+billno).Val() == 0
	})
	start := time.Now()
	ans := tap(b, tok)
	if ans.status != 200 {
		t.Fatalf("B: %+v", ans)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("B waited %v", d)
	}
	w.checkPaySign(t, ans, billno)
	if n := w.fake.Sends(billno); n < 1 {
		t.Fatal("no send")
	}
	next, err := a.client.AttemptBillno(w.grant.Key, openID, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := w.fake.Packet(next); ok {
		t.Error("the grant was paid under a second number")
	}
	// The slow link heals: what A kept locally reaches Redis.
	p.delay.Store(0)
	eventually(t, 5*time.Second, "A's result saved to Redis", func() bool {
		b, err := direct.Get(ctx, prefix+"result:"+billno).Bytes()
		var r middleware.Result
		return err == nil && json.Unmarshal(b, &r) == nil && r.Paid()
	})
}

// TestTermsOnRedis: the first terms recorded win, across stores and under
// concurrency; SaveTerms replaces them.
func TestTermsOnRedis(t *testing.T) {
	prefix := newPrefix(t)
	a, b := newStore(t, prefix), newStore(t, prefix)
	ctx := context.Background()
	var wg sync.WaitGroup
	var added atomic.Int32
	got := make([]middleware.Terms, 40)
	for i := range got {
		wg.Go(func() {
			s := a
			if i%2 == 1 {
				s = b
			}
			tr, ok, err := s.AddTerms(ctx, testBillno, middleware.Terms{Amount: int64(100 + i), Wishing: "w", DecidedAt: time.Now()}, time.Minute)
			if err != nil {
				t.Errorf("AddTerms: %v", err)
			}
			if ok {
				added.Add(1)
			}
			got[i] = tr
		})
	}
	wg.Wait()
	if n := added.Load(); n != 1 {
		t.Fatalf("%d of 40 AddTerms added; want 1", n)
	}
	for _, tr := range got {
		if tr.Amount != got[0].Amount {
			t.Fatalf("different terms returned: %d and %d", tr.Amount, got[0].Amount)
		}
	}
	c := newClient(t, redisURL)
	if ttl := c.PTTL(ctx, prefix+"terms:"+testBillno).Val(); ttl <= 0 || ttl > time.Minute {
		t.Errorf("PTTL of the terms = %v", ttl)
	}
	if err := b.SaveTerms(ctx, testBillno, middleware.Terms{Amount: 777, Recovered: true}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if tr, ok, err := a.AddTerms(ctx, testBillno, middleware.Terms{Amount: 1}, time.Minute); err != nil || ok || tr.Amount != 777 || !tr.Recovered {
		t.Errorf("after SaveTerms: %+v %v %v", tr, ok, err)
	}
	// Garbage under the key is an error, not terms.
	c.Set(ctx, prefix+"terms:other", "not json", time.Minute)
	if _, _, err := a.AddTerms(ctx, "other", middleware.Terms{Amount: 1}, time.Minute); err == nil {
		t.Error("garbage accepted as terms")
	}
	for _, bad := range []func() error{
		func() error { _, _, err := a.AddTerms(ctx, "", middleware.Terms{Amount: 1}, time.Minute); return err },
		func() error { _, _, err := a.AddTerms(ctx, "k", middleware.Terms{Amount: 1}, 0); return err },
		func() error { return a.SaveTerms(ctx, "", middleware.Terms{Amount: 1}, time.Minute) },
		func() error { return a.SaveTerms(ctx, "k", middleware.Terms{Amount: 1}, -1) },
	} {
		if bad() == nil {
			t.Error("invalid arguments accepted")
		}
	}
}
