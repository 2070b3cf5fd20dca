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
	"runtime/debug"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"golang.org/x/sync/errgroup"

	"github.com/skerry/skerry/services/api/workloadapi"
	"github.com/skerry/skerry/services/contract"
	"github.com/skerry/skerry/services/internal/daemon"
	"github.com/skerry/skerry/services/serve"
	"github.com/skerry/skerry/services/streamlog/client"
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
	slSock := fs.String("streamlog", contract.StreamlogSocket, "stream log socket the apps' output is shipped to; empty: none")
	slToken := fs.String("streamlog-token", filepath.Join(contract.Home("streamlog"), "system.token"), "file with the stream log's system token")
	regCA := fs.String("registry-ca", "", "file of PEM certificates trusted for registry TLS besides the system's roots (site config workload.registryCAs)")
	var def workloadapi.Resources
	fs.StringVar(&def.CPU, "tenant-cpu", "", "default CPU quota of a tenant (cores or millicores); empty: unbounded")
	fs.StringVar(&def.Memory, "tenant-memory", "", "default memory quota of a tenant (\"512Mi\"); empty: unbounded")
	fs.Int64Var(&def.Pids, "tenant-pids", 4096, "default pids quota of a tenant; 0: unbounded")
	vaultSock := fs.String("vault-socket", contract.VaultSocket, `the vault's socket, for apps' secrets as files ("": none)`)
	vaultToken := fs.String("vault-token", contract.Home("vault")+"/system.token", "the vault's system token file")
	memLimit := fs.Int64("memory-limit", 8<<20, "soft limit of the Go heap in bytes (runtime/debug.SetMemoryLimit); 0 disables it")
	var reserved []workload.ReservedPort
	fs.Func("reserved-port", "a host port of the site's own that no app may publish, PROTOCOL/PORT=OWNER (repeatable; init passes health.listen's)", func(v string) error {
		p, err := workload.ParseReservedPort(v)
		reserved = append(reserved, p)
		return err
	})
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := def.Check(); err != nil {
		fmt.Fprintf(stderr, "skerry workload: default tenant quota (-tenant-*): %v\n", err)
		return 2
	}
	if *memLimit > 0 {
		debug.SetMemoryLimit(*memLimit)
	}
	log := daemon.Logger("workload")
	err := daemon.Run("workload", func(ctx context.Context, g *errgroup.Group) error {
		// init makes the home on a site; elsewhere (a bench, a test) it may
		// not exist yet.
		if err := os.MkdirAll(*home, 0o700); err != nil {
			return fmt.Errorf("create home: %w", err)
		}
		c, err := containerd.New(*ctrd, containerd.WithTimeout(30*time.Second))
		if err != nil {
			return fmt.Errorf("connect to containerd: %w", err)
		}
		// A tenant's quota comes from the desired state, else the default.
		var st *workload.State
		quota := func(tenant string) workloadapi.Resources {
			if q, ok := st.Quota(tenant); ok {
				return q
			}
			return def
		}
		roots, err := workload.RootCAs(*regCA)
		if err != nil {
			c.Close()
			return err
		}
		opts := []workload.Option{workload.WithLogger(log), workload.WithCgroupRoot(*cgroups), workload.WithTenantQuota(quota),
			workload.WithVolumeRoot(filepath.Join(*home, "volumes")), workload.WithLogRoot(filepath.Join(*home, "logs")),
			workload.WithVault(*vaultSock, *vaultToken), workload.WithReservedPorts(reserved...),
			workload.WithRegistry(func(string) workload.Registry { return workload.Registry{RootCAs: roots} })}
		if *slSock != "" {
			// Read once; without it the shipping retries and the log files
			// keep the output meanwhile (bounded, see the README).
			tok, err := os.ReadFile(*slToken)
			if err != nil {
				log.Warn("no stream log token: apps' output stays in their log files", "err", err)
			}
			sc, err := client.New(*slSock, client.WithToken(string(tok)))
			if err != nil {
				c.Close()
				return err
			}
			opts = append(opts, workload.WithStreamlog(sc))
		}
		r := workload.New(c, opts...)
		st, err = workload.OpenState(filepath.Join(*home, "desired.json"), r)
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
