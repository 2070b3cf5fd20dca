package tower

import (
	"context"
	"net/http"

	"github.com/skerry/skerry/services/api/towerapi"
	"github.com/skerry/skerry/services/tower/store"
)

// CreateOperatorToken creates an operator token and returns its secret.
// Open uses it for the first token; the API for the others.
func (s *Server) CreateOperatorToken(ctx context.Context, in towerapi.OperatorTokenCreate, by string) (towerapi.OperatorTokenCreated, error) {
	switch in.Role {
	case store.RoleOperator:
		if in.Tenant != "" {
			return towerapi.OperatorTokenCreated{}, refuse(ErrBadRequest, "an operator token spans all tenants; leave tenant empty or use role tenant-admin")
		}
	case store.RoleTenantAdmin, store.RoleTenantReader:
		if in.Tenant == "" {
			return towerapi.OperatorTokenCreated{}, refuse(ErrBadRequest, "role %s needs a tenant", in.Role)
		}
	default:
		return towerapi.OperatorTokenCreated{}, refuse(ErrBadRequest, "role %q: want operator, tenant-admin or tenant-reader", in.Role)
	}
	if err := checkText("token name", in.Name, maxNameBytes); err != nil {
		return towerapi.OperatorTokenCreated{}, err
	}
	secret, hash, id := newSecret(prefixOperator)
	t := store.OperatorToken{ID: id, Hash: hash, Name: in.Name, Role: in.Role, Tenant: in.Tenant, CreatedAt: s.now(), CreatedBy: by}
	err := s.store.Update(ctx, func(tx store.Tx) error {
		if in.Tenant != "" {
			if _, err := tenantExists(tx, in.Tenant); err != nil {
				return err
			}
		}
		return tx.PutOperatorToken(t)
	})
	if err != nil {
		return towerapi.OperatorTokenCreated{}, err
	}
	s.log.Info("operator token created", "token", id, "role", t.Role, "tenant", t.Tenant, "by", by)
	return towerapi.OperatorTokenCreated{OperatorToken: operatorTokenView(t), Token: secret}, nil
}

// createOperatorToken: an operator creates any token; a tenant admin
// creates tokens of its own tenant, never an operator token.
func (s *Server) createOperatorToken(w http.ResponseWriter, r *http.Request, p principal) error {
	in, err := decode[towerapi.OperatorTokenCreate](w, r)
	if err != nil {
		return err
	}
	if in.Role == store.RoleOperator {
		err = p.mustOperator()
	} else {
		err = p.mayWrite(in.Tenant)
	}
	if err != nil {
		return err
	}
	out, err := s.CreateOperatorToken(r.Context(), in, p.String())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, out)
	return nil
}

// listOperatorTokens shows tokens without their secrets (the tower has
// only hashes). A tenant reader may not list them: the list shows who can
// act on the tenant, which is an admin's business.
func (s *Server) listOperatorTokens(w http.ResponseWriter, r *http.Request, p principal) error {
	tenant, err := p.tenantFilter(r.URL.Query().Get("tenant"))
	if err != nil {
		return err
	}
	if !p.operator() && !p.canWrite(tenant) {
		return refuse(ErrForbidden, "listing tokens needs a tenant-admin or operator token")
	}
	return serveList(s, w, r, store.Filter{Tenant: tenant}, store.Tx.OperatorTokens, operatorTokenView)
}

// revokeOperatorToken takes effect on the token's next request: every
// request reads the token record, there is no session cache to expire.
func (s *Server) revokeOperatorToken(w http.ResponseWriter, r *http.Request, p principal) error {
	id := r.PathValue("id")
	var t store.OperatorToken
	err := s.store.Update(r.Context(), func(tx store.Tx) (err error) {
		// A token the caller may not see (another tenant's, or an
		// operator's for a tenant token) is answered as one that does not
		// exist, with the same message.
		t, err = tx.OperatorToken(id)
		if err == nil && !p.operator() && (t.Role == store.RoleOperator || !p.canRead(t.Tenant)) {
			err = store.ErrNotFound
		}
		if err != nil {
			return notFound(err, "operator token %q not found", id)
		}
		if !p.operator() && !p.canWrite(t.Tenant) {
			return refuse(ErrForbidden, "token %s may only read tenant %q; use a tenant-admin or operator token", p.token.ID, t.Tenant)
		}
		t.Revoked = true
		return tx.PutOperatorToken(t)
	})
	if err != nil {
		return err
	}
	s.log.Info("operator token revoked", "token", id, "by", p.String())
	writeJSON(w, http.StatusOK, operatorTokenView(t))
	return nil
}
