// Package console writes init's lines to the console: short, timestamped
// with the time since the kernel started, so a person watching a boot can
// follow it and a test can measure it.
package console

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Logger writes "[   1.234] init: message" lines.
type Logger struct {
	mu sync.Mutex
	w  io.Writer
}

// New returns a Logger that writes to w.
func New(w io.Writer) *Logger { return &Logger{w: w} }

// Printf writes one line.
func (l *Logger) Printf(format string, args ...any) {
	line := fmt.Sprintf("[%9.3f] init: %s\n", Uptime().Seconds(), fmt.Sprintf(format, args...))
	l.mu.Lock()
	defer l.mu.Unlock()
	io.WriteString(l.w, line)
}

// Write lets the Logger back an slog handler or another writer.
func (l *Logger) Write(p []byte) (int, error) {
	l.Printf("%s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// Uptime is the time since the kernel started (/proc/uptime), or 0 when
// /proc is not mounted yet.
func Uptime() time.Duration {
	data, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data))
	if len(f) == 0 {
		return 0
	}
	s, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return 0
	}
	return time.Duration(s * float64(time.Second))
}
