package redisstore_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hongbao-go/hongbao/store/redisstore"
)

// envRedisURL names the Redis the tests use, in any form NewFromURL
// accepts: one server, a cluster (redis://host:port?addr=host2:port2...)
// or Sentinel (...?master_name=name). The whole suite runs on it; the tests
// of one topology (resharding a cluster) run only on that topology. When
// it is unset, TestMain starts a private redis-server (when the binary is
// on PATH) on a free loopback port, without persistence, and stops it
// after the tests.
const envRedisURL = "HONGBAO_TEST_REDIS_URL"

// Topologies of the Redis under test, from the form of its URL.
const (
	single   = "single"
	cluster  = "cluster"
	sentinel = "sentinel"
)

const howToRun = "the redisstore tests need Redis: install redis-server " +
	"(Debian: apt-get install redis-server) or set " + envRedisURL + "=redis://127.0.0.1:6379/0"

var (
	// redisURL is the Redis every test shares; each test works under its
	// own key prefix and deletes its keys at the end.
	redisURL string
	// topology is the form of redisURL: single, cluster or sentinel.
	topology string
	// skipReason is set when no Redis is available outside CI.
	skipReason string
)

func TestMain(m *testing.M) {
	// go-redis logs every failed dial to stderr; the tests stop Redis on
	// purpose.
	redis.SetLogger(quietLogger{})
	os.Exit(runTests(m))
}

type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}

func runTests(m *testing.M) int {
	if u := os.Getenv(envRedisURL); u != "" {
		if err := pingURL(u, 5*time.Second); err != nil {
			fmt.Fprintf(os.Stderr, "redisstore tests: %s is set but Redis does not answer: %v\n", envRedisURL, err)
			return 1
		}
		redisURL, topology = u, topologyOf(u)
		fmt.Fprintf(os.Stderr, "redisstore tests: on the Redis of %s (%s)\n", envRedisURL, topology)
		return m.Run()
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		if inCI() {
			fmt.Fprintf(os.Stderr, "redisstore tests: FAIL: no redis-server on PATH and %s unset; with CI=true a missing Redis is a failure: %s\n",
				envRedisURL, howToRun)
			return 1
		}
		skipReason = howToRun
		return m.Run()
	}
	srv, err := startRedisServer()
	if err != nil {
		fmt.Fprintf(os.Stderr, "redisstore tests: starting redis-server: %v\n", err)
		return 1
	}
	defer srv.stop()
	redisURL, topology = srv.url, single
	return m.Run()
}

// inCI reports whether CI is set to a true value (CI=true on every common
// CI service and in .ci/run).
func inCI() bool {
	ci, err := strconv.ParseBool(os.Getenv("CI"))
	return err == nil && ci
}

// needRedis skips t when no Redis is available (never in CI: TestMain
// fails first).
func needRedis(t testing.TB) {
	t.Helper()
	// Read inside a test, where go test's cache records it, so that runs
	// on different Redis are never taken for one another.
	_ = os.Getenv(envRedisURL)
	if redisURL == "" {
		t.Skip(skipReason)
	}
}

// topologyOf tells the topology of a URL by its form, as NewFromURL does.
func topologyOf(u string) string {
	pu, err := url.Parse(u)
	if err != nil {
		return single
	}
	switch q := pu.Query(); {
	case q.Has("master_name"):
		return sentinel
	case q.Has("addr"):
		return cluster
	}
	return single
}

// needTopology skips t unless the Redis under test has topology want.
func needTopology(t testing.TB, want string) {
	t.Helper()
	needRedis(t)
	if topology != want {
		t.Skipf("needs %s to be a %s Redis; it is a %s one", envRedisURL, want, topology)
	}
}

// pingURL waits until the Redis of u answers the Store's Ping (on every
// master of a cluster), for at most within.
func pingURL(u string, within time.Duration) error {
	s, err := redisstore.NewFromURL(u, redisstore.Options{})
	if err != nil {
		return err // never repeats the URL, which may hold a password
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	var last error
	for ctx.Err() == nil {
		if last = s.Ping(ctx); last == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return last
}

// pingAddr waits until a server at addr answers PING, for at most within.
func pingAddr(addr string, within time.Duration) error {
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	var last error
	for ctx.Err() == nil {
		if last = c.Ping(ctx).Err(); last == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return last
}

// redisServer is a redis-server process owned by the tests.
type redisServer struct {
	dir    string
	port   int
	url    string
	cmd    *exec.Cmd
	exited chan struct{}
	log    string
	args   []string // added to the command line
}

// startRedisServer starts redis-server on a free loopback port, without
// persistence, in a temporary directory, with args added to its command
// line. The port is chosen by binding port 0 and closing it, so another
// process may take it first: a few attempts are made.
func startRedisServer(args ...string) (*redisServer, error) {
	dir, err := os.MkdirTemp("", "redisstore-test-")
	if err != nil {
		return nil, err
	}
	var last error
	for attempt := 0; attempt < 5; attempt++ {
		p, err := freePort()
		if err != nil {
			last = err
			continue
		}
		attemptArgs := args
		if slices.Contains(args, "--cluster-enabled") {
			// The cluster bus listens on a port of its own, by default
			// port+10000, which may be taken or past 65535.
			bus, err := freePort()
			if err != nil {
				last = err
				continue
			}
			attemptArgs = append(slices.Clip(args), "--cluster-port", bus)
		}
		s, err := launch(dir, p, attemptArgs...)
		if err == nil {
			return s, nil
		}
		last = err
	}
	os.RemoveAll(dir)
	return nil, last
}

func launch(dir, port string, args ...string) (*redisServer, error) {
	logPath := filepath.Join(dir, "redis-"+port+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("redis-server", append(args,
		"--port", port, "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no",
		"--dir", dir, "--daemonize", "no")...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	s := &redisServer{dir: dir, cmd: cmd, exited: make(chan struct{}), log: logPath, args: args,
		url: "redis://127.0.0.1:" + port + "/0"}
	s.port, _ = strconv.Atoi(port)
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(s.exited)
	}()
	ready := make(chan error, 1)
	go func() { ready <- pingAddr("127.0.0.1:"+port, 10*time.Second) }()
	select {
	case err := <-ready:
		if err != nil {
			s.kill()
			return nil, fmt.Errorf("redis-server on port %s did not answer: %v; log: %s", port, err, tail(logPath))
		}
		return s, nil
	case <-s.exited:
		return nil, fmt.Errorf("redis-server on port %s exited: %s", port, tail(logPath))
	}
}

// kill ends the server abruptly (SIGKILL), as a crash would.
func (s *redisServer) kill() {
	_ = s.cmd.Process.Kill()
	<-s.exited
}

// stop kills the server and removes its directory.
func (s *redisServer) stop() {
	s.kill()
	os.RemoveAll(s.dir)
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port), nil
}

func tail(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) > 10 {
		lines = lines[len(lines)-10:]
	}
	return strings.Join(lines, "\n")
}

// newPrefix returns a key prefix of its own for one test, so tests never
// see each other's keys, and deletes the prefix's keys when t ends.
func newPrefix(t testing.TB) string {
	t.Helper()
	needRedis(t)
	prefix := "hbtest:" + rand.Text()[:12] + ":"
	t.Cleanup(func() { deletePrefix(t, prefix) })
	return prefix
}

func deletePrefix(t testing.TB, prefix string) {
	c := newClient(t, redisURL)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	keys, err := keysMatching(ctx, c, prefix+"*")
	for _, k := range keys {
		c.Del(ctx, k)
	}
	if err != nil {
		t.Logf("deleting the test keys: %v", err)
	}
}

// keysMatching lists the keys that match pattern with SCAN: on every
// master of a cluster (a SCAN sees the keys of one node), on the server
// otherwise.
func keysMatching(ctx context.Context, c redis.UniversalClient, pattern string) ([]string, error) {
	scan := func(ctx context.Context, node redis.Cmdable) ([]string, error) {
		var keys []string
		iter := node.Scan(ctx, 0, pattern, 100).Iterator()
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		return keys, iter.Err()
	}
	cc, ok := c.(*redis.ClusterClient)
	if !ok {
		return scan(ctx, c)
	}
	var mu sync.Mutex
	var all []string
	err := cc.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
		keys, err := scan(ctx, node)
		mu.Lock()
		all = append(all, keys...)
		mu.Unlock()
		return err
	})
	return all, err
}

// newClient returns a client for u, of the kind NewFromURL makes for it
// (one server, cluster or Sentinel), closed when t ends.
func newClient(t testing.TB, u string) redis.UniversalClient {
	t.Helper()
	s, err := redisstore.NewFromURL(u, redisstore.Options{})
	if err != nil {
		t.Fatalf("NewFromURL: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s.Client()
}

// newStore returns a Store on the shared Redis under prefix, on a client of
// its own (as another replica would have).
func newStore(t testing.TB, prefix string) *redisstore.Store {
	t.Helper()
	needRedis(t)
	s, err := redisstore.NewFromURL(redisURL, redisstore.Options{Prefix: prefix})
	if err != nil {
		t.Fatalf("NewFromURL: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// stoppableRedis is a Redis that a test can stop and start again, empty.
type stoppableRedis interface {
	URL() string
	Stop(t testing.TB)
	Start(t testing.TB)
}

// newStoppableRedis returns a private redis-server when the binary is on
// PATH, and otherwise a TCP proxy in front of the shared Redis (a single
// server) whose Stop closes every connection and the listener (what
// clients see of a killed server) and whose Start deletes the test's keys
// (what a restart without persistence leaves) and listens again.
func newStoppableRedis(t testing.TB, prefix string) stoppableRedis {
	t.Helper()
	needRedis(t)
	if _, err := exec.LookPath("redis-server"); err == nil {
		s, err := startRedisServer()
		if err != nil {
			t.Fatalf("starting a private redis-server: %v", err)
		}
		r := &ownRedis{srv: s}
		t.Cleanup(func() {
			if r.srv != nil {
				r.srv.stop()
			}
		})
		return r
	}
	needTopology(t, single) // a proxy in front of one node of several proves nothing
	p := &proxy{target: mustAddr(t, redisURL), prefix: prefix}
	p.listen(t, "127.0.0.1:0")
	t.Cleanup(func() { p.Stop(t) })
	return p
}

type ownRedis struct {
	srv *redisServer
}

func (r *ownRedis) URL() string { return r.srv.url }

func (r *ownRedis) Stop(t testing.TB) {
	r.srv.kill()
}

func (r *ownRedis) Start(t testing.TB) {
	t.Helper()
	old := r.srv
	s, err := launchInDir(old.dir, strconv.Itoa(old.port), old.args...)
	if err != nil {
		t.Fatalf("restarting redis-server: %v", err)
	}
	r.srv = s
}

// launchInDir starts redis-server again on a port, retrying while the
// port is still being released.
func launchInDir(dir, port string, args ...string) (*redisServer, error) {
	var last error
	for attempt := 0; attempt < 20; attempt++ {
		s, err := launch(dir, port, args...)
		if err == nil {
			return s, nil
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	return nil, last
}

func mustAddr(t testing.TB, u string) string {
	t.Helper()
	opt, err := redis.ParseURL(u)
	if err != nil {
		t.Fatalf("ParseURL: %v", err)
	}
	return opt.Addr
}

// proxy forwards TCP connections to target until stopped.
type proxy struct {
	target, prefix string
	addr           string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func (p *proxy) URL() string {
	opt, _ := redis.ParseURL(redisURL)
	u := "redis://"
	if opt.Username != "" || opt.Password != "" {
		u += opt.Username + ":" + opt.Password + "@"
	}
	return u + p.addr + "/" + strconv.Itoa(opt.DB)
}

func (p *proxy) listen(t testing.TB, addr string) {
	t.Helper()
	var ln net.Listener
	var err error
	for attempt := 0; attempt < 20; attempt++ {
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("proxy listen: %v", err)
	}
	p.mu.Lock()
	p.ln = ln
	p.addr = ln.Addr().String()
	if p.conns == nil {
		p.conns = make(map[net.Conn]struct{})
	}
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns[c] = struct{}{}
			p.conns[up] = struct{}{}
			p.mu.Unlock()
			pipe := func(dst, src net.Conn) {
				_, _ = io.Copy(dst, src)
				dst.Close()
				src.Close()
			}
			go pipe(up, c)
			go pipe(c, up)
		}
	}()
}

func (p *proxy) Stop(t testing.TB) {
	p.mu.Lock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *proxy) Start(t testing.TB) {
	t.Helper()
	deletePrefix(t, p.prefix)
	p.listen(t, p.addr)
}
