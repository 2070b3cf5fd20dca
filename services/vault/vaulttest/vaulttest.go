// Package vaulttest starts a real vault for other packages' tests: a
// swtpm of its own, the vault's API on a unix socket, its system token in
// a file.
package vaulttest

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/skerry/skerry/qemu/swtpm"
	"github.com/skerry/skerry/services/serve"
	"github.com/skerry/skerry/services/vault"
)

// Start opens a vault in a temporary directory (secret files under
// filesRoot; "" for the vault's default) and serves it until the test
// ends. It returns the vault, its socket and its system token file.
func Start(t testing.TB, filesRoot string) (v *vault.Vault, sock, tokenFile string) {
	t.Helper()
	p := swtpm.New(t, swtpm.Options{})
	dir := t.TempDir()
	v, err := vault.Open(vault.Options{Dir: dir, TPM: p.Path(), FilesRoot: filesRoot})
	if err != nil {
		t.Fatal(err)
	}
	sock = filepath.Join(t.TempDir(), "vault.sock")
	l, err := serve.Unix(sock, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { serve.HTTP(ctx, v.Handler(), serve.SiteLimits, slog.New(slog.DiscardHandler), l); close(done) }()
	t.Cleanup(func() { cancel(); <-done; v.Close() })
	return v, sock, filepath.Join(dir, vault.SystemTokenFile)
}
