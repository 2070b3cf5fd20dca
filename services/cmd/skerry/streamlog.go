package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"

	"golang.org/x/sync/errgroup"

	"github.com/skerry/skerry/services/contract"
	"github.com/skerry/skerry/services/internal/daemon"
	"github.com/skerry/skerry/services/streamlog"
	"github.com/skerry/skerry/services/streamlog/api"
)

// streamlogMain runs the stream log service: the store in -dir and its API
// on a unix socket, and on loopback TCP when -listen is set.
func streamlogMain(ctx context.Context, stdout, stderr io.Writer, args []string) int {
	fs := flag.NewFlagSet("streamlog", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", contract.Home("streamlog"), "data directory (segments, meta.db, tokens)")
	sock := fs.String("socket", contract.StreamlogSocket, "unix socket of the API")
	listen := fs.String("listen", "", "also serve on this loopback TCP address, e.g. 127.0.0.1:7070")
	segBytes := fs.Int64("segment-bytes", 32<<20, "size at which a segment file is sealed")
	memLimit := fs.Int64("memory-limit", 40<<20, "soft limit of the Go heap in bytes (runtime/debug.SetMemoryLimit); 0 disables it")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *memLimit > 0 {
		// Edge boxes are small and init's cgroup caps the service: collect
		// harder near the limit instead of growing the heap under bursts.
		debug.SetMemoryLimit(*memLimit)
	}
	err := daemon.Run("streamlog", func(ctx context.Context, g *errgroup.Group) error {
		return runStreamlog(ctx, g, streamlogConfig{dir: *dir, socket: *sock, listen: *listen, segmentBytes: *segBytes})
	})
	if err != nil {
		fmt.Fprintf(stderr, "skerry streamlog: %v\n", err)
		if errors.Is(err, streamlog.ErrDataDirInUse) {
			return contract.ExitDoNotRestart // another instance holds the data: restarting will not help
		}
		return 1
	}
	return 0
}

type streamlogConfig struct {
	dir, socket, listen string
	segmentBytes        int64
}

// runStreamlog opens the store and starts serving; the goroutine it adds
// to g closes the store once the listeners have shut down.
func runStreamlog(ctx context.Context, g *errgroup.Group, c streamlogConfig) error {
	logger := daemon.Logger("streamlog")
	if c.listen != "" {
		if err := checkLoopback(c.listen); err != nil {
			return err
		}
	}
	store, err := streamlog.Open(c.dir, streamlog.WithLogger(logger), streamlog.WithSegmentBytes(c.segmentBytes))
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	auth, err := api.LoadAuth(c.dir)
	if err != nil {
		store.Close()
		return fmt.Errorf("load tokens: %w", err)
	}
	srv := api.New(store, auth, logger)
	var ls []net.Listener
	if err := os.MkdirAll(filepath.Dir(c.socket), 0o755); err != nil {
		store.Close()
		return fmt.Errorf("create socket dir: %w", err)
	}
	os.Remove(c.socket) // a stale socket from a killed run
	l, err := net.Listen("unix", c.socket)
	if err != nil {
		store.Close()
		return fmt.Errorf("listen: %w", err)
	}
	os.Chmod(c.socket, 0o660)
	ls = append(ls, l)
	if c.listen != "" {
		tl, err := net.Listen("tcp", c.listen)
		if err != nil {
			l.Close()
			store.Close()
			return fmt.Errorf("listen: %w", err)
		}
		ls = append(ls, tl)
	}
	var serve errgroup.Group
	for _, l := range ls {
		serve.Go(func() error { return srv.Serve(ctx, l) })
	}
	logger.Info("serving", "dir", c.dir, "socket", c.socket, "tcp", c.listen, "system_token", auth.SystemTokenPath())
	if err := daemon.Ready(); err != nil {
		logger.Warn("notify ready", "err", err)
	}
	g.Go(func() error {
		err := serve.Wait()
		if cerr := store.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close store: %w", cerr)
		}
		return err
	})
	return nil
}

// checkLoopback refuses TCP addresses other than loopback: the API is
// local, the uplink is what crosses the network.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("parse -listen %q: %w", addr, err)
	}
	ip := net.ParseIP(host)
	if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("-listen %q: only loopback addresses (127.0.0.1, ::1, localhost) are allowed", addr)
	}
	return nil
}
