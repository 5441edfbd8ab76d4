package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
