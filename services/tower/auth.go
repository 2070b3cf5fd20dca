package tower

import (
	"context"
	"crypto/x509"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/skerry/skerry/services/api/uplinkapi"

	"github.com/skerry/skerry/services/tower/store"
)

// principal is who makes a request: an operator token or a site.
type principal struct {
	token *store.OperatorToken
	site  *store.Site
	hub   *store.Hub
}

// String names the principal in logs.
func (p principal) String() string {
	switch {
	case p.token != nil:
		return "token:" + p.token.ID
	case p.site != nil:
		return "site:" + p.site.ID
	case p.hub != nil:
		return "hub:" + p.hub.ID
	}
	return "anonymous"
}

// operator reports whether the principal holds the operator role, which
// spans all tenants and is the only one that sees the pending queue.
func (p principal) operator() bool { return p.token != nil && p.token.Role == store.RoleOperator }

// canRead reports whether the principal may read tenant's resources.
func (p principal) canRead(tenant string) bool {
	return p.operator() || (p.token != nil && p.token.Tenant == tenant)
}

// canWrite reports whether the principal may change tenant's resources.
func (p principal) canWrite(tenant string) bool {
	return p.operator() || (p.token != nil && p.token.Tenant == tenant && p.token.Role == store.RoleTenantAdmin)
}

// mayRead refuses unless the principal may read tenant. An unknown tenant
// and a forbidden one look the same to a tenant token, so it cannot probe
// other tenants' names.
func (p principal) mayRead(tenant string) error {
	if !p.canRead(tenant) {
		return refuse(ErrNotFound, "tenant %q not found or not visible to token %s", tenant, p.token.ID)
	}
	return nil
}

// mayWrite refuses unless the principal may change tenant. It answers
// not-found before forbidden, for the same reason as mayRead.
func (p principal) mayWrite(tenant string) error {
	if err := p.mayRead(tenant); err != nil {
		return err
	}
	if !p.canWrite(tenant) {
		return refuse(ErrForbidden, "token %s may only read tenant %q; use a tenant-admin or operator token", p.token.ID, tenant)
	}
	return nil
}

// mustOperator refuses anything but an operator token.
func (p principal) mustOperator() error {
	if !p.operator() {
		return refuse(ErrForbidden, "only an operator token may do this; token %s is %s of %q", p.token.ID, p.token.Role, p.token.Tenant)
	}
	return nil
}

// tenantFilter is the tenant a list shows: the one asked for (which the
// principal must be allowed to read), or a tenant token's own.
func (p principal) tenantFilter(asked string) (string, error) {
	if asked != "" {
		return asked, p.mayRead(asked)
	}
	if p.operator() {
		return "", nil
	}
	return p.token.Tenant, nil
}

// authToken authenticates an operator token from the Authorization header.
func (s *Server) authToken(ctx context.Context, r *http.Request) (principal, error) {
	h := r.Header.Get("Authorization")
	secret, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || secret == "" {
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			return principal{}, refuse(ErrUnauthenticated, "a site certificate cannot use the operator API; send \"Authorization: Bearer <operator token>\"")
		}
		return principal{}, refuse(ErrUnauthenticated, "send \"Authorization: Bearer <operator token>\"; the first one is in the tower's data directory, file operator-token")
	}
	hash, id := hashSecret(secret)
	var tok store.OperatorToken
	err := s.store.View(ctx, func(tx store.Tx) (err error) {
		tok, err = tx.OperatorToken(id)
		return err
	})
	if errors.Is(err, store.ErrNotFound) || (err == nil && !sameHash(tok.Hash, hash)) {
		return principal{}, refuse(ErrUnauthenticated, "operator token not known to this tower; check it, or log in again")
	}
	if err != nil {
		return principal{}, err
	}
	if tok.Revoked {
		return principal{}, refuse(ErrUnauthenticated, "operator token %s was revoked; ask an operator for a new one", tok.ID)
	}
	return principal{token: &tok}, nil
}

// authSite authenticates a site by its client certificate, which TLS has
// already verified against the tower CA. Only the site the certificate
// names, and only its current certificate, is accepted: a re-enrollment
// or a revocation ends the old one.
func (s *Server) authSite(ctx context.Context, r *http.Request) (principal, error) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
		return principal{}, refuse(ErrUnauthenticated, "this endpoint needs the site's client certificate (mutual TLS); enroll first")
	}
	leaf := r.TLS.VerifiedChains[0][0]
	if !hasUsage(leaf, x509.ExtKeyUsageClientAuth) || slices.Contains(leaf.Subject.OrganizationalUnit, uplinkapi.RoleHub) {
		return principal{}, refuse(ErrUnauthenticated, "certificate %q is not a site certificate", leaf.Subject.CommonName)
	}
	id := leaf.Subject.CommonName
	var site store.Site
	err := s.store.View(ctx, func(tx store.Tx) (err error) {
		site, err = tx.Site(id)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return principal{}, refuse(ErrUnauthenticated, "certificate names site %q, which this tower does not know", id)
	}
	if err != nil {
		return principal{}, err
	}
	if site.Revoked {
		return principal{}, refuse(ErrSiteRevoked, "site %s (%s/%s) was revoked at %s; an operator must register the box again", site.ID, site.Tenant, site.Name, site.RevokedAt.Format("2006-01-02 15:04:05Z07:00"))
	}
	if serial := leaf.SerialNumber.Text(16); serial != site.CertSerial {
		if site.NextCert == nil || serial != site.NextCert.Serial {
			return principal{}, refuse(ErrUnauthenticated, "certificate %s of site %s was replaced by %s at a later enrollment", serial, id, site.CertSerial)
		}
		// The first use of a renewed certificate retires the old one.
		if err := s.promote(ctx, id, serial); err != nil {
			return principal{}, err
		}
		site.CertSerial, site.CertNotAfter, site.NextCert = serial, site.NextCert.NotAfter, nil
	}
	return principal{site: &site}, nil
}

// hasUsage reports whether c carries the extended key usage u. TLS has
// checked the chain for client auth already; this keeps the handler safe
// if the TLS configuration ever changes.
func hasUsage(c *x509.Certificate, u x509.ExtKeyUsage) bool {
	for _, v := range c.ExtKeyUsage {
		if v == u {
			return true
		}
	}
	return false
}
