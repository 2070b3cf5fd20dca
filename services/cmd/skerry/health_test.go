package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// stderrFile is a file to give a main as its stderr: os.File takes
// writes from the service's goroutines, and the test reads it back.
type stderrFile struct{ *os.File }

func newStderr(t *testing.T) stderrFile {
	f, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return stderrFile{f}
}

func (f stderrFile) String() string {
	data, _ := os.ReadFile(f.Name())
	return string(data)
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
			stderr := newStderr(t)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan int, 1)
			go func() { done <- tc.main(ctx, stderr, stderr, tc.args) }()
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
	stderr := newStderr(t)
	code := healthMain(context.Background(), stderr, stderr, []string{"-socket", filepath.Join(dir, "h.sock"), "-listen", "0.0.0.0:0", "-tpm", filepath.Join(dir, "tpm")})
	if code != 1 || !strings.Contains(stderr.String(), "-token-file") {
		t.Errorf("exit %d, stderr %q; want 1 and a message naming -token-file", code, stderr.String())
	}
}
