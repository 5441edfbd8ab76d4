//go:build full

package main

import (
	"bufio"
	"crypto/rand"
	"fmt"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hongbao-go/hongbao/transport/wxpaytest"
)

// testRedisURL is HONGBAO_TEST_REDIS_URL, or else the URL of a private
// redis-server started for the test (stopped when it ends), as the store's
// tests do. Without either, the test is skipped, or fails under CI=true.
func testRedisURL(t *testing.T) string {
	t.Helper()
	if url := os.Getenv("HONGBAO_TEST_REDIS_URL"); url != "" {
		return url
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("no redis-server on PATH and HONGBAO_TEST_REDIS_URL unset under CI")
		}
		t.Skip("no redis-server on PATH (apt-get install redis-server) and HONGBAO_TEST_REDIS_URL unset")
	}
	dir := t.TempDir()
	var last error
	for range 5 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
		l.Close()
		cmd := exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
			"--dir", dir, "--daemonize", "no", "--logfile", filepath.Join(dir, "redis.log"))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		if last = pingRedis("127.0.0.1:"+port, exited); last == nil {
			t.Cleanup(func() {
				_ = cmd.Process.Kill()
				<-exited
			})
			return "redis://127.0.0.1:" + port + "/0"
		}
		_ = cmd.Process.Kill()
		<-exited
	}
	t.Fatalf("starting redis-server: %v", last)
	return ""
}

// pingRedis waits up to 10 seconds for PONG at addr.
func pingRedis(addr string, exited <-chan struct{}) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-exited:
			return fmt.Errorf("redis-server on %s exited", addr)
		default:
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.SetDeadline(time.Now().Add(time.Second))
			_, err = c.Write([]byte("PING\r\n"))
			var line string
			if err == nil {
				line, err = bufio.NewReader(c).ReadString('\n')
			}
			c.Close()
			if err == nil && strings.HasPrefix(line, "+PONG") {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redis-server on %s did not answer: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestDemoRedis runs the demo on a real Redis (HONGBAO_TEST_REDIS_URL, or a
// redis-server of its own), so two taps share the store.
func TestDemoRedis(t *testing.T) {
	url := testRedisURL(t)
	base, out := start(t, map[string]string{envRedisURL: url, envCampaign: "redis-" + rand.Text()})
	if !strings.Contains(out.String(), "shared through Redis") {
		t.Errorf("Redis not announced:\n%s", out)
	}
	token := demoTokenOf(t, out.String())
	resp, body := do(t, http.MethodPost, base+claimPath, token, `{"scene":1047}`)
	first := checkClaim(t, resp, body, wxpaytest.DefaultAppID, wxpaytest.DefaultAPIKey)
	resp, body = do(t, http.MethodPost, base+claimPath, token, `{"scene":1047}`)
	if again := checkClaim(t, resp, body, wxpaytest.DefaultAppID, wxpaytest.DefaultAPIKey); again.Package != first.Package {
		t.Errorf("repeat tap: package %q, first %q", again.Package, first.Package)
	}
	// The send was paced on the send rate kept in Redis, not on the
	// process's own.
	if !strings.Contains(out.String(), "the send rate are shared through Redis") ||
		strings.Contains(out.String(), "shared send rate is unavailable") {
		t.Errorf("the send rate is not shared through Redis:\n%s", out)
	}

	// On a cluster (a URL with addr=), the single-server URL of one of its
	// nodes is refused at start-up, and the message names the cluster form.
	u, err := neturl.Parse(url)
	if err != nil || !u.Query().Has("addr") {
		return
	}
	err = startErr(t, map[string]string{envRedisURL: "redis://" + u.Host + "/0"})
	if !strings.Contains(err.Error(), envRedisURL) || !strings.Contains(err.Error(), "cluster form") {
		t.Errorf("a cluster node as a single server: %v; want the cluster form named", err)
	}
}

func TestRedisURLErrors(t *testing.T) {
	for name, c := range map[string]struct{ url, want string }{
		"malformed":   {"mysql://user:secret@127.0.0.1/0", "invalid Redis URL"},
		"hosts":       {"redis://:secret@127.0.0.1:7000,127.0.0.1:7001/0", "?addr="},
		"cluster db":  {"redis://:secret@127.0.0.1:7000/2?addr=127.0.0.1:7001", "only database 0"},
		"unreachable": {"redis://:secret@127.0.0.1:1/0?max_retries=-1&dial_timeout=200ms", "does not answer"},
	} {
		t.Run(name, func(t *testing.T) {
			err := startErr(t, map[string]string{envRedisURL: c.url})
			if !strings.Contains(err.Error(), envRedisURL) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v", err)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Fatalf("the password leaked: %v", err)
			}
		})
	}
}
