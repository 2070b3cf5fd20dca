package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the goroutines of a service.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestMainsHonourContextAndStderr runs health and devproxy with a context
// the test ends: each must log to the stderr it was given and return 0 when
// the context ends, with no signal.
func TestMainsHonourContextAndStderr(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		main mainFunc
		args []string
		want string
	}{
		{"health", healthMain, []string{"-socket", filepath.Join(dir, "health.sock"), "-listen", "127.0.0.1:0", "-tpm", filepath.Join(dir, "tpm")}, "serving the status API"},
		{"devproxy", devproxyMain, []string{"-listen", "127.0.0.1:0", "-target", filepath.Join(dir, "target.sock")}, "forwarding without authentication"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr syncBuffer
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan int, 1)
			go func() { done <- tc.main(ctx, &stderr, &stderr, tc.args) }()
			deadline := time.Now().Add(10 * time.Second)
			for !strings.Contains(stderr.String(), tc.want) {
				if time.Now().After(deadline) {
					t.Fatalf("stderr %q never said %q", stderr.String(), tc.want)
				}
				time.Sleep(10 * time.Millisecond)
			}
			cancel()
			select {
			case code := <-done:
				if code != 0 {
					t.Errorf("exit %d after the context ended, want 0; stderr:\n%s", code, stderr.String())
				}
			case <-time.After(10 * time.Second):
				t.Fatal("still running 10s after its context ended")
			}
		})
	}
}

// TestHealthRefusesNetworkWithoutToken: an address other machines reach
// needs a token; the service says so and does not start.
func TestHealthRefusesNetworkWithoutToken(t *testing.T) {
	dir := t.TempDir()
	var stderr syncBuffer
	code := healthMain(context.Background(), &stderr, &stderr, []string{"-socket", filepath.Join(dir, "h.sock"), "-listen", "0.0.0.0:0", "-tpm", filepath.Join(dir, "tpm")})
	if code != 1 || !strings.Contains(stderr.String(), "-token-file") {
		t.Errorf("exit %d, stderr %q; want 1 and a message naming -token-file", code, stderr.String())
	}
}
