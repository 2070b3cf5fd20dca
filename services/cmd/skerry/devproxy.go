package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"

	"golang.org/x/sync/errgroup"

	"github.com/skerry/skerry/services/internal/daemon"
)

// devproxyMain forwards a TCP port to a unix socket, byte for byte. Test
// benches use it to reach containerd's API from the host through QEMU's
// port forwarding (containerd 2 serves its API on TCP only for CRI). init
// starts it only when the site config's debug section asks: it is
// unauthenticated.
func devproxyMain(ctx context.Context, _, stderr io.Writer, args []string) int {
	fs := flag.NewFlagSet("devproxy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "", "TCP address to accept connections on")
	target := fs.String("target", "", "unix socket to forward them to")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *listen == "" || *target == "" {
		fmt.Fprintln(stderr, "skerry devproxy: -listen and -target are required")
		return 2
	}
	log := daemon.LoggerTo(stderr, "devproxy")
	err := daemon.RunContext(ctx, log, "devproxy", func(ctx context.Context, g *errgroup.Group) error {
		l, err := net.Listen("tcp", *listen)
		if err != nil {
			return fmt.Errorf("listen on %s: %w", *listen, err)
		}
		go func() { <-ctx.Done(); l.Close() }()
		log.Warn("forwarding without authentication: debug use only", "listen", l.Addr().String(), "target", *target)
		if err := daemon.Ready(); err != nil {
			return err
		}
		for {
			c, err := l.Accept()
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			go forward(log, c, *target)
		}
	})
	if err != nil {
		fmt.Fprintf(stderr, "skerry devproxy: %v\n", err)
		return 1
	}
	return 0
}

func forward(log *slog.Logger, c net.Conn, target string) {
	defer c.Close()
	u, err := net.Dial("unix", target)
	if err != nil {
		log.Warn("cannot reach the target", "target", target, "err", err)
		return
	}
	defer u.Close()
	done := make(chan struct{}, 2)
	go func() { io.Copy(u, c); u.(*net.UnixConn).CloseWrite(); done <- struct{}{} }()
	go func() { io.Copy(c, u); c.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
	<-done
	<-done
}
