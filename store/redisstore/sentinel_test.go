package redisstore_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hongbao-go/hongbao/middleware/claim"
	"github.com/hongbao-go/hongbao/store/redisstore"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

// replicationLink carries a replica's connection to its master. Once cut,
// what the master sends is dropped: writes made on the master from then
// on never reach the replica, as when a master dies before its
// asynchronous replication caught up.
type replicationLink struct {
	relay
	ln  net.Listener
	cut atomic.Bool
}

func newReplicationLink(t *testing.T, target string) *replicationLink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &replicationLink{ln: ln}
	l.start(ln, target, func() bool { return !l.cut.Load() })
	t.Cleanup(func() {
		ln.Close()
		l.closeConns()
	})
	return l
}

func (l *replicationLink) port() string { return strconv.Itoa(l.ln.Addr().(*net.TCPAddr).Port) }

// sentinelSet is a master, its replica and a Sentinel watching them,
// private to one test.
type sentinelSet struct {
	master, replica, sentinel *redisServer
	link                      *replicationLink
	url                       string // the Sentinel form of the URL
}

const sentinelMaster = "hbmaster"

// startSentinelSet starts a master, a replica that replicates it through
// a replicationLink, and a Sentinel (redis-server --sentinel, the program
// of Debian's redis-sentinel package) that fails over to the replica half
// a second after the master stops answering.
func startSentinelSet(t *testing.T) *sentinelSet {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if inCI() {
			t.Fatalf("no redis-server on PATH under CI: %s", howToRun)
		}
		t.Skip("the Sentinel test needs redis-server on PATH")
	}
	start := func(args ...string) *redisServer {
		t.Helper()
		s, err := startRedisServer(args...)
		if err != nil {
			t.Fatalf("starting redis-server %s: %v", strings.Join(args, " "), err)
		}
		t.Cleanup(s.stop)
		return s
	}
	set := &sentinelSet{master: start()}
	set.link = newReplicationLink(t, "127.0.0.1:"+strconv.Itoa(set.master.port))
	set.replica = start("--replicaof", "127.0.0.1", set.link.port())

	conf := filepath.Join(t.TempDir(), "sentinel.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil,
		"sentinel monitor %[1]s 127.0.0.1 %[2]d 1\n"+
			"sentinel down-after-milliseconds %[1]s 500\n"+
			"sentinel failover-timeout %[1]s 10000\n", sentinelMaster, set.master.port), 0o600); err != nil {
		t.Fatal(err)
	}
	set.sentinel = start(conf, "--sentinel")
	set.url = fmt.Sprintf("redis://127.0.0.1:%d/0?master_name=%s&dial_timeout=300ms", set.sentinel.port, sentinelMaster)

	// The replica is in sync and the Sentinel knows it.
	ctx := context.Background()
	replica := set.client(t, set.replica)
	eventually(t, 10*time.Second, "the replica never caught up with the master", func() bool {
		info, _ := replica.Info(ctx, "replication").Result()
		return strings.Contains(info, "master_link_status:up")
	})
	sentinel := set.client(t, set.sentinel)
	eventually(t, 15*time.Second, "the Sentinel never saw the replica", func() bool {
		replicas, err := sentinel.Do(ctx, "SENTINEL", "REPLICAS", sentinelMaster).Slice()
		return err == nil && len(replicas) > 0
	})
	return set
}

// client returns a plain client of one server of the set.
func (set *sentinelSet) client(t *testing.T, s *redisServer) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(s.port), MaxRetries: -1})
	t.Cleanup(func() { c.Close() })
	return c
}

// masterAddr is the master's address as the Sentinel reports it.
func (set *sentinelSet) masterAddr(t *testing.T) string {
	addr, err := set.client(t, set.sentinel).Do(context.Background(),
		"SENTINEL", "GET-MASTER-ADDR-BY-NAME", sentinelMaster).StringSlice()
	if err != nil || len(addr) != 2 {
		return ""
	}
	return net.JoinHostPort(addr[0], addr[1])
}

// TestSentinelFailover runs two handler replicas on a Sentinel URL and
// kills the master while replica A is sending for a user whose lock (and
// terms) the replica never received: Sentinel promotes the replica, B
// finds no lock and sends the same bill number. The platform pays it
// once; both answers carry that packet. A user paid before the failover
// is answered from the promoted replica without a send. Taps during the
// failover are answered (the handler degrades); the test reports how long
// the failover took and how many Store failures were logged.
func TestSentinelFailover(t *testing.T) {
	needRedis(t)
	if topology == cluster {
		t.Skip("the Sentinel test starts its own servers: it runs with the single-server suite")
	}
	t.Parallel()
	set := startSentinelSet(t)
	prefix := "hbtest:" + rand.Text()[:12] + ":"
	w := newWorld(t)
	store := func() *redisstore.Store {
		s, err := redisstore.NewFromURL(set.url, redisstore.Options{Prefix: prefix, Timeout: 300 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		if err := s.Ping(context.Background()); err != nil {
			t.Fatalf("Ping through Sentinel: %v", err)
		}
		return s
	}
	storeA, storeB := store(), store()
	patient := func(c *claim.HandlerConfig) { c.WaitTimeout = 10 * time.Second }
	a := w.replica(t, "A", storeA, patient)
	b := w.replica(t, "B", storeB, patient)
	ctx := context.Background()
	master, promoted := set.client(t, set.master), set.client(t, set.replica)

	// Before: a user paid, the result replicated.
	early := "oEarly_" + rand.Text()[:16]
	earlyTok, earlyBillno := w.token(t, early), w.billno(t, early)
	if ans := tap(a, earlyTok); ans.status != http.StatusOK {
		t.Fatalf("tap before the failover: %d %q %v", ans.status, ans.code, ans.err)
	}
	earlyPkg := w.packageOf(t, earlyBillno)
	eventually(t, 5*time.Second, "the result never reached the replica", func() bool {
		return promoted.Exists(ctx, prefix+"result:"+earlyBillno).Val() == 1
	})

	// The replication link is cut; A takes the lock of a new user on the
	// master and sends, slowly.
	set.link.cut.Store(true)
	late := "oLate_" + rand.Text()[:16]
	lateTok, lateBillno := w.token(t, late), w.billno(t, late)
	w.fake.Inject(wxpaytest.Fault{Delay: 4 * time.Second, Match: func(path string, p map[string]string) bool {
		return path == wxpaytest.PathSendMiniProgramHB && p["mch_billno"] == lateBillno
	}})
	warnBefore := w.logs.warnings.Load()
	answerA := make(chan answer, 1)
	go func() { answerA <- tap(a, lateTok) }()
	eventually(t, 5*time.Second, "A never took the lock", func() bool {
		return master.Exists(ctx, prefix+"lock:"+lateBillno).Val() == 1
	})
	if promoted.Exists(ctx, prefix+"lock:"+lateBillno).Val() != 0 {
		t.Fatal("the lock reached the replica: the link was not cut")
	}

	// The master dies with the lock; taps go on while Sentinel fails over.
	oldMaster := set.masterAddr(t)
	set.master.kill()
	killed := time.Now()
	during := "oDuring_" + rand.Text()[:16]
	duringTok := w.token(t, during)
	var duringAnswers []answer
	var failover, reached time.Duration
	for {
		if failover == 0 {
			if addr := set.masterAddr(t); addr != "" && addr != oldMaster {
				failover = time.Since(killed)
			}
		}
		if failover != 0 && storeA.Ping(ctx) == nil && storeB.Ping(ctx) == nil {
			reached = time.Since(killed)
			break
		}
		if time.Since(killed) > 30*time.Second {
			t.Fatalf("after 30s: Sentinel switched after %v, the stores never reached the new master", failover)
		}
		r := a
		if len(duringAnswers)%2 == 1 {
			r = b
		}
		duringAnswers = append(duringAnswers, tap(r, duringTok))
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(2 * storeRetryAfter) // the handlers use the Store again

	// B: no lock on the promoted replica, so it sends the same number.
	ansB := tap(b, lateTok)
	ansA := <-answerA
	sends := w.fake.Sends(lateBillno)
	latePkg := w.packageOf(t, lateBillno)
	duringCount := count(duringAnswers)
	warnings := w.logs.warnings.Load() - warnBefore
	t.Logf("Sentinel promoted the replica %v after the master was killed; both stores reached it after %v; "+
		"%d taps during the failover: %v, %d send(s) of that user; the user whose lock was lost: %d sends of one bill number, "+
		"%d packet(s), answers A %d, B %d, same package %v; %d Store failures logged",
		failover.Round(time.Millisecond), reached.Round(time.Millisecond),
		len(duringAnswers), duringCount.byStatus, w.fake.Sends(w.billno(t, during)), sends,
		len(w.fake.PacketsOf(late)), ansA.status, ansB.status, ansA.pkg == ansB.pkg, warnings)

	if ansA.status != http.StatusOK || ansB.status != http.StatusOK {
		t.Fatalf("answers A %d %q %v, B %d %q %v; want 200 both", ansA.status, ansA.code, ansA.err, ansB.status, ansB.code, ansB.err)
	}
	if ansA.pkg != latePkg || ansB.pkg != latePkg {
		t.Errorf("answers carry packages A %q, B %q; the platform paid %q", ansA.pkg, ansB.pkg, latePkg)
	}
	if sends != 2 {
		t.Errorf("%d sends of the bill number whose lock was lost, want 2 (A's, then B's with the same number)", sends)
	}
	if n := len(w.fake.PacketsOf(late)); n != 1 {
		t.Errorf("%d packets for the user whose lock was lost, want 1", n)
	}
	if len(duringCount.errs) > 0 || duringCount.byStatus[http.StatusOK] != len(duringAnswers) {
		t.Errorf("taps during the failover: %v %v, want 200 each", duringCount.byStatus, duringCount.errs)
	}
	if n := w.fake.Sends(w.billno(t, during)); n < 1 || n > 2 {
		t.Errorf("%d sends for the user tapping during the failover, want 1 or 2 (one per replica at most)", n)
	}
	if warnings == 0 {
		t.Error("no Store failure logged while the master was down")
	}

	// After: the early user is answered from the promoted replica, on
	// both handler replicas, without a send.
	for _, r := range []*replica{a, b} {
		if ans := tap(r, earlyTok); ans.status != http.StatusOK || ans.pkg != earlyPkg {
			t.Errorf("early user after the failover on %s: %d %q, same package %v", r.name, ans.status, ans.code, ans.pkg == earlyPkg)
		}
	}
	if n := w.fake.Sends(earlyBillno); n != 1 {
		t.Errorf("%d sends for the user paid before the failover, want 1", n)
	}
	// What A learnt while the master was down reaches the new master.
	eventually(t, 5*time.Second, "the lost user's result never reached the new master", func() bool {
		return promoted.Exists(ctx, prefix+"result:"+lateBillno).Val() == 1
	})
}
