package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// logFile is a file in a test's temp dir to pass a main as its stderr.
func logFile(t *testing.T) *os.File {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func contents(f *os.File) string {
	b, _ := os.ReadFile(f.Name())
	return string(b)
}

// TestStreamlogMainRefusesNonLoopback: -listen on every interface is
// refused, and the reason goes to the stderr the main was given.
func TestStreamlogMainRefusesNonLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:7070", ":7070", "10.0.0.1:7070", "127.0.0.1"} {
		dir := t.TempDir()
		stderr := logFile(t)
		code := streamlogMain(context.Background(), &bytes.Buffer{}, stderr,
			[]string{"-dir", filepath.Join(dir, "data"), "-socket", filepath.Join(dir, "s.sock"), "-listen", addr, "-memory-limit", "0"})
		if code != 1 || !strings.Contains(contents(stderr), "-listen") {
			t.Errorf("-listen %s: exit %d, stderr %q; want 1 and the reason", addr, code, contents(stderr))
		}
	}
}

// TestStreamlogMainHonoursContext: the service stops cleanly when the
// context it was given ends, and logs to the stderr it was given.
func TestStreamlogMainHonoursContext(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "s.sock")
	ctx, cancel := context.WithCancel(context.Background())
	stderr := logFile(t)
	done := make(chan int, 1)
	go func() {
		done <- streamlogMain(ctx, &bytes.Buffer{}, stderr,
			[]string{"-dir", filepath.Join(dir, "data"), "-socket", sock, "-listen", "127.0.0.1:0", "-memory-limit", "0"})
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no socket after 10 s; stderr: %s", contents(stderr))
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d after the context ended, want 0; stderr: %s", code, contents(stderr))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the service did not stop when its context ended")
	}
	if !strings.Contains(contents(stderr), "serving") {
		t.Errorf("stderr %q: want the service's log", contents(stderr))
	}
	// The listener's goroutine unlinks the socket as it ends.
	for end := time.Now().Add(2 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(sock); err != nil {
			break
		}
		if time.Now().After(end) {
			t.Errorf("socket %s left behind after shutdown", sock)
			break
		}
	}
}
