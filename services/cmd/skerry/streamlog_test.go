package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the service's goroutines.
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

// TestStreamlogMainRefusesNonLoopback: -listen on every interface is
// refused, and the reason goes to the stderr the main was given.
func TestStreamlogMainRefusesNonLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:7070", ":7070", "10.0.0.1:7070", "127.0.0.1"} {
		dir := t.TempDir()
		var stderr syncBuffer
		code := streamlogMain(context.Background(), &bytes.Buffer{}, &stderr,
			[]string{"-dir", filepath.Join(dir, "data"), "-socket", filepath.Join(dir, "s.sock"), "-listen", addr, "-memory-limit", "0"})
		if code != 1 || !strings.Contains(stderr.String(), "-listen") {
			t.Errorf("-listen %s: exit %d, stderr %q; want 1 and the reason", addr, code, stderr.String())
		}
	}
}

// TestStreamlogMainHonoursContext: the service stops cleanly when the
// context it was given ends, and logs to the stderr it was given.
func TestStreamlogMainHonoursContext(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "s.sock")
	ctx, cancel := context.WithCancel(context.Background())
	var stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- streamlogMain(ctx, &bytes.Buffer{}, &stderr,
			[]string{"-dir", filepath.Join(dir, "data"), "-socket", sock, "-listen", "127.0.0.1:0", "-memory-limit", "0"})
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no socket after 10 s; stderr: %s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d after the context ended, want 0; stderr: %s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the service did not stop when its context ended")
	}
	if !strings.Contains(stderr.String(), "serving") {
		t.Errorf("stderr %q: want the service's log", stderr.String())
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
