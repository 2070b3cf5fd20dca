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

// createClaim pre-assigns a box. It refuses a claim that could never
// match (an EK already registered) or would collide at enrollment (a site
// name taken in the tenant), so the mistake shows now, not when the box
// is plugged in.
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
		if len(in.Serial) > 128 {
			return refuse(ErrBadRequest, "serial longer than 128 bytes")
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
		if old, err := tx.Claim(id); err == nil {
			return refuse(ErrConflict, "a claim on %s exists already (tenant %s, site %s); delete it first", id, old.Tenant, old.SiteName)
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if in.EKHash != "" {
			if site, err := tx.SiteByEK(strings.ToLower(in.EKHash)); err == nil {
				return refuse(ErrConflict, "EK %s is registered already as site %s (%s/%s)", in.EKHash, site.ID, site.Tenant, site.Name)
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

// deleteClaim removes a claim; a site registered by it stays.
func (s *Server) deleteClaim(w http.ResponseWriter, r *http.Request, p principal) error {
	id := r.PathValue("id")
	err := s.store.Update(r.Context(), func(tx store.Tx) error {
		c, err := tx.Claim(id)
		if err == nil && !p.canRead(c.Tenant) {
			err = store.ErrNotFound
		}
		if err != nil {
			return notFound(err, "claim %q not found", id)
		}
		if err := p.mayWrite(c.Tenant); err != nil {
			return err
		}
		return tx.DeleteClaim(id)
	})
	if err != nil {
		return err
	}
	s.log.Info("claim deleted", "claim", id, "by", p.String())
	w.WriteHeader(http.StatusNoContent)
	return nil
}
