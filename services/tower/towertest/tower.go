// Package towertest runs a real tower in-process and real software TPMs
// (swtpm) for tests and benchmarks: the tower's own, skerryctl's, and the
// tower benchmark's. Nothing in it is faked: the tower serves TLS on a
// loopback port and the agent side speaks to swtpm through go-attestation.
package towertest

import (
	"context"
	"log/slog"
	"net"
	"os"
	"testing"

	"github.com/skerry/skerry/services/api/towerapi"
	"github.com/skerry/skerry/services/tower"
)

// Tower is a running tower.
type Tower struct {
	*tower.Opened
	URL   string // https://127.0.0.1:port
	CAPEM []byte
	Token string // the first operator token
	// Log holds the tower's log lines, for tests that check a refusal was
	// logged.
	Log *LogBuffer
}

// Start starts a tower in a temporary directory, listening on a loopback
// port, and stops it when the test ends.
func Start(t testing.TB, opts ...tower.Option) *Tower {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs := &LogBuffer{}
	var h slog.Handler = slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})
	if os.Getenv("TOWER_TEST_LOG") != "" {
		h = slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})
	}
	opts = append([]tower.Option{tower.WithLogger(slog.New(h)), tower.WithEKRoots(MakerRoots)}, opts...)
	o, err := tower.Open(ctx, t.TempDir(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tower.ReadToken(o.TokenFile)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- o.Serve(ctx, ln, []string{"127.0.0.1", "localhost"}) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("tower: %v", err)
		}
		o.Close()
	})
	return &Tower{Opened: o, URL: "https://" + ln.Addr().String(), CAPEM: o.CA().CertPEM(), Token: tok, Log: logs}
}

// Client returns an operator API client with token (the first operator
// token when empty).
func (tw *Tower) Client(t testing.TB, token string) *towerapi.Client {
	t.Helper()
	if token == "" {
		token = tw.Token
	}
	c, err := towerapi.NewClient(tw.URL, token, tw.CAPEM)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
