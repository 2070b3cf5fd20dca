package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"

	"golang.org/x/sync/errgroup"

	"github.com/skerry/skerry/services/contract"
	"github.com/skerry/skerry/services/health"
	"github.com/skerry/skerry/services/internal/daemon"
)

// healthMain runs the site's status API.
func healthMain(_ context.Context, _, stderr io.Writer, args []string) int {
	fs := flag.NewFlagSet("health", flag.ContinueOnError)
	fs.SetOutput(stderr)
	socket := fs.String("socket", contract.HealthSocket, "unix socket of the status API")
	listen := fs.String("listen", ":8080", `TCP address of the status API ("" for none)`)
	tpm := fs.String("tpm", "/dev/tpmrm0", `TPM device, or "unix:PATH" for a simulator's socket`)
	debugControl := fs.Bool("debug-control", false, "allow POST /v1/debug/{poweroff,reboot} (test benches only)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	log := daemon.Logger("health")
	srv := health.New(health.WithTPM(*tpm), health.WithDebugControl(*debugControl), health.WithLogger(log))
	err := daemon.Run("health", func(ctx context.Context, g *errgroup.Group) error {
		var ls []net.Listener
		if err := os.MkdirAll(filepath.Dir(*socket), 0o755); err != nil {
			return err
		}
		os.Remove(*socket)
		ul, err := net.Listen("unix", *socket)
		if err != nil {
			return fmt.Errorf("listen on %s: %w", *socket, err)
		}
		ls = append(ls, ul)
		if *listen != "" {
			tl, err := net.Listen("tcp", *listen)
			if err != nil {
				return fmt.Errorf("listen on %s: %w", *listen, err)
			}
			ls = append(ls, tl)
		}
		for _, l := range ls {
			g.Go(func() error { return srv.Serve(ctx, l) })
			log.Info("serving the status API", "addr", l.Addr().String())
		}
		if err := daemon.Ready(); err != nil {
			return err
		}
		<-ctx.Done()
		return nil
	})
	if err != nil {
		fmt.Fprintf(stderr, "skerry health: %v\n", err)
		return 1
	}
	return 0
}
