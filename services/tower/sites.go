package tower

import (
	"net/http"

	"github.com/skerry/skerry/services/api/towerapi"
	"github.com/skerry/skerry/services/tower/store"
)

// listSites filters by tenant and by name (skerryctl resolves names with
// it). Online state is computed at read time from last-seen and the
// report interval, so nothing has to sweep sites to mark them offline.
func (s *Server) listSites(w http.ResponseWriter, r *http.Request, p principal) error {
	q := r.URL.Query()
	tenant, err := p.tenantFilter(q.Get("tenant"))
	if err != nil {
		return err
	}
	now := s.now()
	return serveList(s, w, r, store.Filter{Tenant: tenant, Name: q.Get("name")}, store.Tx.Sites,
		func(v store.Site) towerapi.Site { return s.siteView(v, now) })
}

// readSite loads the site named in the path, hiding it from tokens of other
// tenants.
func readSite(tx store.Tx, r *http.Request, p principal) (store.Site, error) {
	id := r.PathValue("site")
	site, err := tx.Site(id)
	if err == nil && !p.canRead(site.Tenant) {
		err = store.ErrNotFound
	}
	return site, notFound(err, "site %q not found", id)
}

// getSite shows one site, with its software-identity flag and state.
func (s *Server) getSite(w http.ResponseWriter, r *http.Request, p principal) error {
	var site store.Site
	err := s.store.View(r.Context(), func(tx store.Tx) (err error) {
		site, err = readSite(tx, r, p)
		return err
	})
	if err != nil {
		return err
	}
	now := s.now()
	v := s.siteView(site, now)
	if v.Uplink, err = s.siteTopics(site.ID, p, now); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// revokeSite ends the site's certificate at once (every request checks the
// site record) and refuses its EK at later enrollments. It cannot be
// undone: the record stays, so the box's EK stays refused; see README.md.
func (s *Server) revokeSite(w http.ResponseWriter, r *http.Request, p principal) error {
	return s.changeSite(w, r, p, "site revoked", func(site *store.Site) error {
		if !site.Revoked {
			site.Revoked, site.RevokedAt, site.ReenrollAllowed = true, s.now(), false
		}
		return nil
	})
}

// allowReenroll lets the site's own TPM enroll once more, for a box that
// lost its identity (its /perm was wiped). The site keeps its ID, name and
// history; the new certificate replaces the old one, which stops working.
func (s *Server) allowReenroll(w http.ResponseWriter, r *http.Request, p principal) error {
	return s.changeSite(w, r, p, "site may re-enroll once", func(site *store.Site) error {
		if site.Revoked {
			return refuse(ErrSiteRevoked, "site %s is revoked; a revoked site cannot enroll again", site.ID)
		}
		site.ReenrollAllowed = true
		return nil
	})
}

// changeSite applies change to the request's site, if p may write its
// tenant, in one transaction; logs what happened and answers the site.
func (s *Server) changeSite(w http.ResponseWriter, r *http.Request, p principal, what string, change func(*store.Site) error) error {
	var site store.Site
	err := s.store.Update(r.Context(), func(tx store.Tx) (err error) {
		if site, err = readSite(tx, r, p); err != nil {
			return err
		}
		if err := p.mayWrite(site.Tenant); err != nil {
			return err
		}
		if err := change(&site); err != nil {
			return err
		}
		return tx.PutSite(site)
	})
	if err != nil {
		return err
	}
	s.log.Info(what, "site", site.ID, "tenant", site.Tenant, "name", site.Name, "by", p.String())
	writeJSON(w, http.StatusOK, s.siteView(site, s.now()))
	return nil
}
