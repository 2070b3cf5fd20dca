package workload

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/skerry/skerry/services/api/vaultapi"
	"github.com/skerry/skerry/services/api/workloadapi"
	vclient "github.com/skerry/skerry/services/vault/client"
)

// SecretsPath is where an app's secrets appear in its containers, one
// read-only file each (workloadapi.Secret).
const SecretsPath = "/run/secrets"

// ErrNoVault is returned for an app that asks for secrets from a runner
// that has no vault.
var ErrNoVault = errors.New("no vault to take secrets from")

// WithVault has the runner ask the vault (its socket, and the file of its
// system token, read at each use) for the secrets apps ask for: the vault
// writes them as files on its tmpfs, owned by the app's user, and the
// runner binds the app's directory read-only at SecretsPath.
func WithVault(socket, tokenFile string) Option {
	return func(o *options) { o.vaultSocket, o.vaultToken = socket, tokenFile }
}

// secretMounts asks the vault for the app's secrets as files and binds
// their directory read-only: a directory, not each file, so a secret the
// vault rewrites (a rename) shows in the running container.
func (r *Runner) secretMounts(s *workloadapi.AppSpec, uid, gid uint32) ([]specs.Mount, error) {
	if len(s.Secrets) == 0 {
		return nil, nil
	}
	if r.o.vaultSocket == "" {
		return nil, fmt.Errorf("app %s/%s: %w; the service runs without -vault-socket", s.Tenant, s.Name, ErrNoVault)
	}
	tok, err := os.ReadFile(r.o.vaultToken)
	if err != nil {
		return nil, fmt.Errorf("app %s/%s: the vault's system token: %w", s.Tenant, s.Name, err)
	}
	f := vaultapi.AppFiles{UID: int(uid), GID: int(gid), Files: map[string]string{}}
	for _, sec := range s.Secrets {
		f.Secrets = append(f.Secrets, sec.Name)
		if sec.File != "" && sec.File != sec.Name {
			f.Files[sec.Name] = sec.File
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := vclient.New(r.o.vaultSocket, strings.TrimSpace(string(tok))).ForTenant(s.Tenant)
	defer c.Close()
	dir, err := c.SetAppFiles(ctx, s.Name, f)
	if err != nil {
		return nil, fmt.Errorf("app %s/%s: secrets as files from the vault: %w", s.Tenant, s.Name, err)
	}
	return []specs.Mount{{Destination: SecretsPath, Type: "bind", Source: dir,
		Options: []string{"rbind", "ro", "nosuid", "nodev", "noexec"}}}, nil
}

// forgetSecretFiles has the vault remove the app's secret files: the app
// is gone, or no longer asks for secrets. A vault that is away is logged,
// and the files stay.
func (r *Runner) forgetSecretFiles(s *workloadapi.AppSpec) {
	if len(s.Secrets) == 0 || r.o.vaultSocket == "" {
		return
	}
	err := func() error {
		tok, err := os.ReadFile(r.o.vaultToken)
		if err != nil {
			return fmt.Errorf("the vault's system token: %w", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c := vclient.New(r.o.vaultSocket, strings.TrimSpace(string(tok))).ForTenant(s.Tenant)
		defer c.Close()
		return c.RemoveAppFiles(ctx, s.Name)
	}()
	if err != nil {
		r.log().Warn(fmt.Sprintf("app %s/%s: removing its secret files from the vault: %v", s.Tenant, s.Name, err))
	}
}
