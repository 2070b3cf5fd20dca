package tower

import (
	"errors"
	"net/http"

	"github.com/skerry/skerry/services/api/towerapi"
	"github.com/skerry/skerry/services/api/workloadapi"
	"github.com/skerry/skerry/services/tower/store"
)

// whoami tells a client which token it holds; skerryctl tower login uses it to
// check a token before saving it.
func (s *Server) whoami(w http.ResponseWriter, r *http.Request, p principal) error {
	writeJSON(w, http.StatusOK, towerapi.WhoAmI{TokenID: p.token.ID, Role: p.token.Role, Tenant: p.token.Tenant})
	return nil
}

// listTenants lists every tenant for an operator. A tenant token gets its
// own tenant only, as a one-item page, so that it learns no other
// tenant's name.
func (s *Server) listTenants(w http.ResponseWriter, r *http.Request, p principal) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	var out towerapi.List[towerapi.Tenant]
	err = s.store.View(r.Context(), func(tx store.Tx) error {
		if !p.operator() {
			// A tenant token sees its own tenant only.
			t, err := tx.Tenant(p.token.Tenant)
			if err == nil {
				out.Items = []towerapi.Tenant{tenantView(t)}
			}
			return err
		}
		ts, next, err := tx.Tenants(pg)
		out.Items, out.NextCursor = mapSlice(ts, tenantView), next
		return listErr(err)
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// createTenant creates a tenant. Only operators create tenants: a tenant
// is the unit of isolation, so making one is not a tenant's decision.
func (s *Server) createTenant(w http.ResponseWriter, r *http.Request, p principal) error {
	if err := p.mustOperator(); err != nil {
		return err
	}
	in, err := decode[towerapi.Tenant](w, r)
	if err != nil {
		return err
	}
	if err := checkSlug("tenant id", in.ID); err != nil {
		return err
	}
	if err := checkText("tenant name", in.Name, maxNameBytes); err != nil {
		return err
	}
	t := store.Tenant{ID: in.ID, Name: in.Name, AllowSoftwareIdentity: in.AllowSoftwareIdentity, CreatedAt: s.now()}
	err = s.store.Update(r.Context(), func(tx store.Tx) error {
		if _, err := tx.Tenant(t.ID); err == nil {
			return refuse(ErrConflict, "tenant %q exists already", t.ID)
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return tx.PutTenant(t)
	})
	if err != nil {
		return err
	}
	s.log.Info("tenant created", "tenant", t.ID, "software_identity", t.AllowSoftwareIdentity, "by", p.String())
	writeJSON(w, http.StatusCreated, tenantView(t))
	return nil
}

// getTenant shows one tenant to anyone who may read it.
func (s *Server) getTenant(w http.ResponseWriter, r *http.Request, p principal) error {
	id := r.PathValue("tenant")
	if err := p.mayRead(id); err != nil {
		return err
	}
	var t store.Tenant
	err := s.store.View(r.Context(), func(tx store.Tx) (err error) {
		t, err = tx.Tenant(id)
		return notFound(err, "tenant %q not found", id)
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, tenantView(t))
	return nil
}

// updateTenant changes a tenant's name or policy. Only an operator may
// allow software identity: it weakens what the tenant's sites prove.
func (s *Server) updateTenant(w http.ResponseWriter, r *http.Request, p principal) error {
	id := r.PathValue("tenant")
	if err := p.mustOperator(); err != nil {
		return err
	}
	in, err := decode[towerapi.TenantUpdate](w, r)
	if err != nil {
		return err
	}
	var t store.Tenant
	err = s.store.Update(r.Context(), func(tx store.Tx) (err error) {
		if t, err = tx.Tenant(id); err != nil {
			return notFound(err, "tenant %q not found", id)
		}
		if in.Name != nil {
			if err := checkText("tenant name", *in.Name, maxNameBytes); err != nil {
				return err
			}
			t.Name = *in.Name
		}
		if in.AllowSoftwareIdentity != nil {
			t.AllowSoftwareIdentity = *in.AllowSoftwareIdentity
		}
		if q := in.Quota; q != nil {
			if err := q.Check(); err != nil {
				return refuse(ErrBadRequest, "quota: %v", err)
			}
			t.Quota = q
			if *q == (workloadapi.Resources{}) {
				t.Quota = nil // {}: the sites' defaults
			}
		}
		return tx.PutTenant(t)
	})
	if err != nil {
		return err
	}
	if in.Quota != nil {
		s.desired.changed() // the tenant's sites' desired state carries it
	}
	s.log.Info("tenant updated", "tenant", t.ID, "software_identity", t.AllowSoftwareIdentity, "by", p.String())
	writeJSON(w, http.StatusOK, tenantView(t))
	return nil
}

// tenantExists refuses when tenant is not there.
func tenantExists(tx store.Tx, tenant string) (store.Tenant, error) {
	t, err := tx.Tenant(tenant)
	return t, notFound(err, "tenant %q not found; create it with skerryctl tower tenants create", tenant)
}
