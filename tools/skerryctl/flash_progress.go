//go:build linux

package main

import (
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/skerry/skerry/tools/skerryctl/internal/blockdev"
	"golang.org/x/sys/unix"
)

// meter draws a progress line on w: redrawn in place on a terminal, a new
// line every few seconds otherwise, so that CI logs and `2>file` stay short.
// It draws from its own goroutine, so that the line keeps moving (and the
// ETA growing) while a slow device stalls a write.
type meter struct {
	w     io.Writer
	verb  string // "writing", "verifying"
	total int64
	tty   bool
	start time.Time
	done  atomic.Int64
	stop  chan struct{}
	ended chan struct{}
}

func startMeter(w io.Writer, verb string, total int64) *meter {
	m := &meter{w: w, verb: verb, total: total, tty: isTerminal(w), start: time.Now(),
		stop: make(chan struct{}), ended: make(chan struct{})}
	every := 5 * time.Second
	if m.tty {
		every = 250 * time.Millisecond
	}
	go m.loop(every)
	return m
}

// set records how many bytes are done.
func (m *meter) set(done int64) { m.done.Store(done) }

func (m *meter) loop(every time.Duration) {
	defer close(m.ended)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			m.draw()
		}
	}
}

// finish stops the meter and draws its last line, ended.
func (m *meter) finish() time.Duration {
	close(m.stop)
	<-m.ended
	m.draw()
	if m.tty {
		fmt.Fprintln(m.w)
	}
	return time.Since(m.start)
}

func (m *meter) draw() {
	line := progressLine(m.verb, m.done.Load(), m.total, time.Since(m.start))
	if m.tty {
		fmt.Fprintf(m.w, "\r%s\x1b[K", line) // \x1b[K clears what a longer line left
		return
	}
	fmt.Fprintln(m.w, line)
}

// progressLine formats "writing 312.0 MB / 734.0 MB  42%  38.2 MB/s  ETA 0:11".
func progressLine(verb string, done, total int64, elapsed time.Duration) string {
	pct := 100.0
	if total > 0 {
		pct = float64(done) * 100 / float64(total)
	}
	eta := "-:--"
	if done > 0 && elapsed > 0 {
		eta = clock(time.Duration(float64(elapsed) * float64(total-done) / float64(done)))
	}
	return fmt.Sprintf("%-9s %s / %s  %3.0f%%  %s  ETA %s",
		verb, blockdev.FormatSize(done), blockdev.FormatSize(total), pct, rate(done, elapsed), eta)
}

// clock formats d as m:ss, or h:mm:ss from an hour on.
func clock(d time.Duration) string {
	s := int64(d.Round(time.Second) / time.Second)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

// rate formats n bytes moved in d as a speed.
func rate(n int64, d time.Duration) string {
	if n <= 0 || d <= 0 {
		return "-- MB/s"
	}
	return blockdev.FormatSize(int64(float64(n)/d.Seconds())) + "/s"
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
