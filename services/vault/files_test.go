package vault

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/skerry/skerry/services/api/vaultapi"
	"github.com/skerry/skerry/services/httpjson"
	"github.com/skerry/skerry/services/vault/client"
)

func TestAppFiles(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give files to another user")
	}
	v, sys, sock := memVault(t)
	ctx := t.Context()
	if _, err := sys.PutSecret(ctx, "db", []byte("one")); err != nil {
		t.Fatal(err)
	}
	dir, err := sys.SetAppFiles(ctx, "shop", vaultapi.AppFiles{UID: 1234, GID: 1235, Secrets: []string{"db", "later"}})
	if err != nil {
		t.Fatal(err)
	}
	check := func(name, want string) {
		t.Helper()
		p := filepath.Join(dir, name)
		b, err := os.ReadFile(p)
		if err != nil || string(b) != want {
			t.Fatalf("%s: %q, %v, want %q", p, b, err, want)
		}
		fi, _ := os.Stat(p)
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode().Perm() != 0o400 || st.Uid != 1234 || st.Gid != 1235 {
			t.Errorf("%s: mode %v owner %d:%d, want 0400 1234:1235", p, fi.Mode().Perm(), st.Uid, st.Gid)
		}
	}
	check("db", "one")
	if _, err := os.Stat(filepath.Join(dir, "later")); !os.IsNotExist(err) {
		t.Errorf("a secret not set yet has a file: %v", err)
	}
	// Rotation of the secret, and a secret set later, reach the files.
	sys.PutSecret(ctx, "db", []byte("two"))
	sys.PutSecret(ctx, "later", []byte("3"))
	check("db", "two")
	check("later", "3")

	// After a reboot (tmpfs empty), unsealing writes them again.
	os.RemoveAll(v.filesRoot)
	if err := v.refreshFiles("", ""); err != nil {
		t.Fatal(err)
	}
	check("db", "two")

	// Only the system token asks for files, or removes them.
	tok, _ := v.Auth.NewTenantToken("acme")
	_, err = client.New(sock, tok).SetAppFiles(ctx, "shop", vaultapi.AppFiles{UID: 0, Secrets: []string{"db"}})
	wantCode(t, "a tenant asks for files as root", err, httpjson.ErrForbidden)
	wantCode(t, "a tenant removes an app's files", client.New(sock, tok).RemoveAppFiles(ctx, "shop"), httpjson.ErrForbidden)
	check("db", "two")

	// A secret the app no longer asks for leaves its directory.
	if _, err := sys.SetAppFiles(ctx, "shop", vaultapi.AppFiles{UID: 1234, GID: 1235, Secrets: []string{"later"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "db")); !os.IsNotExist(err) {
		t.Errorf("db, no longer asked for, still has a file: %v", err)
	}
	check("later", "3")

	// The app goes: its directory goes, and neither a new version of its
	// secret nor the next unseal brings it back.
	if err := sys.RemoveAppFiles(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	gone := func(when string) {
		t.Helper()
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("%s: the removed app's directory %s: %v, want gone", when, dir, err)
		}
	}
	gone("after the removal")
	sys.PutSecret(ctx, "later", []byte("4"))
	gone("after a new version of its secret")
	if err := v.refreshFiles("", ""); err != nil {
		t.Fatal(err)
	}
	gone("after an unseal")
	if err := sys.RemoveAppFiles(ctx, "shop"); err != nil {
		t.Errorf("removing an app without files: %v", err)
	}
}
