package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/skerry/skerry/services/contract"
	"github.com/skerry/skerry/services/health"
	"github.com/skerry/skerry/services/internal/daemon"
	"github.com/skerry/skerry/services/serve"
	"github.com/skerry/skerry/services/siteconfig"
)

// healthMain runs the site's status API: on its unix socket, on loopback
// TCP, and on the network only behind a token (-token-file).
func healthMain(ctx context.Context, _, stderr io.Writer, args []string) int {
	fs := flag.NewFlagSet("health", flag.ContinueOnError)
	fs.SetOutput(stderr)
	socket := fs.String("socket", contract.HealthSocket, "unix socket of the status API")
	listen := fs.String("listen", siteconfig.DefaultHealthListen, `TCP address of the status API ("" for none); an address other machines reach needs -token-file`)
	tokenFile := fs.String("token-file", "", "file holding the bearer token asked of requests from the network")
	tpm := fs.String("tpm", "/dev/tpmrm0", `TPM device, or "unix:PATH" for a simulator's socket`)
	debugControl := fs.Bool("debug-control", false, "allow POST /v1/debug/{poweroff,reboot} (test benches only)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	log := daemon.LoggerTo(stderr, "health")
	srv := health.New(health.WithTPM(*tpm), health.WithDebugControl(*debugControl), health.WithLogger(log))
	err := daemon.RunContext(ctx, log, "health", func(ctx context.Context, g *errgroup.Group) error {
		var token string
		if *tokenFile != "" {
			data, err := os.ReadFile(*tokenFile)
			if err != nil {
				return fmt.Errorf("read the status API's token: %w", err)
			}
			token = strings.TrimSpace(string(data))
		}
		if (siteconfig.Health{Listen: *listen}).Network() && len(token) < health.MinTokenLen {
			return fmt.Errorf("-listen %s opens the status API to the network: give -token-file with a token of at least %d characters, or listen on %s", *listen, health.MinTokenLen, siteconfig.DefaultHealthListen)
		}
		local, network, err := healthListeners(*socket, *listen)
		if err != nil {
			return err
		}
		for _, l := range local {
			log.Info("serving the status API", "addr", l.Addr().String())
		}
		for _, l := range network {
			log.Info("serving the status API to the network, with a token", "addr", l.Addr().String())
		}
		g.Go(func() error { return srv.Serve(ctx, local, network, token) })
		return daemon.Ready()
	})
	if err != nil {
		fmt.Fprintf(stderr, "skerry health: %v\n", err)
		return 1
	}
	return 0
}

// healthListeners opens the unix socket (0600: root only)
// and the TCP address, loopback or network.
func healthListeners(socket, listen string) (local, network []net.Listener, err error) {
	ul, err := serve.Unix(socket, 0o600)
	if err != nil {
		return nil, nil, err
	}
	local = append(local, ul)
	if listen == "" {
		return local, nil, nil
	}
	scope := serve.Loopback
	if (siteconfig.Health{Listen: listen}).Network() {
		scope = serve.Network
	}
	tl, err := serve.TCP(listen, scope)
	if err != nil {
		ul.Close()
		return nil, nil, err
	}
	if scope == serve.Network {
		return local, []net.Listener{tl}, nil
	}
	return append(local, tl), nil, nil
}
