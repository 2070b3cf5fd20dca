package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/skerry/skerry/services/contract"
	"github.com/skerry/skerry/services/internal/daemon"
	"github.com/skerry/skerry/services/internal/tpm"
	"github.com/skerry/skerry/services/serve"
	"github.com/skerry/skerry/services/streamlog/client"
	"github.com/skerry/skerry/services/vault"
	"github.com/skerry/skerry/services/vault/seal"
)

// vaultMain runs the vault: tenants' secrets and keys in -dir, the master
// key sealed to the TPM, the API on a unix socket, audit records into the
// stream log.
func vaultMain(_ context.Context, _, stderr io.Writer, args []string) int {
	fs := flag.NewFlagSet("vault", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", contract.Home("vault"), "data directory (vault.db, sealed master key, system token)")
	sock := fs.String("socket", contract.VaultSocket, "unix socket of the API")
	tpmPath := fs.String("tpm", tpm.DefaultPath, `TPM device, or "unix:PATH" for a simulator's command socket`)
	pcrs := fs.String("pcrs", joinInts(seal.DefaultPCRs), "SHA-256 PCRs a new master key is sealed to, comma-separated")
	slog := fs.String("streamlog", contract.StreamlogSocket, "stream log socket for audit records")
	slogToken := fs.String("streamlog-token", filepath.Join(contract.Home("streamlog"), "system.token"), "file with the stream log's system token")
	memLimit := fs.Int64("memory-limit", 12<<20, "soft limit of the Go heap in bytes; 0 disables it")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	sel, err := parseInts(*pcrs)
	if err != nil {
		fmt.Fprintf(stderr, "skerry vault: -pcrs %q: %v\n", *pcrs, err)
		return 2
	}
	if *memLimit > 0 {
		debug.SetMemoryLimit(*memLimit)
	}
	err = daemon.Run("vault", func(ctx context.Context, g *errgroup.Group) error {
		log := daemon.Logger("vault")
		audit := vault.NewAuditor(log)
		v, err := vault.Open(vault.Options{Dir: *dir, TPM: *tpmPath, PCRs: sel, Log: log, Audit: audit})
		if err != nil {
			return err
		}
		// The stream log's token is read once; without it audit records
		// queue, then drop (counted in the status), and the vault serves.
		tok, err := os.ReadFile(*slogToken)
		if err != nil {
			log.Warn("no stream log token: audit records will not be shipped", "err", err)
		}
		sc, err := client.New(*slog, client.WithToken(string(tok)))
		if err != nil {
			v.Close()
			return err
		}
		g.Go(func() error { audit.Run(ctx, sc); return nil })
		g.Go(func() error { v.KeepUnsealing(ctx, 5*time.Second); return nil })
		l, err := serve.Unix(*sock, 0o666) // tenants' apps connect; tokens authenticate
		if err != nil {
			v.Close()
			return err
		}
		if err := daemon.Ready(); err != nil {
			log.Warn("notify ready", "err", err)
		}
		log.Info("serving", "socket", *sock, "state", v.Status().State, "system_token", v.Auth.SystemTokenPath())
		g.Go(func() error {
			defer v.Close()
			return serve.HTTP(ctx, v.Handler(), serve.SiteLimits, log, l)
		})
		return nil
	})
	if err != nil {
		fmt.Fprintf(stderr, "skerry vault: %v\n", err)
		return 1
	}
	return 0
}

func joinInts(l []int) string {
	s := make([]string, len(l))
	for i, n := range l {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}

func parseInts(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 || n > 23 || (len(out) > 0 && n <= out[len(out)-1]) {
			return nil, fmt.Errorf("want ascending PCR indices 0-23, comma-separated")
		}
		out = append(out, n)
	}
	return out, nil
}
