package workload

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skerry/skerry/services/api/secretapi"
	"github.com/skerry/skerry/services/api/vaultapi"
	"github.com/skerry/skerry/services/api/workloadapi"
	vclient "github.com/skerry/skerry/services/vault/client"
)

// TestRegistryCredentialsFromVault: the registry wants credentials; the
// runner has none of its own and takes each tenant's from the vault (a
// real one, on swtpm). acme's come from the tower, sealed to the site's
// vault as the agent delivers them, and its pull runs; bravo has none and
// is refused though acme's sit in the same vault for the same registry;
// charlie's are wrong and refused naming the secret.
func TestRegistryCredentialsFromVault(t *testing.T) {
	host, caFile := startRegistry(t, "acme-puller", "s3cret")
	pool, err := RootCAs(caFile)
	if err != nil {
		t.Fatal(err)
	}
	_, sock, tokFile := startVault(t, filepath.Join(t.TempDir(), "secrets"))
	ctx := context.Background()
	sys := vclient.New(sock, string(readFile(t, tokFile)))
	defer sys.Close()
	// acme's credentials from the tower: an envelope sealed to this
	// vault's site key, as the agent hands them over.
	key, err := sys.SiteKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	value, _ := json.Marshal(RegistrySecret{Registry: host, Username: "acme-puller", Password: "s3cret"})
	env, err := secretapi.Seal(key.Public, "site-a", secretapi.Envelope{Tenant: "acme", Name: "registry-local", Version: 1}, value)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := sys.PutSiteSecrets(ctx, vaultapi.SiteSecrets{Site: "site-a", KeyID: key.KeyID, Secrets: []secretapi.Envelope{env}}); err != nil || res.Stored != 1 {
		t.Fatalf("deliver acme's registry secret: %+v, %v", res, err)
	}
	// charlie's, set on the box, with a wrong password; and a secret of
	// the prefix that is not credentials, which is skipped.
	wrong, _ := json.Marshal(RegistrySecret{Registry: host, Username: "acme-puller", Password: "guess"})
	if _, err := sys.ForTenant("charlie").PutSecret(ctx, "registry-local", wrong); err != nil {
		t.Fatal(err)
	}
	if _, err := sys.ForTenant("charlie").PutSecret(ctx, "registry-notes", []byte("not JSON")); err != nil {
		t.Fatal(err)
	}

	r, _, archive, dir := newRunner(t, WithVault(sock, tokFile), WithRegistry(func(string) Registry { return Registry{RootCAs: pool} }))
	ref := host + "/acme/probe:1"
	push(t, r, archive, ref) // as acme: with its credentials from the vault

	spec := func(tenant string) *workloadapi.AppSpec {
		s := probeSpec(tenant, "pulled", "", map[string]string{"RUN": "pulled-" + tenant})
		s.Image = workloadapi.Image{Ref: ref}
		s.Restart.Policy = workloadapi.RestartNever
		return s
	}
	for _, tenant := range []string{"acme", "bravo", "charlie"} {
		if err := r.Apply(ctx, spec(tenant)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "acme's pulled app to run and exit", 2*time.Minute, func() bool { return statusOf(r, "acme", "pulled").State == StateExited })
	if out := readLog(filepath.Join(dir, "logs", "acme", "pulled.log")); !strings.Contains(out, "probe run=pulled-acme") {
		t.Errorf("acme's pulled app's output: %q", out)
	}
	for tenant, want := range map[string]string{
		"bravo":   "registry " + host + " wants credentials and tenant bravo has none for it: set a secret of tenant bravo named registry-<name>",
		"charlie": "registry " + host + " refused tenant charlie's credentials (registry-local)",
	} {
		waitFor(t, tenant+"'s pull to fail", 2*time.Minute, func() bool { return statusOf(r, tenant, "pulled").State == StateFailed })
		if st := statusOf(r, tenant, "pulled"); !strings.Contains(st.Error, want) {
			t.Errorf("%s's pull: %q, want %q", tenant, st.Error, want)
		}
	}
}
