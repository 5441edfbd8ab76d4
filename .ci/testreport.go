//go:build ignore

// testreport reads `go test -json` on stdin and writes what a person
// reads: a line per package (ok, FAIL, no test files), the whole output of
// every failed test and build, and at the end every skipped test with its
// reason (or, with -skips FILE, into FILE, for the caller to show last),
// then the counts ("go: N passed, N failed, N skipped"). Lines that are
// not JSON are passed on. It exits 1 when a test or a build failed. Run
// by .ci/test:
//
//	go test -json ./... 2>&1 | go run .ci/testreport.go
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// event is one line of test2json (and of go test -json's build output).
type event struct {
	Action     string
	Package    string
	ImportPath string
	Test       string
	Elapsed    float64
	Output     string
}

type skip struct{ pkg, test, reason string }

func main() {
	skipsFile := flag.String("skips", "", "write the skipped tests into `FILE` instead of stdout")
	flag.Parse()
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	outputs := map[string][]string{} // package + test: its output lines
	var skips []skip
	passed, failed, skipped := 0, 0, 0
	buildFailed := false
	in := bufio.NewReaderSize(os.Stdin, 1<<20)
	for {
		line, err := in.ReadBytes('\n')
		if len(line) == 0 && err != nil {
			if err != io.EOF {
				fmt.Fprintf(out, "testreport: %v\n", err)
				buildFailed = true
			}
			break
		}
		var e event
		if line[0] != '{' || json.Unmarshal(line, &e) != nil {
			// Not an event: go's own messages (downloads, a vet or
			// build error outside -json).
			out.Write(line)
			continue
		}
		key := e.Package + "\x00" + e.Test
		switch e.Action {
		case "build-output":
			fmt.Fprint(out, e.Output)
		case "build-fail":
			buildFailed = true
		case "output":
			outputs[key] = append(outputs[key], e.Output)
		case "pass":
			if e.Test != "" {
				passed++
			} else {
				fmt.Fprintf(out, "ok  \t%s\t%.3fs\n", e.Package, e.Elapsed)
			}
			delete(outputs, key)
		case "skip":
			if e.Test == "" {
				if !hasTests(outputs[key]) {
					fmt.Fprintf(out, "?   \t%s\t[no test files]\n", e.Package)
				}
				delete(outputs, key)
				break
			}
			skipped++
			skips = append(skips, skip{e.Package, e.Test, reason(outputs[key])})
			delete(outputs, key)
		case "fail":
			if e.Test != "" {
				failed++
				fmt.Fprintf(out, "--- FAIL: %s (%s)\n", e.Test, e.Package)
				for _, l := range outputs[key] {
					if !strings.HasPrefix(l, "=== ") {
						fmt.Fprint(out, l)
					}
				}
			} else {
				// The package's own output: a panic, a TestMain failure, a
				// timeout, or the lines after its failed tests.
				for _, l := range outputs[key] {
					if l != "FAIL\n" && !strings.HasPrefix(l, "=== ") && !strings.HasPrefix(l, "FAIL\t") {
						fmt.Fprint(out, l)
					}
				}
				fmt.Fprintf(out, "FAIL\t%s\t%.3fs\n", e.Package, e.Elapsed)
			}
			delete(outputs, key)
		}
		if e.Test == "" && (e.Action == "pass" || e.Action == "fail" || e.Action == "skip") {
			out.Flush() // a package ended: show it now
		}
	}
	var sw io.Writer = out
	if *skipsFile != "" {
		f, err := os.Create(*skipsFile)
		if err != nil {
			fmt.Fprintf(out, "testreport: %v\n", err)
			out.Flush()
			os.Exit(1)
		}
		defer f.Close()
		sw = f
	}
	if len(skips) > 0 {
		sort.Slice(skips, func(i, j int) bool {
			if skips[i].pkg != skips[j].pkg {
				return skips[i].pkg < skips[j].pkg
			}
			return skips[i].test < skips[j].test
		})
		fmt.Fprintf(sw, "\nskipped tests (%d):\n", len(skips))
		// A package tested in two builds skips twice alike: once a line.
		for i := 0; i < len(skips); {
			j := i + 1
			for j < len(skips) && skips[j] == skips[i] {
				j++
			}
			runs := ""
			if j-i > 1 {
				runs = fmt.Sprintf(" (%d runs)", j-i)
			}
			fmt.Fprintf(sw, "  %s %s%s: %s\n", skips[i].pkg, skips[i].test, runs, skips[i].reason)
			i = j
		}
	}
	fmt.Fprintf(out, "\ngo: %d passed, %d failed, %d skipped\n", passed, failed, skipped)
	if failed > 0 || buildFailed {
		out.Flush()
		os.Exit(1)
	}
}

// reason is what a skipped test logged before skipping: its t.Skip
// message, without the file:line prefix.
func reason(lines []string) string {
	var msgs []string
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "=== ") || strings.HasPrefix(t, "--- SKIP") {
			continue
		}
		if i := strings.Index(t, ".go:"); i >= 0 {
			if j := strings.Index(t[i:], ": "); j >= 0 {
				t = t[i+j+2:]
			}
		}
		msgs = append(msgs, t)
	}
	if len(msgs) == 0 {
		return "(no reason given)"
	}
	return strings.Join(msgs, " / ")
}

// hasTests reports whether a package's output says it ran tests ("no test
// files" otherwise).
func hasTests(lines []string) bool {
	for _, l := range lines {
		if strings.Contains(l, "[no test files]") {
			return false
		}
	}
	return true
}
