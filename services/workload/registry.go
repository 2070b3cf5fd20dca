package workload

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/containerd/containerd/v2/core/remotes"
	"github.com/containerd/containerd/v2/core/remotes/docker"
)

// Registry says how one tenant's images are pulled: over TLS always,
// verified with RootCAs (nil: the system's roots), with the tenant's own
// credentials per registry host. One tenant's credentials are never
// offered to another tenant's pulls. A host without Credentials here
// takes the tenant's from the vault (WithVault; registrycreds.go).
type Registry struct {
	RootCAs     *x509.CertPool
	Credentials map[string]Credential // by registry host, "registry.example:5000"
}

// Credential is a user name and a password or token.
type Credential struct {
	Username, Secret string
}

// WithRegistry sets how each tenant's images are pulled (default: the
// system's roots, no credentials).
func WithRegistry(fn func(tenant string) Registry) Option {
	return func(o *options) { o.registry = fn }
}

// resolver returns the resolver for one of a tenant's pulls, and what
// it offered each registry (for explainAuth).
func (r *Runner) resolver(ctx context.Context, tenant string) (remotes.Resolver, *pullAuth) {
	var reg Registry
	if r.o.registry != nil {
		reg = r.o.registry(tenant)
	}
	auth := &pullAuth{r: r, tenant: tenant, static: reg.Credentials, used: map[string]string{}}
	// What docker/config.ConfigureHosts gives without a hosts directory
	// (https only, docker.io at registry-1.docker.io), without linking
	// that package's TOML parser into skerry-workload.
	client := &http.Client{Transport: docker.DefaultHTTPTransport(&tls.Config{RootCAs: reg.RootCAs, MinVersion: tls.VersionTLS12})}
	hosts := docker.ConfigureDefaultRegistries(docker.WithClient(client), docker.WithAuthorizer(docker.NewDockerAuthorizer(
		docker.WithAuthClient(client),
		docker.WithAuthCreds(func(host string) (string, string, error) { return auth.credential(ctx, host) }))))
	return docker.NewResolver(docker.ResolverOptions{Hosts: hosts}), auth
}

// RootCAs returns the system's roots (none on a site image) plus the PEM
// certificates in file (site config workload.registryCAs, which init
// writes there); file "" adds none.
func RootCAs(file string) (*x509.CertPool, error) {
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if file == "" {
		return pool, nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("registry CAs: %w", err)
	}
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("registry CAs %s: no PEM certificate in the file", file)
	}
	return pool, nil
}

// explainPull says what to do when a pull failed because the registry's
// certificate is not trusted.
func explainPull(ref string, err error) error {
	var ua x509.UnknownAuthorityError
	if !errors.As(err, &ua) && !strings.Contains(err.Error(), "certificate signed by unknown authority") {
		return err
	}
	return fmt.Errorf("registry %s presents a certificate this site does not trust: add its CA to the site config's workload.registryCAs: %w", registryHost(ref), err)
}

// registryHost is the registry part of an image reference.
func registryHost(ref string) string {
	host, _, ok := strings.Cut(ref, "/")
	if !ok || (!strings.ContainsAny(host, ".:") && host != "localhost") {
		return "docker.io"
	}
	return host
}
