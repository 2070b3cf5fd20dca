package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"

	"golang.org/x/sync/errgroup"

	"github.com/skerry/skerry/services/contract"
	"github.com/skerry/skerry/services/internal/daemon"
	"github.com/skerry/skerry/services/serve"
	"github.com/skerry/skerry/services/streamlog"
	"github.com/skerry/skerry/services/streamlog/api"
)

// streamlogMain runs the stream log service: the store in -dir and its API
// on a unix socket, and on loopback TCP when -listen is set, until ctx ends
// or a termination signal arrives. It logs to stderr.
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
	logger := daemon.LoggerTo(stderr, "streamlog")
	err := daemon.RunContext(ctx, logger, "streamlog", func(ctx context.Context, g *errgroup.Group) error {
		return runStreamlog(ctx, g, logger, streamlogConfig{dir: *dir, socket: *sock, listen: *listen, segmentBytes: *segBytes})
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
func runStreamlog(ctx context.Context, g *errgroup.Group, logger *slog.Logger, c streamlogConfig) error {
	if c.listen != "" {
		// The API is local, the uplink is what crosses the network.
		if err := serve.CheckLoopback(c.listen); err != nil {
			return fmt.Errorf("-listen: %w", err)
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
	l, err := serve.Unix(c.socket, 0o660)
	if err != nil {
		store.Close()
		return err
	}
	ls := []net.Listener{l}
	if c.listen != "" {
		tl, err := serve.TCP(c.listen, serve.Loopback)
		if err != nil {
			l.Close()
			store.Close()
			return err
		}
		ls = append(ls, tl)
	}
	logger.Info("serving", "dir", c.dir, "socket", c.socket, "tcp", c.listen, "system_token", auth.SystemTokenPath())
	if err := daemon.Ready(); err != nil {
		logger.Warn("notify ready", "err", err)
	}
	g.Go(func() error {
		err := srv.Serve(ctx, ls...)
		if cerr := store.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close store: %w", cerr)
		}
		return err
	})
	return nil
}
