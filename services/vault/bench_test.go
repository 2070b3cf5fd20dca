package vault

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/skerry/skerry/qemu/swtpm"
	"github.com/skerry/skerry/services/api/vaultapi"
	"github.com/skerry/skerry/services/serve"
	"github.com/skerry/skerry/services/vault/client"
)

// memVault is a vault whose master key is given, not sealed: for
// benchmarks of the API, which do not touch the TPM.
func memVault(tb testing.TB) (*Vault, *client.Client, string) {
	tb.Helper()
	dir := tb.TempDir()
	store, err := OpenStore(filepath.Join(dir, "vault.db"))
	if err != nil {
		tb.Fatal(err)
	}
	if err := store.Unlock(newMasterKey(), 1); err != nil {
		tb.Fatal(err)
	}
	auth, err := loadAuth(dir, store)
	if err != nil {
		tb.Fatal(err)
	}
	v := &Vault{Store: store, Auth: auth, log: slog.New(slog.DiscardHandler), status: vaultapi.Status{State: vaultapi.StateUnsealed},
		filesRoot: filepath.Join(dir, "files")}
	sock := filepath.Join(tb.TempDir(), "vault.sock")
	l, err := serve.Unix(sock, 0o600)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { serve.HTTP(ctx, v.Handler(), serve.SiteLimits, v.log, l); close(done) }()
	tok, _ := os.ReadFile(auth.SystemTokenPath())
	c := client.New(sock, string(tok)).ForTenant("acme")
	tb.Cleanup(func() { c.Close(); cancel(); <-done; store.Close() })
	return v, c, sock
}

func BenchmarkEncrypt1KiB(b *testing.B) {
	v, c, _ := memVault(b)
	ctx := context.Background()
	if _, err := c.CreateKey(ctx, "k", vaultapi.KeyAES256GCM); err != nil {
		b.Fatal(err)
	}
	plain := make([]byte, 1024)
	ct, _ := v.Store.Encrypt("acme", "k", plain, nil)
	b.Run("encrypt/in-process", func(b *testing.B) {
		for b.Loop() {
			if _, err := v.Store.Encrypt("acme", "k", plain, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encrypt/socket", func(b *testing.B) {
		for b.Loop() {
			if _, err := c.Encrypt(ctx, "k", plain, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decrypt/in-process", func(b *testing.B) {
		for b.Loop() {
			if _, err := v.Store.Decrypt("acme", "k", ct.Ciphertext, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decrypt/socket", func(b *testing.B) {
		for b.Loop() {
			if _, err := c.Decrypt(ctx, "k", ct.Ciphertext, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkFF1Digits16(b *testing.B) {
	v, c, _ := memVault(b)
	ctx := context.Background()
	if _, err := c.CreateKey(ctx, "cards", vaultapi.KeyFF1); err != nil {
		b.Fatal(err)
	}
	req := vaultapi.FPE{Value: "4111111111111111"}
	b.Run("in-process", func(b *testing.B) {
		for b.Loop() {
			if _, err := v.Store.FPE("acme", "cards", req, true); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("socket", func(b *testing.B) {
		for b.Loop() {
			if _, err := c.FPEEncrypt(ctx, "cards", req); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkUnsealAtStart is the vault's start on a swtpm with a sealed
// master key: read the file, PCRs, SRK, load, policy session, unseal,
// flushes, and the store's key check.
func BenchmarkUnsealAtStart(b *testing.B) {
	p := swtpm.New(b, swtpm.Options{})
	dir := b.TempDir()
	v, err := Open(Options{Dir: dir, TPM: p.Path()})
	if err != nil {
		b.Fatal(err)
	}
	v.Close()
	var cmds int
	for b.Loop() {
		v, err := Open(Options{Dir: dir, TPM: p.Path()})
		if err != nil {
			b.Fatal(err)
		}
		st := v.Status()
		if st.State != vaultapi.StateUnsealed {
			b.Fatalf("sealed: %s", st.Reason)
		}
		cmds = st.UnsealCommands
		v.Close()
	}
	b.ReportMetric(float64(cmds), "tpm-cmds/op")
}
