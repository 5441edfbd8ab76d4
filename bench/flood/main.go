// Command flood measures how the example server (../../example) holds up
// against hostile connections: it starts the example binary in demo mode,
// opens many connections at once, and reports the server's resident memory
// (from /proc, so Linux only) and whether a real claim still gets through.
//
//	go build -o /tmp/example ../../example && go run . -bin /tmp/example -conns 300 -header 1MiB
//
// Modes:
//
//   - header: each connection starts a request and pushes a header line of
//     -header bytes, then holds the connection open for -hold (a server
//     that reads the whole line keeps it in memory meanwhile);
//   - idle: each connection is opened and sends nothing for -hold.
//
// During the flood a claim is made with the demo token, and its status and
// latency are reported. After the connections close, the memory is read
// again -after later (the Go runtime returns memory to the system slowly).
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	bin := flag.String("bin", "", "the example binary (go build -o ... ./example), with a wrapper and its arguments before it if need be (\"prlimit --nofile=2048 /tmp/example\")")
	mode := flag.String("mode", "header", "header or idle")
	conns := flag.Int("conns", 300, "connections opened at once")
	header := flag.String("header", "1MiB", "header line pushed by each connection (header mode): a number of bytes, KiB or MiB")
	hold := flag.Duration("hold", 5*time.Second, "how long the connections are held")
	after := flag.Duration("after", 20*time.Second, "when memory is read again after the connections closed")
	claimAt := flag.Duration("claim-at", 0, "when the claim is made after the flood starts; default -hold/2")
	var env multiFlag
	flag.Var(&env, "env", "KEY=VALUE for the example's environment (repeatable)")
	flag.Parse()
	size, err := parseSize(*header)
	if *bin == "" || err != nil || (*mode != "header" && *mode != "idle") {
		flag.Usage()
		os.Exit(2)
	}
	if *claimAt == 0 {
		*claimAt = *hold / 2
	}
	if err := run(*bin, *mode, *conns, size, *hold, *claimAt, *after, env); err != nil {
		fmt.Fprintln(os.Stderr, "flood:", err)
		os.Exit(1)
	}
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func parseSize(s string) (int, error) {
	mult := 1
	switch {
	case strings.HasSuffix(s, "MiB"):
		mult, s = 1<<20, strings.TrimSuffix(s, "MiB")
	case strings.HasSuffix(s, "KiB"):
		mult, s = 1<<10, strings.TrimSuffix(s, "KiB")
	}
	n, err := strconv.Atoi(s)
	return n * mult, err
}

var (
	listening = regexp.MustCompile(`listening on http://(\S+)`)
	tokenLine = regexp.MustCompile(`^demo token \(HS256`)
)

func run(bin, mode string, conns, size int, hold, claimAt, after time.Duration, env []string) error {
	args := strings.Fields(bin)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "HONGBAO_ADDR=127.0.0.1:0")
	cmd.Env = append(cmd.Env, env...)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	}()
	addr, token, err := readStartup(stdout)
	if err != nil {
		return err
	}
	// The server logs each failed accept: count those for want of files.
	var noFiles atomic.Int64
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "too many open files") {
				noFiles.Add(1)
			}
		}
	}()
	pid := cmd.Process.Pid

	// A first claim, so the measured memory includes a warm server.
	if st, d, err := claim(addr, token); err != nil || st != http.StatusOK {
		return fmt.Errorf("the first claim: status %d after %v: %v", st, d, err)
	}
	time.Sleep(time.Second)
	fmt.Printf("example %s, mode %s, %d connections", bin, mode, conns)
	if mode == "header" {
		fmt.Printf(", %d-byte header line each", size)
	}
	fmt.Printf(", held %v\n", hold)
	fmt.Printf("RSS before:             %s\n", mib(rss(pid, "VmRSS")))

	var opened, refused, answered atomic.Int64
	statuses := sync.Map{}
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(context.Background(), hold)
	defer cancel()
	for range conns {
		wg.Go(func() {
			c, err := net.DialTimeout("tcp", addr, 10*time.Second)
			if err != nil {
				refused.Add(1)
				return
			}
			defer c.Close()
			opened.Add(1)
			if mode == "header" {
				go func() {
					line, err := bufio.NewReader(c).ReadString('\n')
					if err == nil {
						answered.Add(1)
						v, _ := statuses.LoadOrStore(strings.TrimSpace(line), new(atomic.Int64))
						v.(*atomic.Int64).Add(1)
					}
				}()
				push(c, size)
			}
			<-ctx.Done()
		})
	}
	// A real claim while the connections are held.
	time.Sleep(claimAt)
	st, d, cerr := claim(addr, token)
	peakDuring := rss(pid, "VmRSS")
	wg.Wait()
	fmt.Printf("RSS during the flood:   %s (peak since start %s)\n", mib(peakDuring), mib(rss(pid, "VmHWM")))
	fmt.Printf("connections opened: %d, not opened: %d; accept errors for want of files: %d\n", opened.Load(), refused.Load(), noFiles.Load())
	if mode == "header" {
		fmt.Printf("answers to the header lines: %d\n", answered.Load())
		statuses.Range(func(k, v any) bool {
			fmt.Printf("  %-45q %d\n", k, v.(*atomic.Int64).Load())
			return true
		})
	}
	if cerr != nil {
		fmt.Printf("a claim during the flood: failed after %v: %v\n", d.Round(time.Millisecond), cerr)
	} else {
		fmt.Printf("a claim during the flood: status %d after %v\n", st, d.Round(time.Millisecond))
	}
	time.Sleep(after)
	fmt.Printf("RSS %v after:        %s\n", after, mib(rss(pid, "VmRSS")))
	return nil
}

// readStartup reads the example's start-up lines up to its demo token.
func readStartup(r io.Reader) (addr, token string, err error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if m := listening.FindStringSubmatch(line); m != nil {
			addr = m[1]
		}
		if tokenLine.MatchString(line) && sc.Scan() {
			token = sc.Text()
		}
		if addr != "" && token != "" {
			return addr, token, nil
		}
	}
	return "", "", errors.New("the example did not print its address and demo token (is it in demo mode?)")
}

// push starts a request and writes a header line of size bytes; it stops
// at the first write error (the server refusing the line closes).
func push(c net.Conn, size int) {
	c.SetWriteDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.Write([]byte("POST /hongbao/send HTTP/1.1\r\nHost: x\r\nX-Flood: ")); err != nil {
		return
	}
	chunk := bytes.Repeat([]byte("a"), 32<<10)
	for n := 0; n < size; n += len(chunk) {
		if _, err := c.Write(chunk[:min(len(chunk), size-n)]); err != nil {
			return
		}
	}
}

func claim(addr, token string) (int, time.Duration, error) {
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/hongbao/send", strings.NewReader(`{}`))
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	start := time.Now()
	resp, err := client.Do(req)
	d := time.Since(start)
	if err != nil {
		return 0, d, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, d, nil
}

// rss reads a memory figure of pid's /proc status, in bytes.
func rss(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return -1
}

func mib(b int64) string {
	if b < 0 {
		return "unknown"
	}
	return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
}
