package redisstore_test

import (
	"context"
	"errors"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hongbao-go/hongbao/store/redisstore"
)

// TestNewFromURLForms needs no Redis: each URL form gives the matching
// client, with context deadlines honoured.
func TestNewFromURLForms(t *testing.T) {
	clientOf := func(t *testing.T, u string) redis.UniversalClient {
		t.Helper()
		s, err := redisstore.NewFromURL(u, redisstore.Options{})
		if err != nil {
			t.Fatalf("NewFromURL: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		return s.Client()
	}
	single := func(t *testing.T, u string) *redis.Options {
		t.Helper()
		c, ok := clientOf(t, u).(*redis.Client)
		if !ok {
			t.Fatalf("client %T, want *redis.Client", clientOf(t, u))
		}
		o := c.Options()
		if !o.ContextTimeoutEnabled {
			t.Error("ContextTimeoutEnabled is off")
		}
		return o
	}
	clusterOf := func(t *testing.T, u string) *redis.ClusterOptions {
		t.Helper()
		c, ok := clientOf(t, u).(*redis.ClusterClient)
		if !ok {
			t.Fatalf("client %T, want *redis.ClusterClient", clientOf(t, u))
		}
		o := c.Options()
		if !o.ContextTimeoutEnabled {
			t.Error("ContextTimeoutEnabled is off")
		}
		return o
	}

	t.Run("one server", func(t *testing.T) {
		o := single(t, "redis://app:pw@127.0.0.1:6379/3?dial_timeout=1s")
		if o.Addr != "127.0.0.1:6379" || o.DB != 3 || o.Username != "app" || o.Password != "pw" || o.DialTimeout != time.Second {
			t.Errorf("options %s db %d user %q dial %v", o.Addr, o.DB, o.Username, o.DialTimeout)
		}
		if o := single(t, "rediss://127.0.0.1:6380/0"); o.TLSConfig == nil {
			t.Error("rediss:// without TLS")
		}
	})
	t.Run("cluster", func(t *testing.T) {
		o := clusterOf(t, "redis://app:pw@127.0.0.1:7000?addr=127.0.0.1:7001&addr=127.0.0.1:7002&max_redirects=5")
		if strings.Join(o.Addrs, " ") != "127.0.0.1:7000 127.0.0.1:7001 127.0.0.1:7002" ||
			o.Username != "app" || o.Password != "pw" || o.MaxRedirects != 5 {
			t.Errorf("options %v user %q redirects %d", o.Addrs, o.Username, o.MaxRedirects)
		}
		if o := clusterOf(t, "redis://127.0.0.1:7000/0?addr=127.0.0.1:7000"); len(o.Addrs) != 2 {
			t.Errorf("one seed node, repeated: %v", o.Addrs)
		}
		if o := clusterOf(t, "rediss://127.0.0.1:7000?addr=127.0.0.1:7001"); o.TLSConfig == nil {
			t.Error("rediss:// cluster without TLS")
		}
	})
	t.Run("Sentinel", func(t *testing.T) {
		o := single(t, "redis://127.0.0.1:26379/2?master_name=mymaster&addr=127.0.0.1:26380&password=master-pw")
		if o.Addr != "FailoverClient" || o.DB != 2 || o.Password != "master-pw" {
			t.Errorf("options %s db %d: want a failover client on db 2 with the master's password", o.Addr, o.DB)
		}
	})

	for _, u := range []string{
		"redis://app:secret-pw@10.0.0.1:6379,10.0.0.2:6379/0",
		"redis://app:secret-pw@127.0.0.1:7000/3?addr=127.0.0.1:7001",
		"redis://app:secret-pw@127.0.0.1:7000?addr=127.0.0.1",
		"redis://app:secret-pw@127.0.0.1:7000?addr=127.0.0.1:7001&db=2",
		"http://app:secret-pw@127.0.0.1:7000?addr=127.0.0.1:7001",
		"redis://app:secret-pw@127.0.0.1:26379?master_name=&addr=127.0.0.1:26380",
		"redis://app:secret-pw@127.0.0.1:26379?master_name=m&sentinel_addr=127.0.0.1:26380",
		"http://app:secret-pw@127.0.0.1:26379?master_name=m",
	} {
		_, err := redisstore.NewFromURL(u, redisstore.Options{})
		if err == nil {
			t.Errorf("NewFromURL(%q) accepted", u)
			continue
		}
		if !strings.HasPrefix(err.Error(), "redisstore: invalid Redis URL: ") || strings.Contains(err.Error(), "secret-pw") {
			t.Errorf("NewFromURL error %q: want the package prefix and no password", err)
		}
	}
	_, err := redisstore.NewFromURL("redis://10.0.0.1:6379,10.0.0.2:6379", redisstore.Options{})
	if err == nil || !strings.Contains(err.Error(), "?addr=") {
		t.Errorf("comma-separated hosts: %v, want the cluster form named", err)
	}
}

// TestPrefixWithAHashTagIsRefused needs no Redis.
func TestPrefixWithAHashTagIsRefused(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer c.Close()
	for _, p := range []string{"{shop}:", "shop:{eu}:", "shop{:"} {
		if _, err := redisstore.New(c, redisstore.Options{Prefix: p}); err == nil || !strings.Contains(err.Error(), "hash tag") {
			t.Errorf("New with Prefix %q: %v, want a refusal naming the hash tag", p, err)
		}
		if _, err := redisstore.NewFromURL("redis://127.0.0.1:1?addr=127.0.0.1:2", redisstore.Options{Prefix: p}); err == nil {
			t.Errorf("NewFromURL with Prefix %q accepted", p)
		}
	}
	for _, p := range []string{"", "shop:", "shop:eu:", "shop}:"} {
		if _, err := redisstore.New(c, redisstore.Options{Prefix: p}); err != nil {
			t.Errorf("New with Prefix %q: %v", p, err)
		}
	}
}

// clusterNodeAddr returns the address of a node in cluster mode: a master
// of the cluster under test, or else a private redis-server started with
// cluster-enabled (no slots: it answers PING and INFO cluster).
func clusterNodeAddr(t *testing.T) string {
	t.Helper()
	needRedis(t)
	if topology == cluster {
		masters := masterAddrs(t)
		return masters[0]
	}
	return privateServerAddr(t, "--cluster-enabled", "yes")
}

// singleServerAddr returns the address of a Redis not in cluster mode: the
// server under test when it is one, or else a private redis-server.
func singleServerAddr(t *testing.T) string {
	t.Helper()
	needRedis(t)
	if topology == single {
		return mustAddr(t, redisURL)
	}
	return privateServerAddr(t)
}

// privateServerAddr starts a private redis-server with args for t, and
// returns its address.
func privateServerAddr(t *testing.T, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if inCI() {
			t.Fatalf("no redis-server on PATH under CI: %s", howToRun)
		}
		t.Skip("needs redis-server on PATH")
	}
	srv, err := startRedisServer(args...)
	if err != nil {
		t.Fatalf("starting redis-server: %v", err)
	}
	t.Cleanup(srv.stop)
	return "127.0.0.1:" + strconv.Itoa(srv.port)
}

// masterAddrs lists the masters of the cluster under test.
func masterAddrs(t *testing.T) []string {
	t.Helper()
	cc, ok := newClient(t, redisURL).(*redis.ClusterClient)
	if !ok {
		t.Fatalf("%s is not a cluster", envRedisURL)
	}
	var addrs []string
	ch := make(chan string, 64)
	err := cc.ForEachMaster(context.Background(), func(_ context.Context, node *redis.Client) error {
		ch <- node.Options().Addr
		return nil
	})
	close(ch)
	if err != nil {
		t.Fatal(err)
	}
	for a := range ch {
		addrs = append(addrs, a)
	}
	return addrs
}

// TestPingRefusesAClusterNodeAsOneServer: the single-server URL of a node
// of a cluster answers PING; the Store's Ping refuses it and names the
// cluster form, instead of MOVED for most keys under traffic.
func TestPingRefusesAClusterNodeAsOneServer(t *testing.T) {
	t.Parallel()
	addr := clusterNodeAddr(t)
	s, err := redisstore.NewFromURL("redis://"+addr+"/0", redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	err = s.Ping(ctx)
	if !errors.Is(err, redisstore.ErrClusterNode) || !strings.Contains(err.Error(), "cluster_enabled:1") || !strings.Contains(err.Error(), "?addr=") {
		t.Fatalf("Ping of a cluster node through a single-server client = %v; want an error naming the cluster form", err)
	}
	t.Logf("Ping: %v", err)
	if topology != cluster {
		return
	}
	// Past Ping, the keys of other nodes answer MOVED, and the error says
	// what to do.
	for i := range 100 {
		_, _, err := s.Result(ctx, "moved-"+strconv.Itoa(i))
		if err == nil {
			continue
		}
		if _, moved := redis.IsMovedError(err); !moved || !strings.Contains(err.Error(), "cluster URL form") {
			t.Fatalf("Result on a cluster node through a single-server client: %v", err)
		}
		return
	}
	t.Fatal("100 keys on one node of a cluster of several: no MOVED")
}

// TestPingRefusesTheClusterFormOnOneServer: a cluster URL that names a
// server not in cluster mode is refused by Ping with the right form named.
func TestPingRefusesTheClusterFormOnOneServer(t *testing.T) {
	t.Parallel()
	addr := singleServerAddr(t)
	s, err := redisstore.NewFromURL("redis://"+addr+"?addr="+addr, redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.Ping(context.Background())
	if !errors.Is(err, redisstore.ErrNotCluster) || !strings.Contains(err.Error(), "not in cluster mode") {
		t.Fatalf("Ping of a single server through a cluster client = %v; want an error naming the single-server form", err)
	}
}

// TestPingOnTheRedisUnderTest: the URL under test passes Ping, whatever
// its topology.
func TestPingOnTheRedisUnderTest(t *testing.T) {
	needRedis(t)
	s := newStore(t, newPrefix(t))
	if err := s.Ping(context.Background()); err != nil {
		t.Fatalf("Ping on the %s Redis under test: %v", topology, err)
	}
}
