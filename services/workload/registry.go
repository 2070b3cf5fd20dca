package workload

import (
	"context"
	"crypto/tls"
	"crypto/x509"

	"github.com/containerd/containerd/v2/core/remotes"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/containerd/containerd/v2/core/remotes/docker/config"
)

// Registry says how one tenant's images are pulled: over TLS always,
// verified with RootCAs (nil: the system's roots), with the tenant's own
// credentials per registry host. One tenant's credentials are never
// offered to another tenant's pulls.
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

// resolver returns the resolver for a tenant's pulls.
func (r *Runner) resolver(ctx context.Context, tenant string) remotes.Resolver {
	var reg Registry
	if r.o.registry != nil {
		reg = r.o.registry(tenant)
	}
	hosts := config.ConfigureHosts(ctx, config.HostOptions{
		DefaultScheme: "https",
		DefaultTLS:    &tls.Config{RootCAs: reg.RootCAs, MinVersion: tls.VersionTLS12},
		Credentials: func(host string) (string, string, error) {
			c := reg.Credentials[host]
			return c.Username, c.Secret, nil
		},
	})
	return docker.NewResolver(docker.ResolverOptions{Hosts: hosts})
}
