package workload

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/skerry/skerry/services/api/workloadapi"
	"github.com/skerry/skerry/services/vault"
	vclient "github.com/skerry/skerry/services/vault/client"
	"github.com/skerry/skerry/services/vault/vaulttest"
)

// startVault runs a real vault on a swtpm, writing secret files under
// its own root; it returns its socket and system token file.
func startVault(t *testing.T, filesRoot string) (*vault.Vault, string, string) {
	t.Helper()
	return vaulttest.Start(t, filesRoot)
}

// TestSecretFiles: an app's secrets are files in /run/secrets of its
// container, readable by the app's user and not writable; another
// tenant's app asking for a secret of the same name sees nothing of
// acme's. Removing the app removes its files.
func TestSecretFiles(t *testing.T) {
	files := filepath.Join(t.TempDir(), "secrets")
	_, sock, tokFile := startVault(t, files)
	tok, _ := os.ReadFile(tokFile)
	sys := vclient.New(sock, string(tok))
	defer sys.Close()
	ctx := context.Background()
	if _, err := sys.ForTenant("acme").PutSecret(ctx, "db", []byte("hunter2")); err != nil {
		t.Fatal(err)
	}

	r, _, archive, dir := newRunner(t, WithVault(sock, tokFile))
	for _, tenant := range []string{"acme", "bravo"} {
		spec := probeSpec(tenant, "reader", archive, map[string]string{"RUN": tenant, "SECRET": "/run/secrets/db.txt"})
		spec.Secrets = []workloadapi.Secret{{Name: "db", File: "db.txt"}}
		spec.Restart.Policy = workloadapi.RestartNever
		if err := r.Apply(ctx, spec); err != nil {
			t.Fatal(err)
		}
	}
	for tenant, want := range map[string]string{
		"acme":  `secret="hunter2" readerr=false secretwrite=false`,
		"bravo": `secret="" readerr=true secretwrite=false`,
	} {
		waitFor(t, tenant+"'s app to exit", 2*time.Minute, func() bool { return statusOf(r, tenant, "reader").State == StateExited })
		out := readLog(filepath.Join(dir, "logs", tenant, "reader.log"))
		if !strings.Contains(out, want) {
			t.Errorf("%s's app: output lacks %q:\n%s", tenant, want, out)
		}
	}

	// On the host: the vault's file, the app user's, 0400.
	if mode, uid, gid := fileOwner(t, filepath.Join(files, "acme", "reader", "db.txt")); mode != 0o400 || uid != 65534 || gid != 65534 {
		t.Errorf("acme's secret file: mode %v owner %d:%d; want 0400 65534:65534", mode, uid, gid)
	}

	// The app goes: the vault removes its secret files, the other
	// tenant's stay.
	if err := r.Remove(ctx, "acme", "reader"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(files, "acme", "reader")); !os.IsNotExist(err) {
		t.Errorf("acme's removed app still has its secret files: %v", err)
	}
	if _, err := os.Stat(filepath.Join(files, "bravo", "reader")); err != nil {
		t.Errorf("bravo's app lost its secret directory: %v", err)
	}

	// Without a vault, an app that asks for secrets fails and says why.
	r2, _, _, _ := newRunner(t)
	spec := probeSpec("acme", "novault", archive, nil)
	spec.Secrets = []workloadapi.Secret{{Name: "db"}}
	if _, err := r2.secretMounts(spec, 65534, 65534); !errors.Is(err, ErrNoVault) {
		t.Errorf("secrets without a vault: got %v, want ErrNoVault", err)
	}
}

// fileOwner is a file's mode and owner.
func fileOwner(t *testing.T, p string) (os.FileMode, uint32, uint32) {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return fi.Mode().Perm(), st.Uid, st.Gid
}
