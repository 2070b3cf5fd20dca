package workload

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/core/remotes/docker"

	vclient "github.com/skerry/skerry/services/vault/client"
)

// Registry credentials from the vault (README.md, "Registry credentials").
// A tenant's secret whose name starts with RegistrySecretPrefix holds one
// RegistrySecret; the runner reads the pulling tenant's, and only that
// tenant's, when the registry asks for credentials. The host is in the
// value, not the name: secret names allow neither ':' nor, at the tower,
// '.', and a name folded from the host could match another host.

// RegistrySecretPrefix starts the name of every tenant secret that holds
// registry credentials: "registry-ghcr", "registry-local".
const RegistrySecretPrefix = "registry-"

// RegistrySecret is the value of a registry credentials secret (JSON).
type RegistrySecret struct {
	// Registry is the host, with its port if not 443, exactly as in the
	// image references: "ghcr.io", "registry.example:5000". Docker Hub
	// is "docker.io".
	Registry string `json:"registry"`
	Username string `json:"username"`
	// Password is the password or an access token.
	Password string `json:"password"`
}

// pullAuth finds a tenant's credentials for the hosts one pull asks
// about, reading the vault once per pull, and remembers where each came
// from for the error that explains a refusal.
type pullAuth struct {
	r      *Runner
	tenant string
	static map[string]Credential // WithRegistry's

	once    sync.Once
	secrets map[string]namedCredential // by registry host
	err     error

	mu   sync.Mutex
	used map[string]string // host -> the secret offered, "" none
}

type namedCredential struct {
	Credential
	secret string // the vault secret's name; "" for WithRegistry's
}

// credential answers containerd's resolver for host.
func (p *pullAuth) credential(ctx context.Context, host string) (string, string, error) {
	c, ok := namedCredential{Credential: p.static[host]}, p.static[host] != (Credential{})
	if !ok && p.r.o.vaultSocket != "" {
		p.once.Do(func() { p.secrets, p.err = p.r.registrySecrets(ctx, p.tenant) })
		if p.err != nil {
			return "", "", p.err
		}
		c, ok = p.secrets[host]
		if !ok && host == "registry-1.docker.io" {
			c, ok = p.secrets["docker.io"]
		}
	}
	p.mu.Lock()
	p.used[host] = c.secret
	if ok && c.secret == "" {
		p.used[host] = "the service's own"
	}
	p.mu.Unlock()
	return c.Username, c.Secret, nil
}

// registrySecrets reads every registry credentials secret of the tenant
// from the vault, acting for that tenant alone.
func (r *Runner) registrySecrets(ctx context.Context, tenant string) (map[string]namedCredential, error) {
	tok, err := os.ReadFile(r.o.vaultToken)
	if err != nil {
		return nil, fmt.Errorf("tenant %s's registry credentials: the vault's system token: %w", tenant, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c := vclient.New(r.o.vaultSocket, strings.TrimSpace(string(tok))).ForTenant(tenant)
	defer c.Close()
	list, err := c.Secrets(ctx)
	if err != nil {
		return nil, fmt.Errorf("tenant %s's registry credentials from the vault: %w", tenant, err)
	}
	out := map[string]namedCredential{}
	for _, info := range list {
		if !strings.HasPrefix(info.Name, RegistrySecretPrefix) {
			continue
		}
		sec, err := c.Secret(ctx, info.Name, 0)
		if err != nil {
			return nil, fmt.Errorf("tenant %s's registry credentials from the vault: secret %s: %w", tenant, info.Name, err)
		}
		var v RegistrySecret
		if err := json.Unmarshal(sec.Value, &v); err != nil || v.Registry == "" || v.Username == "" || v.Password == "" {
			// One bad secret does not hide the tenant's others.
			r.log().Warn(`registry credentials secret ignored: want {"registry":HOST,"username":..,"password":..}`,
				"tenant", tenant, "secret", info.Name)
			continue
		}
		out[v.Registry] = namedCredential{Credential{Username: v.Username, Secret: v.Password}, info.Name}
	}
	return out, nil
}

// explainAuth says what to do when a registry refused a tenant's pull.
func (p *pullAuth) explainAuth(ref string, err error) error {
	if !errors.Is(err, docker.ErrInvalidAuthorization) && !strings.Contains(err.Error(), "401 Unauthorized") {
		return err
	}
	host := registryHost(ref)
	p.mu.Lock()
	secret, asked := p.used[host]
	if !asked && host == "docker.io" {
		secret = p.used["registry-1.docker.io"]
	}
	p.mu.Unlock()
	if secret != "" {
		return fmt.Errorf("registry %s refused tenant %s's credentials (%s): check their username and password: %w", host, p.tenant, secret, err)
	}
	return fmt.Errorf(`registry %s wants credentials and tenant %s has none for it: set a secret of tenant %s named %s<name> to {"registry":%q,"username":..,"password":..} (skerryctl tower secrets set): %w`,
		host, p.tenant, p.tenant, RegistrySecretPrefix, host, err)
}
