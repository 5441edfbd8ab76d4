package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hongbao-go/hongbao"
	"github.com/hongbao-go/hongbao/store/redisstore"
	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

// envTestRedis names the Redis the reconcile tests use. When it is unset,
// TestMain starts a private redis-server (when the binary is on PATH) on
// a free loopback port and stops it after the tests; without one, the
// tests that need Redis are skipped, except with CI=true, where they fail.
const envTestRedis = "HONGBAO_TEST_REDIS_URL"

// testRedisURL is the Redis of the tests; each test works under its own
// key prefix and deletes its keys at the end.
var testRedisURL string

func TestMain(m *testing.M) {
	redis.SetLogger(quietLogger{})
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	if u := os.Getenv(envTestRedis); u != "" {
		testRedisURL = u
		return m.Run()
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
			fmt.Fprintf(os.Stderr, "cmd/hongbao tests: no redis-server on PATH and %s unset; with CI=true a missing Redis is a failure\n", envTestRedis)
			return 1
		}
		return m.Run()
	}
	stop, u, err := startRedis()
	if err != nil {
		fmt.Fprintf(os.Stderr, "cmd/hongbao tests: starting redis-server: %v\n", err)
		return 1
	}
	defer stop()
	testRedisURL = u
	return m.Run()
}

// startRedis starts redis-server on a free loopback port, without
// persistence.
func startRedis() (stop func(), url string, err error) {
	dir, err := os.MkdirTemp("", "hongbao-cmd-redis-")
	if err != nil {
		return nil, "", err
	}
	for range 5 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			continue
		}
		port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
		ln.Close()
		cmd := exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "no")
		if err := cmd.Start(); err != nil {
			os.RemoveAll(dir)
			return nil, "", err
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		u := "redis://127.0.0.1:" + port + "/0"
		if pingRedis(u, exited) {
			return func() { cmd.Process.Kill(); <-exited; os.RemoveAll(dir) }, u, nil
		}
		cmd.Process.Kill()
		<-exited
	}
	os.RemoveAll(dir)
	return nil, "", fmt.Errorf("redis-server did not answer")
}

func pingRedis(u string, exited <-chan struct{}) bool {
	opt, _ := redis.ParseURL(u)
	c := redis.NewClient(opt)
	defer c.Close()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		select {
		case <-exited:
			return false
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

// needRedis returns a Store under a key prefix of the test's own, deleted
// at the end, and the prefix; it skips the test when no Redis is
// available.
func needRedis(t *testing.T) (*redisstore.Store, string) {
	t.Helper()
	if testRedisURL == "" {
		t.Skip("no Redis: install redis-server or set " + envTestRedis)
	}
	prefix := "hongbao-cmd-test:" + rand.Text()[:10] + ":"
	store, err := redisstore.NewFromURL(testRedisURL, redisstore.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		var keys []string
		_ = scanKeys(ctx, store.Client(), prefix+"*", func(k string) { keys = append(keys, k) })
		for _, k := range keys {
			store.Client().Del(ctx, k)
		}
		store.Close()
	})
	return store, prefix
}

// fixture is a wxpaytest host and the environment that points the command
// at it, with the merchant's files in a temporary directory.
type fixture struct {
	t   *testing.T
	srv *wxpaytest.Server
	dir string
	env map[string]string
}

const testBillnoKey = "a test bill number key, 32 bytes"

func newFixture(t *testing.T, opts wxpaytest.Options) *fixture {
	t.Helper()
	srv := wxpaytest.Start(t, opts)
	f := &fixture{t: t, srv: srv, dir: t.TempDir()}
	f.env = map[string]string{
		envMchID:     srv.MchID,
		envAppID:     srv.AppID,
		envAPIKey:    srv.APIKey,
		envCertFile:  f.file("apiclient_cert.pem", srv.ClientCertPEM()),
		envKeyFile:   f.file("apiclient_key.pem", srv.ClientKeyPEM()),
		envCAFile:    f.file("ca.pem", srv.CACertPEM()),
		envBaseURL:   srv.URL,
		envBillnoKey: testBillnoKey,
	}
	return f
}

// file writes a file in the fixture's directory and returns its path.
func (f *fixture) file(name string, data []byte) string {
	f.t.Helper()
	p := filepath.Join(f.dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		f.t.Fatal(err)
	}
	return p
}

// with returns the environment with some variables changed ("" unsets).
func (f *fixture) with(kv ...string) map[string]string {
	env := make(map[string]string, len(f.env))
	for k, v := range f.env {
		env[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		env[kv[i]] = kv[i+1]
	}
	return env
}

// client is a hongbao.Client of the fixture's merchant, to pay packets
// the command then reports.
func (f *fixture) client() *hongbao.Client {
	f.t.Helper()
	// With the fixture's key: bill numbers as the command derives them.
	m := readMerchant(getenvOf(f.env))
	if err := m.loadCA(); err != nil {
		f.t.Fatal(err)
	}
	c, err := hongbao.New(m.clientConfig([]byte(testBillnoKey), hongbao.RetryPolicy{Attempts: 1}))
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(c.Transport().CloseIdleConnections)
	return c
}

// pay sends a red packet of amount fen to openid under billno.
func (f *fixture) pay(billno, openid string, amount int64) *hongbao.SendResult {
	f.t.Helper()
	res, err := f.client().SendMiniProgramHB(context.Background(), &hongbao.SendRequest{
		Billno: billno, OpenID: openid, Amount: amount,
		SendName: "shop", Wishing: "happy new year", ActName: "new year", Remark: "thanks",
	})
	if err != nil {
		f.t.Fatalf("paying %s: %v", billno, err)
	}
	return res
}

func getenvOf(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

// result is the outcome of one run of the command.
type result struct {
	code           int
	stdout, stderr string
}

// runWith runs the command in process with env.
func runWith(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, getenvOf(env), &stdout, &stderr)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout\n%s--- stderr\n%s", r.code, r.stdout, r.stderr)
}

// wantCode fails t unless the run exited with code.
func (r result) wantCode(t *testing.T, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("want exit %d, got %s", code, r)
	}
}

// wantOut fails t unless stdout holds every part.
func (r result) wantOut(t *testing.T, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(r.stdout, p) {
			t.Errorf("stdout lacks %q:\n%s", p, r)
		}
	}
}

// wantErr fails t unless stderr holds every part.
func (r result) wantErr(t *testing.T, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(r.stderr, p) {
			t.Errorf("stderr lacks %q:\n%s", p, r)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader in
// different goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestUsage(t *testing.T) {
	r := runWith(t, nil)
	r.wantCode(t, exitUsage)
	r.wantErr(t, "Usage:", "hongbao check", "hongbao reconcile")
	r = runWith(t, nil, "help")
	r.wantCode(t, exitOK)
	r.wantOut(t, "hongbao query [-json] [-transfer | -transfer-bill-no | -grants] BILLNO...", "hongbao fake")
	r = runWith(t, nil, "pay")
	r.wantCode(t, exitUsage)
	r.wantErr(t, `unknown command "pay"`)
	for _, c := range []string{"check", "query", "billno", "reconcile", "fake"} {
		r = runWith(t, nil, c, "-h")
		r.wantCode(t, exitOK)
		r.wantErr(t, "Usage: hongbao "+c)
		r = runWith(t, nil, c, "-no-such-flag")
		r.wantCode(t, exitUsage)
	}
}
