package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// isTerminal reports whether w is a character device (a terminal), which
// is when the CLI may redraw lines in place.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

var spinnerFrames = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

// progress shows a wait for a job state. On a terminal it is one line
// redrawn in place: a spinner, the job's current state and the time
// spent. Elsewhere (a pipe, a CI log) it writes a plain line whenever the
// state changes, since carriage returns and escape codes would only
// clutter a log.
type progress struct {
	w     io.Writer
	tty   bool
	label string
	start time.Time

	mu    sync.Mutex
	state string
	frame int

	stop chan struct{}
	done chan struct{}
}

func newProgress(w io.Writer, tty bool, label string) *progress {
	p := &progress{w: w, tty: tty, label: label, start: time.Now()}
	if tty {
		p.stop = make(chan struct{})
		p.done = make(chan struct{})
		go p.spin()
	}
	return p
}

func (p *progress) spin() {
	defer close(p.done)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.mu.Lock()
			p.frame++
			p.draw()
			p.mu.Unlock()
		}
	}
}

// draw redraws the spinner line; mu is held.
func (p *progress) draw() {
	state := p.state
	if state == "" {
		state = "…"
	}
	fmt.Fprintf(p.w, "\r\x1b[K%s %s: %s  %.1fs", spinnerFrames[p.frame%len(spinnerFrames)], p.label, state,
		time.Since(p.start).Seconds())
}

// elapsed formats a wait's length: whole milliseconds below a second.
func elapsed(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%dms", d.Round(time.Millisecond).Milliseconds())
	}
	return humanDuration(d)
}

// update records the state last seen.
func (p *progress) update(state string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if state == p.state {
		return
	}
	p.state = state
	if p.tty {
		p.draw()
		return
	}
	fmt.Fprintf(p.w, "%s: %s\n", p.label, state)
}

// finish ends the display with a last line: ok marks success.
func (p *progress) finish(ok bool, msg string) {
	if p.tty {
		close(p.stop)
		<-p.done
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	took := elapsed(time.Since(p.start))
	if !p.tty {
		fmt.Fprintf(p.w, "%s: %s (after %s)\n", p.label, msg, took)
		return
	}
	mark := "✓"
	if !ok {
		mark = "✗"
	}
	fmt.Fprintf(p.w, "\r\x1b[K%s %s: %s (after %s)\n", mark, p.label, msg, took)
}
