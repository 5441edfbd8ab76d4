package redisstore_test

import (
	"context"
	"encoding/json"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hongbao-go/hongbao/middleware/claim"
	"github.com/hongbao-go/hongbao/rail"
	"github.com/hongbao-go/hongbao/store"
	"github.com/hongbao-go/hongbao/store/redisstore"
)

// slowLink puts a TCP proxy in front of each Redis node a client dials
// (every master of a cluster, or the one server) and holds every reply
// for delay (while it is set): commands reach Redis at once and are
// applied, but the client times out before it hears the answer, as with a
// congested link.
type slowLink struct {
	relay
	delay atomic.Int64 // nanoseconds

	mu      sync.Mutex
	proxies map[string]string // node address -> proxy address
	lns     []net.Listener
}

func newSlowLink(t *testing.T) *slowLink {
	t.Helper()
	needRedis(t)
	if topology == sentinel {
		t.Skip("a slow link to a Sentinel-managed master is not covered: the Sentinels' answers would be delayed too")
	}
	l := &slowLink{proxies: map[string]string{}}
	t.Cleanup(func() {
		l.mu.Lock()
		for _, ln := range l.lns {
			ln.Close()
		}
		l.mu.Unlock()
		l.closeConns()
	})
	return l
}

// dial is a redis Dialer: it connects through the proxy of addr, which it
// starts on first use.
func (l *slowLink) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	l.mu.Lock()
	paddr, ok := l.proxies[addr]
	if !ok {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			l.mu.Unlock()
			return nil, err
		}
		paddr = ln.Addr().String()
		l.proxies[addr] = paddr
		l.lns = append(l.lns, ln)
		l.start(ln, addr, func() bool {
			time.Sleep(time.Duration(l.delay.Load()))
			return true
		})
	}
	l.mu.Unlock()
	var d net.Dialer
	return d.DialContext(ctx, network, paddr)
}

// store returns a Store on the Redis under test through the link: a
// client of the URL's kind, as NewFromURL makes it (context deadlines
// honoured), whose every connection goes through the link.
func (l *slowLink) store(t *testing.T, opts redisstore.Options) *redisstore.Store {
	t.Helper()
	var c redis.UniversalClient
	switch topology {
	case cluster:
		o, err := redis.ParseClusterURL(redisURL)
		if err != nil {
			t.Fatal(err)
		}
		o.Dialer, o.ContextTimeoutEnabled = l.dial, true
		c = redis.NewClusterClient(o)
	default:
		o, err := redis.ParseURL(redisURL)
		if err != nil {
			t.Fatal(err)
		}
		o.Dialer, o.ContextTimeoutEnabled = l.dial, true
		c = redis.NewClient(o)
	}
	t.Cleanup(func() { c.Close() })
	s, err := redisstore.New(c, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// warm makes s's connections and lets its client learn what it asks once
// (a cluster client: the slots and the command table) while the link is
// fast, so that its commands are sent (and applied) when the link turns
// slow.
func (l *slowLink) warm(t *testing.T, s *redisstore.Store) {
	t.Helper()
	ctx := context.Background()
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Result(ctx, "warm-up"); err != nil {
		t.Fatal(err)
	}
}

// TestTryLockTimeoutLeavesNoLock: a TryLock whose SET Redis applied but
// whose reply came too late reports an error and gives the lock up, so no
// replica waits for a holder that never was.
func TestTryLockTimeoutLeavesNoLock(t *testing.T) {
	prefix := newPrefix(t)
	p := newSlowLink(t)
	slow := p.store(t, redisstore.Options{Prefix: prefix, Timeout: 500 * time.Millisecond})
	p.warm(t, slow)
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
	p := newSlowLink(t)
	slow := p.store(t, redisstore.Options{Prefix: prefix, Timeout: 100 * time.Millisecond})
	p.warm(t, slow)
	p.delay.Store(int64(300 * time.Millisecond))
	a := w.replica(t, "A", slow, nil)
	b := w.replica(t, "B", newStore(t, prefix), func(c *claim.HandlerConfig) { c.WaitTimeout = 30 * time.Second })
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
		var r store.Result
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
	got := make([]store.Terms, 40)
	for i := range got {
		wg.Go(func() {
			s := a
			if i%2 == 1 {
				s = b
			}
			tr, ok, err := s.AddTerms(ctx, testBillno, store.Terms{Payout: rail.Payout{Amount: int64(100 + i), Wishing: "w"}, DecidedAt: time.Now()}, time.Minute)
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
	if err := b.SaveTerms(ctx, testBillno, store.Terms{Payout: rail.Payout{Amount: 777}, Recovered: true}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if tr, ok, err := a.AddTerms(ctx, testBillno, store.Terms{Payout: rail.Payout{Amount: 1}}, time.Minute); err != nil || ok || tr.Amount != 777 || !tr.Recovered {
		t.Errorf("after SaveTerms: %+v %v %v", tr, ok, err)
	}
	// Garbage under the key is an error, not terms.
	c.Set(ctx, prefix+"terms:other", "not json", time.Minute)
	if _, _, err := a.AddTerms(ctx, "other", store.Terms{Payout: rail.Payout{Amount: 1}}, time.Minute); err == nil {
		t.Error("garbage accepted as terms")
	}
	for _, bad := range []func() error{
		func() error {
			_, _, err := a.AddTerms(ctx, "", store.Terms{Payout: rail.Payout{Amount: 1}}, time.Minute)
			return err
		},
		func() error {
			_, _, err := a.AddTerms(ctx, "k", store.Terms{Payout: rail.Payout{Amount: 1}}, 0)
			return err
		},
		func() error { return a.SaveTerms(ctx, "", store.Terms{Payout: rail.Payout{Amount: 1}}, time.Minute) },
		func() error { return a.SaveTerms(ctx, "k", store.Terms{Payout: rail.Payout{Amount: 1}}, -1) },
	} {
		if bad() == nil {
			t.Error("invalid arguments accepted")
		}
	}
}
