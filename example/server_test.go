package main

import (
	"bufio"
	"bytes"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// floodHeader writes the start of a request whose header line goes on for
// size bytes, and returns the status line answered ("" when none came).
func floodHeader(t *testing.T, addr string, size int) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Error(err)
		return ""
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	go func() {
		// The server stops reading at its cap and closes: the writes
		// then fail, which is the point.
		c.Write([]byte("POST " + claimPath + " HTTP/1.1\r\nHost: x\r\nX-Flood: "))
		chunk := bytes.Repeat([]byte("a"), 16<<10)
		for n := 0; n < size; n += len(chunk) {
			if _, err := c.Write(chunk); err != nil {
				return
			}
		}
		c.Write([]byte("\r\n\r\n"))
	}()
	line, _ := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line)
}

// TestHeaderCap: a header over MaxHeaderBytes is answered 431 before the
// rest is read, so a flood of huge header lines costs the server little;
// a header under the cap is served.
func TestHeaderCap(t *testing.T) {
	base, out := start(t, nil)
	addr := strings.TrimPrefix(base, "http://")
	if got := floodHeader(t, addr, 64<<10); !strings.Contains(got, "431") {
		t.Fatalf("a 64 KiB header line: %q, want 431", got)
	}

	// 50 connections at once, each pushing a 1 MiB header line: the
	// server allocates a few tens of KiB for each (with Go's default cap
	// of 1 MiB it would read and keep each line whole).
	const conns, size = 50, 1 << 20
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var wg sync.WaitGroup
	answers := make([]string, conns)
	for i := range conns {
		wg.Go(func() { answers[i] = floodHeader(t, addr, size) })
	}
	wg.Wait()
	runtime.ReadMemStats(&after)
	for i, a := range answers {
		if !strings.Contains(a, "431") {
			t.Errorf("connection %d: %q, want 431", i, a)
		}
	}
	per := float64(after.TotalAlloc-before.TotalAlloc) / conns
	t.Logf("%.0f KiB allocated per flooding connection (both ends)", per/1024)
	if per > 256<<10 {
		t.Errorf("%.0f KiB allocated per connection pushing a 1 MiB header", per/1024)
	}

	// A claim with a header of 12 KiB in all is served.
	req, _ := http.NewRequest(http.MethodPost, base+claimPath, strings.NewReader(`{"scene":1047}`))
	req.Header.Set("Authorization", "Bearer "+demoTokenOf(t, out.String()))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Padding", strings.Repeat("p", 11<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("a claim with a 12 KiB header: status %d", resp.StatusCode)
	}
}

// TestConnLimit: with HONGBAO_MAX_CONNS=2, two connections that send
// nothing hold both slots; a third waits, unanswered, until one of them
// goes.
func TestConnLimit(t *testing.T) {
	base, out := start(t, map[string]string{envMaxConns: "2"})
	if !strings.Contains(out.String(), "at most 2 connections at once") {
		t.Errorf("the limit is not announced:\n%s", out)
	}
	addr := strings.TrimPrefix(base, "http://")
	var idle []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		idle = append(idle, c)
	}
	// Let the server accept both.
	time.Sleep(100 * time.Millisecond)

	type result struct {
		status int
		err    error
		at     time.Time
	}
	done := make(chan result, 1)
	start := time.Now()
	go func() {
		client := &http.Client{Timeout: 20 * time.Second}
		resp, err := client.Get(base + "/")
		if err != nil {
			done <- result{err: err, at: time.Now()}
			return
		}
		resp.Body.Close()
		done <- result{status: resp.StatusCode, at: time.Now()}
	}()
	select {
	case r := <-done:
		t.Fatalf("a third connection was served while two held the limit: %+v", r)
	case <-time.After(500 * time.Millisecond):
	}
	closed := time.Now()
	idle[0].Close()
	r := <-done
	if r.err != nil || r.status != http.StatusOK {
		t.Fatalf("the waiting request: status %d, %v", r.status, r.err)
	}
	t.Logf("the third connection was served %v after it came, %v after a slot was freed",
		r.at.Sub(start).Round(time.Millisecond), r.at.Sub(closed).Round(time.Millisecond))
	if r.at.Sub(closed) > 5*time.Second {
		t.Errorf("served %v after a slot was freed", r.at.Sub(closed))
	}
}

func TestMaxConnsConfig(t *testing.T) {
	defer func(f func() (int, bool)) { openFiles = f }(openFiles)
	openFiles = func() (int, bool) { return 1 << 16, true }
	cfg, err := loadConfig(getenv(map[string]string{}))
	if err != nil || cfg.maxConns != defaultMaxConns {
		t.Fatalf("default: %+v %v", cfg, err)
	}
	if cfg, err := loadConfig(getenv(map[string]string{envMaxConns: "100"})); err != nil || cfg.maxConns != 100 {
		t.Errorf("100: %v %v", cfg.maxConns, err)
	}
	for _, bad := range []string{"0", "-1", "many", "2000000"} {
		_, err := loadConfig(getenv(map[string]string{envMaxConns: bad}))
		if err == nil || !strings.Contains(err.Error(), envMaxConns) {
			t.Errorf("%s=%q: %v", envMaxConns, bad, err)
		}
	}

	// A process that may open only 1,000 files serves 1,000 - 256 at
	// once by default, and refuses a limit that leaves fewer free.
	openFiles = func() (int, bool) { return 1000, true }
	if cfg, err := loadConfig(getenv(map[string]string{})); err != nil || cfg.maxConns != 1000-filesReserved {
		t.Errorf("under 1,000 files: %v %v", cfg.maxConns, err)
	}
	if cfg, err := loadConfig(getenv(map[string]string{envMaxConns: "700"})); err != nil || cfg.maxConns != 700 {
		t.Errorf("700 under 1,000 files: %v %v", cfg.maxConns, err)
	}
	_, err = loadConfig(getenv(map[string]string{envMaxConns: "900"}))
	if err == nil || !strings.Contains(err.Error(), "ulimit -n") || !strings.Contains(err.Error(), "at most 744") {
		t.Errorf("900 under 1,000 files: %v", err)
	}
	openFiles = func() (int, bool) { return 100, true }
	if cfg, err := loadConfig(getenv(map[string]string{})); err != nil || cfg.maxConns != 16 {
		t.Errorf("under 100 files: %v %v", cfg.maxConns, err)
	}
}
