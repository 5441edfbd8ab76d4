package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// progress writes reconcile's progress line on stderr: rewritten in place
// on a terminal, a line every interval otherwise, so that a long run shows
// it is alive without flooding a log.
type progress struct {
	w        io.Writer
	tty      bool
	interval time.Duration
	start    time.Time

	mu         sync.Mutex
	phase      string
	count      int
	total      int
	rows       int
	attention  int
	lastLength int

	quit    chan struct{}
	stopped sync.WaitGroup
}

func newProgress(w io.Writer, interval time.Duration) *progress {
	p := &progress{w: w, tty: isTerminal(w), start: time.Now(), quit: make(chan struct{})}
	switch {
	case interval > 0:
		p.interval = interval
	case p.tty:
		p.interval = 250 * time.Millisecond
	default:
		p.interval = 10 * time.Second
	}
	p.stopped.Go(func() {
		t := time.NewTicker(p.interval)
		defer t.Stop()
		for {
			select {
			case <-p.quit:
				return
			case <-t.C:
				p.print(false)
			}
		}
	})
	return p
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// setPhase starts counting total items of a new phase.
func (p *progress) setPhase(phase string, total int) {
	p.mu.Lock()
	p.phase, p.total, p.count = phase, total, 0
	p.mu.Unlock()
}

// done counts one item of the phase.
func (p *progress) done() {
	p.mu.Lock()
	p.count++
	p.mu.Unlock()
}

// row counts one row written.
func (p *progress) row(attention bool) {
	p.mu.Lock()
	p.rows++
	if attention {
		p.attention++
	}
	p.mu.Unlock()
}

// stop ends the progress line.
func (p *progress) stop() {
	close(p.quit)
	p.stopped.Wait()
	if p.tty {
		p.print(true)
	}
}

func (p *progress) print(final bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "hongbao: reconcile: %s", p.phase)
	if p.total > 0 {
		fmt.Fprintf(&b, " %d/%d (%d%%)", p.count, p.total, 100*p.count/p.total)
	}
	fmt.Fprintf(&b, ", %d bill %s, %d to look at", p.rows, plural(p.rows, "number", "numbers"), p.attention)
	elapsed := time.Since(p.start)
	if p.count > 0 && p.total > p.count && !final {
		if left := time.Duration(float64(elapsed) / float64(p.count) * float64(p.total-p.count)); left >= time.Second {
			fmt.Fprintf(&b, ", about %v left", left.Round(time.Second))
		}
	}
	line := b.String()
	if !p.tty {
		fmt.Fprintln(p.w, line)
		return
	}
	pad := max(p.lastLength-len(line), 0)
	p.lastLength = len(line)
	fmt.Fprintf(p.w, "\r%s%s", line, strings.Repeat(" ", pad))
	if final {
		fmt.Fprintln(p.w)
	}
}
