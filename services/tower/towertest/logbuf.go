package towertest

import (
	"bytes"
	"strings"
	"sync"
	"time"
)

// LogBuffer collects log output safely from many goroutines.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything logged so far.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Lines returns the logged lines that contain every one of parts.
func (b *LogBuffer) Lines(parts ...string) []string {
	var out []string
	for _, l := range strings.Split(b.String(), "\n") {
		ok := l != ""
		for _, p := range parts {
			ok = ok && strings.Contains(l, p)
		}
		if ok {
			out = append(out, l)
		}
	}
	return out
}

// WaitLines is Lines for entries that are logged after the client already
// has its answer (a TLS 1.3 server checks the client's certificate after the
// client considers the handshake done): it polls until some line matches or
// the timeout passes.
func (b *LogBuffer) WaitLines(timeout time.Duration, parts ...string) []string {
	deadline := time.Now().Add(timeout)
	for {
		if l := b.Lines(parts...); len(l) > 0 || time.Now().After(deadline) {
			return l
		}
		time.Sleep(10 * time.Millisecond)
	}
}
