// Command skerry-workload is the site's workload service: tenants' apps in
// containerd, from the desired state kept in its home on /perm. It is the
// one Skerry service outside the multi-call skerry binary: it links
// containerd's client (gRPC, protobuf, OpenTelemetry), which would double
// skerry's size (10.9 to 20.1 MB) and add 8 MB of RSS and 70 ms of package
// initialisation to every other service's process.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"golang.org/x/sync/errgroup"

	"github.com/skerry/skerry/services/contract"
	"github.com/skerry/skerry/services/internal/daemon"
	"github.com/skerry/skerry/services/serve"
	"github.com/skerry/skerry/services/workload"
)

func main() {
	os.Exit(run(context.Background(), os.Stderr, os.Args[1:]))
}

func run(_ context.Context, stderr io.Writer, args []string) int {
	fs := flag.NewFlagSet("workload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	home := fs.String("home", contract.Home("workload"), "directory of the desired state, volumes and logs")
	sock := fs.String("socket", contract.WorkloadSocket, "unix socket of the API (root only)")
	ctrd := fs.String("containerd", "/run/containerd/containerd.sock", "containerd's socket")
	cgroups := fs.String("cgroup-root", "/tenants", "cgroup under which each tenant gets a subtree")
	vaultSock := fs.String("vault-socket", contract.VaultSocket, `the vault's socket, for apps' secrets as files ("": none)`)
	vaultToken := fs.String("vault-token", contract.Home("vault")+"/system.token", "the vault's system token file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	log := daemon.Logger("workload")
	err := daemon.Run("workload", func(ctx context.Context, g *errgroup.Group) error {
		c, err := containerd.New(*ctrd, containerd.WithTimeout(30*time.Second))
		if err != nil {
			return fmt.Errorf("connect to containerd: %w", err)
		}
		r := workload.New(c, workload.WithLogger(log), workload.WithCgroupRoot(*cgroups),
			workload.WithVolumeRoot(filepath.Join(*home, "volumes")), workload.WithLogRoot(filepath.Join(*home, "logs")),
			workload.WithVault(*vaultSock, *vaultToken))
		st, err := workload.OpenState(filepath.Join(*home, "desired.json"), r)
		if err != nil {
			c.Close()
			return err
		}
		if err := st.Converge(ctx); err != nil {
			log.Error("converge to the desired state", "err", err)
		}
		l, err := serve.Unix(*sock, 0o600)
		if err != nil {
			c.Close()
			return err
		}
		log.Info("serving", "socket", *sock, "apps", len(st.Apps()))
		if err := daemon.Ready(); err != nil {
			log.Warn("notify ready", "err", err)
		}
		g.Go(func() error {
			defer c.Close()
			// Stopping the service leaves the apps running: the next start
			// takes them over.
			defer r.Close()
			return serve.HTTP(ctx, workload.Handler(st), serve.SiteLimits, log, l)
		})
		return nil
	})
	if err != nil {
		fmt.Fprintf(stderr, "skerry workload: %v\n", err)
		return 1
	}
	return 0
}
