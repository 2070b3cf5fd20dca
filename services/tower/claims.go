package tower

import (
	"encoding/hex"
	"errors"
	"net/http"
	"strings"

	"github.com/skerry/skerry/services/api/towerapi"
	"github.com/skerry/skerry/services/tower/store"
)

// Claim IDs say what they match on.
const (
	claimEK     = "ek:"
	claimSerial = "serial:"
)

// createClaim pre-assigns a box. Claims belong to their tenant: two
// tenants may claim the same EK hash, and neither learns of the other's
// claim (the enrollment policy refuses a box that claims of two tenants
// speak for). A claim on a serial, which is only what a box says about
// itself, is for operators only.
func (s *Server) createClaim(w http.ResponseWriter, r *http.Request, p principal) error {
	in, err := decode[towerapi.ClaimCreate](w, r)
	if err != nil {
		return err
	}
	if err := p.mayWrite(in.Tenant); err != nil {
		return err
	}
	var id string
	switch {
	case in.EKHash != "" && in.Serial != "":
		return refuse(ErrBadRequest, "a claim matches on ekHash or on serial, not both; create two claims")
	case in.EKHash != "":
		h := strings.ToLower(in.EKHash)
		if b, err := hex.DecodeString(h); err != nil || len(b) != 32 {
			return refuse(ErrBadRequest, "ekHash %q: want the SHA-256 of the EK's PKIX DER, 64 hex digits", in.EKHash)
		}
		id = claimEK + h
	case in.Serial != "":
		if !p.operator() {
			return refuse(ErrForbidden, "only an operator may claim a serial: a serial is only what a box says about itself, and any box can say any serial; claim the box by its EK hash (skerryctl tower claims create -ek HASH)")
		}
		if err := checkText("serial", in.Serial, 128); err != nil {
			return err
		}
		id = claimSerial + in.Serial
	default:
		return refuse(ErrBadRequest, "a claim needs ekHash or serial")
	}
	if err := checkSlug("siteName", in.SiteName); err != nil {
		return err
	}
	if err := checkLabels(in.Labels); err != nil {
		return err
	}
	c := store.Claim{ID: id, Tenant: in.Tenant, SiteName: in.SiteName, Labels: in.Labels, CreatedAt: s.now()}
	err = s.store.Update(r.Context(), func(tx store.Tx) error {
		if _, err := tenantExists(tx, in.Tenant); err != nil {
			return err
		}
		if _, err := tx.Claim(in.Tenant, id); err == nil {
			return refuse(ErrConflict, "tenant %s has a claim on %s already; delete it first", in.Tenant, id)
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		// Only the tenant's own sites are looked at: whether an EK is
		// registered in another tenant is that tenant's business. Such a
		// claim is stored and never matches (the site's EK decides first).
		if in.EKHash != "" {
			if site, err := tx.SiteByEK(strings.ToLower(in.EKHash)); err == nil && site.Tenant == in.Tenant {
				return refuse(ErrConflict, "EK %s is registered already as site %s (%s) of tenant %s", in.EKHash, site.ID, site.Name, in.Tenant)
			}
		}
		if _, err := tx.SiteByName(in.Tenant, in.SiteName); err == nil {
			return refuse(ErrConflict, "tenant %s has a site named %q already", in.Tenant, in.SiteName)
		}
		return tx.PutClaim(c)
	})
	if err != nil {
		return err
	}
	s.log.Info("claim created", "claim", id, "tenant", c.Tenant, "site_name", c.SiteName, "by", p.String())
	writeJSON(w, http.StatusCreated, claimView(c))
	return nil
}

// listClaims shows used and unused claims; usedBy links to the site.
func (s *Server) listClaims(w http.ResponseWriter, r *http.Request, p principal) error {
	tenant, err := p.tenantFilter(r.URL.Query().Get("tenant"))
	if err != nil {
		return err
	}
	return serveList(s, w, r, store.Filter{Tenant: tenant}, store.Tx.Claims, claimView)
}

// deleteClaim removes a claim of the tenant given by ?tenant= (a tenant
// token's own by default; an operator may leave it out when one tenant
// only claims the ID). A site registered by it stays.
func (s *Server) deleteClaim(w http.ResponseWriter, r *http.Request, p principal) error {
	id := r.PathValue("id")
	tenant := r.URL.Query().Get("tenant")
	if tenant == "" && !p.operator() {
		tenant = p.token.Tenant
	}
	err := s.store.Update(r.Context(), func(tx store.Tx) error {
		if tenant == "" {
			cs, err := tx.ClaimsOn(id)
			if err != nil {
				return err
			}
			switch len(cs) {
			case 0:
				return refuse(ErrNotFound, "claim %q not found", id)
			case 1:
				tenant = cs[0].Tenant
			default:
				return refuse(ErrBadRequest, "%d tenants claim %q; say which claim to delete: ?tenant=TENANT (skerryctl tower claims delete -tenant TENANT)", len(cs), id)
			}
		}
		c, err := tx.Claim(tenant, id)
		if err == nil && !p.canRead(c.Tenant) {
			err = store.ErrNotFound
		}
		if err != nil {
			return notFound(err, "claim %q not found", id)
		}
		if err := p.mayWrite(c.Tenant); err != nil {
			return err
		}
		return tx.DeleteClaim(c.Tenant, id)
	})
	if err != nil {
		return err
	}
	s.log.Info("claim deleted", "claim", id, "tenant", tenant, "by", p.String())
	w.WriteHeader(http.StatusNoContent)
	return nil
}
