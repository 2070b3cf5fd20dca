package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skerry/skerry/services/api/towerapi"
	"github.com/skerry/skerry/services/httpjson"
	vclient "github.com/skerry/skerry/services/vault/client"
	"github.com/skerry/skerry/services/vault/vaulttest"
)

// TestSecretsFromTheTower runs the whole path with real parts: a secret
// set at the tower reaches the site's vault (on a swtpm) through the
// agent, which reports the vault's key and carries the sealed envelope
// without seeing the value; a new version replaces it and a delete at the
// tower removes it from the vault.
func TestSecretsFromTheTower(t *testing.T) {
	_, vsock, tokFile := vaulttest.Start(t, filepath.Join(t.TempDir(), "secrets"))
	tok, _ := os.ReadFile(tokFile)
	acme := vclient.New(vsock, string(tok)).ForTenant("acme")
	defer acme.Close()

	tw := startRealTower(t)
	var et towerapi.EnrollTokenCreated
	tw.do(t, "POST", "/v1/enrollment-tokens", towerapi.EnrollTokenCreate{Tenant: "acme", Labels: map[string]string{"region": "north"}}, &et)
	const v1, v2 = "first-value-71c2", "second-value-0d9e"

	// No workload service here, and an hour's retry after a failed
	// apply: the agent hands the secrets over before it applies the apps
	// and keeps polling while the apply waits for its retry, so a
	// workload service that is away (on a box, containerd still
	// starting) does not hold them back.
	a := startAgent(t, tw.config(et.Token), WithHome(t.TempDir()), WithTPM(filepath.Join(t.TempDir(), "no-tpm")),
		WithSoftwareIdentity(true), WithWorkloadSocket(filepath.Join(t.TempDir(), "no-workload.sock")), WithVault(vsock, tokFile),
		WithRetry(time.Hour))
	// Set once the site is online and its vault key known, as on a box.
	tw.onlineSite(t, a)
	time.Sleep(2 * time.Second)
	tw.do(t, "PUT", "/v1/tenants/acme/secrets/db", towerapi.SecretSet{Value: []byte(v1), Selector: map[string]string{"region": "north"}}, nil)
	tw.do(t, "PUT", "/v1/tenants/acme/secrets/far", towerapi.SecretSet{Value: []byte(v1), Selector: map[string]string{"region": "south"}}, nil)
	value := func(name string) string {
		s, err := acme.Secret(context.Background(), name, 0)
		if err != nil {
			return err.Error()
		}
		return string(s.Value)
	}
	waitLong(t, a, "db reaches the vault", func() bool { return value("db") == v1 })
	tw.do(t, "PUT", "/v1/tenants/acme/secrets/db", towerapi.SecretSet{Value: []byte(v2), Selector: map[string]string{"region": "north"}}, nil)
	waitLong(t, a, "db version 2 reaches the vault", func() bool { return value("db") == v2 })
	if _, err := acme.Secret(context.Background(), "far", 0); !errors.Is(err, httpjson.ErrNotFound) {
		t.Errorf("far, for region=south, on a north site: %v", err)
	}
	tw.do(t, "DELETE", "/v1/tenants/acme/secrets/db", nil, nil)
	waitLong(t, a, "db leaves the vault", func() bool {
		_, err := acme.Secret(context.Background(), "db", 0)
		return errors.Is(err, httpjson.ErrNotFound)
	})
	if s := a.log.String(); strings.Contains(s, v1) || strings.Contains(s, v2) || !strings.Contains(s, "handed to the vault") {
		t.Errorf("the agent's log holds a value or says nothing of the handover:\n%s", s)
	}
}
