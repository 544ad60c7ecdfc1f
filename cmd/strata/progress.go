package main

import (
	"fmt"
	"io"
	"os"
	"time"
)

// progress reports long client work on stderr. On a terminal a status line is rewritten in place
// (at most every 200ms) and replaced by the summary at the end; anywhere else only the summary
// line is written, so scripts and logs stay quiet. A progress is used by one goroutine at a time.
type progress struct {
	w     io.Writer
	tty   bool
	every time.Duration
	last  time.Time
	shown bool
}

func newProgress(w io.Writer) *progress {
	return &progress{w: w, tty: isTerminal(w), every: 200 * time.Millisecond}
}

// isTerminal reports whether w is a character device (a terminal, or /dev/null, where the status
// lines are harmless).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// update shows a status line on a terminal; elsewhere it does nothing.
func (p *progress) update(format string, a ...any) {
	if !p.tty {
		return
	}
	if now := time.Now(); now.Sub(p.last) >= p.every {
		p.last = now
		fmt.Fprintf(p.w, "\r\x1b[K"+format, a...)
		p.shown = true
	}
}

// ticking shows status() with the time elapsed, from its own goroutine, until the returned stop
// is called; stop waits for that goroutine, so the progress is the caller's again after it.
func (p *progress) ticking(status func() string) (stop func()) {
	if !p.tty {
		return func() {}
	}
	start := time.Now()
	quit, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(p.every)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				p.update("%s (%s)", status(), seconds(time.Since(start)))
			}
		}
	}()
	return func() {
		close(quit)
		<-exited
	}
}

// done writes the summary line, in place of the status line on a terminal.
func (p *progress) done(format string, a ...any) {
	if p.shown {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.shown = false
	}
	fmt.Fprintf(p.w, format+"\n", a...)
}

// seconds formats an elapsed time for a summary line.
func seconds(d time.Duration) string {
	return fmt.Sprintf("%.1fs", d.Seconds())
}
