package vault

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/skerry/skerry/qemu/swtpm"
	"github.com/skerry/skerry/services/api/secretapi"
	"github.com/skerry/skerry/services/api/vaultapi"
	"github.com/skerry/skerry/services/httpjson"
	"github.com/skerry/skerry/services/vault/client"
)

// TestSiteSecretsOnTPM: secrets from the tower, sealed to one site's
// vault key, open on that site only (two swtpms, two vaults), are
// stored, rotated and deleted as the tower says, and a tampered envelope
// is refused.
func TestSiteSecretsOnTPM(t *testing.T) {
	ctx := t.Context()
	dirX := t.TempDir()
	pX := swtpm.New(t, swtpm.Options{})
	x := start(t, dirX, pX, nil)
	x.v.filesRoot = t.TempDir()
	y := start(t, t.TempDir(), swtpm.New(t, swtpm.Options{}), nil)

	kx, err := x.sys.SiteKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ky, err := y.sys.SiteKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if kx.KeyID == ky.KeyID || len(kx.Public) != 32 {
		t.Fatalf("site keys %+v and %+v: want two different X25519 keys", kx, ky)
	}
	seal := func(key vaultapi.SiteKey, site, name string, version int, value string) secretapi.Envelope {
		t.Helper()
		e, err := secretapi.Seal(key.Public, site, secretapi.Envelope{Tenant: "acme", Name: name, Version: version}, []byte(value))
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	db1 := seal(kx, "site-x", "db", 1, "hunter2")
	tampered := seal(kx, "site-x", "api", 1, "key-1")
	tampered.Sealed[len(tampered.Sealed)-3] ^= 0x40

	// An app of acme's gets db as a file under another name.
	if _, err := x.sys.ForTenant("acme").SetAppFiles(ctx, "shop", vaultapi.AppFiles{
		UID: os.Getuid(), GID: os.Getgid(), Secrets: []string{"db"}, Files: map[string]string{"db": "db.pass"}}); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(x.v.filesRoot, "acme", "shop", "db.pass")

	res, err := x.sys.PutSiteSecrets(ctx, vaultapi.SiteSecrets{Site: "site-x", KeyID: kx.KeyID, Secrets: []secretapi.Envelope{db1, tampered}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Stored != 1 || len(res.Refused) != 1 || res.Refused[0].Name != "api" {
		t.Errorf("import with a tampered envelope: %+v, want db stored and api refused", res)
	}
	acme := x.sys.ForTenant("acme")
	if s, err := acme.Secret(ctx, "db", 0); err != nil || string(s.Value) != "hunter2" {
		t.Errorf("db after import: %+v, %v", s, err)
	}
	if _, err := acme.Secret(ctx, "api", 0); !errors.Is(err, httpjson.ErrNotFound) {
		t.Errorf("the tampered secret: got %v, want not found", err)
	}
	readFile(t, file, "hunter2")

	// The envelope for site X does not open on site Y: neither with Y's
	// key ID (another key) nor claiming X's (refused before opening).
	res, err = y.sys.PutSiteSecrets(ctx, vaultapi.SiteSecrets{Site: "site-x", KeyID: ky.KeyID, Secrets: []secretapi.Envelope{db1}})
	if err != nil || res.Stored != 0 || len(res.Refused) != 1 {
		t.Errorf("site X's envelope on site Y: %+v, %v; want refused", res, err)
	}
	_, err = y.sys.PutSiteSecrets(ctx, vaultapi.SiteSecrets{Site: "site-x", KeyID: kx.KeyID, Secrets: []secretapi.Envelope{db1}})
	wantCode(t, "site X's key ID on site Y", err, httpjson.ErrBadRequest)
	if l, err := y.sys.ForTenant("acme").Secrets(ctx); err != nil || len(l) != 0 {
		t.Errorf("site Y's secrets: %+v, %v; want none", l, err)
	}

	// The same version again is not stored again; a new one is, and its
	// file is rewritten in place. A secret a tenant put on the box itself
	// is not the tower's to delete.
	if _, err := acme.PutSecret(ctx, "local", []byte("mine")); err != nil {
		t.Fatal(err)
	}
	res, _ = x.sys.PutSiteSecrets(ctx, vaultapi.SiteSecrets{Site: "site-x", KeyID: kx.KeyID, Secrets: []secretapi.Envelope{db1}})
	if diff := cmp.Diff(vaultapi.SiteSecretsResult{Unchanged: 1}, res); diff != "" {
		t.Errorf("the same envelope again (-want +got):\n%s", diff)
	}
	res, _ = x.sys.PutSiteSecrets(ctx, vaultapi.SiteSecrets{Site: "site-x", KeyID: kx.KeyID, Secrets: []secretapi.Envelope{seal(kx, "site-x", "db", 2, "rotated")}})
	if res.Stored != 1 {
		t.Errorf("version 2: %+v, want stored", res)
	}
	readFile(t, file, "rotated")

	// The site key survives a restart (it is sealed under the master key).
	x.stop()
	x = start(t, dirX, pX, nil)
	x.v.filesRoot = filepath.Dir(filepath.Dir(filepath.Dir(file)))
	if k, err := x.sys.SiteKey(ctx); err != nil || !bytes.Equal(k.Public, kx.Public) {
		t.Fatalf("site key after a restart: %+v, %v; want %x", k, err, kx.Public)
	}
	acme = x.sys.ForTenant("acme")

	// Deleted at the tower: gone from the vault and the app's directory.
	res, err = x.sys.PutSiteSecrets(ctx, vaultapi.SiteSecrets{Site: "site-x", KeyID: kx.KeyID, Secrets: []secretapi.Envelope{}})
	if err != nil || res.Deleted != 1 {
		t.Errorf("empty list: %+v, %v; want db deleted", res, err)
	}
	if _, err := acme.Secret(ctx, "db", 0); !errors.Is(err, httpjson.ErrNotFound) {
		t.Errorf("db after the tower deleted it: got %v, want not found", err)
	}
	if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("db's file after the tower deleted it: %v, want gone", err)
	}
	if s, err := acme.Secret(ctx, "local", 0); err != nil || string(s.Value) != "mine" {
		t.Errorf("a box-local secret after the tower's delete: %+v, %v", s, err)
	}

	// Only the system token hands secrets over; the internal tenant that
	// holds the site key cannot be named.
	tok, _ := x.sys.NewToken(ctx, "acme")
	_, err = client.New(x.sock, tok).PutSiteSecrets(ctx, vaultapi.SiteSecrets{Site: "site-x", KeyID: kx.KeyID})
	wantCode(t, "a tenant token hands secrets over", err, httpjson.ErrForbidden)
	_, err = x.sys.ForTenant(siteTenant).Secret(ctx, siteKeyName, 0)
	wantCode(t, "the system token reads the site key's tenant", err, httpjson.ErrBadRequest)
}

func readFile(t *testing.T, path, want string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil || string(b) != want {
		t.Errorf("%s: %q, %v; want %q", path, b, err, want)
	}
}
