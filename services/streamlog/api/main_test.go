package api

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"testing"

	"github.com/skerry/skerry/services/streamlog"
)

// TestMain doubles as the service process of the crash test: with
// STREAMLOG_TEST_SERVE=dir,socket set, the test binary serves that store
// until it is killed.
func TestMain(m *testing.M) {
	if v := os.Getenv("STREAMLOG_TEST_SERVE"); v != "" {
		if err := serveForever(v); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	os.Exit(m.Run())
}

func serveForever(v string) error {
	var dir, sock string
	if _, err := fmt.Sscanf(v, "%s %s", &dir, &sock); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := streamlog.Open(dir, streamlog.WithLogger(log), streamlog.WithSegmentBytes(4<<20))
	if err != nil {
		return err
	}
	auth, err := LoadAuth(dir)
	if err != nil {
		return err
	}
	os.Remove(sock)
	l, err := net.Listen("unix", sock)
	if err != nil {
		return err
	}
	fmt.Println("READY")
	return New(st, auth, log).Serve(context.Background(), l)
}
