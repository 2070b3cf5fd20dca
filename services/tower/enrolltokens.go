package tower

import (
	"net/http"
	"time"

	"github.com/skerry/skerry/services/api/towerapi"
	"github.com/skerry/skerry/services/tower/store"
)

// maxTokenTTL bounds enrollment tokens: a token baked into an image is a
// standing invitation, so it must end.
const maxTokenTTL = 366 * 24 * time.Hour

// createEnrollToken returns the secret once; the tower keeps its hash.
// A token enrolls boxes without a person in the loop, so it always has an
// expiry (default a day) and may be limited in uses.
func (s *Server) createEnrollToken(w http.ResponseWriter, r *http.Request, p principal) error {
	in, err := decode[towerapi.EnrollTokenCreate](w, r)
	if err != nil {
		return err
	}
	if err := p.mayWrite(in.Tenant); err != nil {
		return err
	}
	ttl := time.Duration(in.TTLSeconds) * time.Second
	if in.TTLSeconds == 0 {
		ttl = 24 * time.Hour
	}
	if ttl <= 0 || ttl > maxTokenTTL {
		return refuse(ErrBadRequest, "ttlSeconds %d: want 1 to %d", in.TTLSeconds, int64(maxTokenTTL/time.Second))
	}
	if in.MaxUses < 0 {
		return refuse(ErrBadRequest, "maxUses %d: want 0 (no limit) or more", in.MaxUses)
	}
	if err := checkLabels(in.Labels); err != nil {
		return err
	}
	if err := checkText("description", in.Description, maxNameBytes); err != nil {
		return err
	}
	secret, hash, id := newSecret(prefixEnroll)
	now := s.now()
	t := store.EnrollToken{
		ID: id, Hash: hash, Tenant: in.Tenant, Description: in.Description, Labels: in.Labels,
		ExpiresAt: now.Add(ttl), MaxUses: in.MaxUses, CreatedAt: now,
	}
	err = s.store.Update(r.Context(), func(tx store.Tx) error {
		if _, err := tenantExists(tx, in.Tenant); err != nil {
			return err
		}
		return tx.PutEnrollToken(t)
	})
	if err != nil {
		return err
	}
	s.log.Info("enrollment token created", "token", id, "tenant", t.Tenant, "expires", t.ExpiresAt, "max_uses", t.MaxUses, "by", p.String())
	writeJSON(w, http.StatusCreated, towerapi.EnrollTokenCreated{EnrollToken: enrollTokenView(t, now), Token: secret})
	return nil
}

// listEnrollTokens shows each token with its state (valid, expired,
// revoked, used-up) computed now, so an operator sees why a box was
// refused.
func (s *Server) listEnrollTokens(w http.ResponseWriter, r *http.Request, p principal) error {
	tenant, err := p.tenantFilter(r.URL.Query().Get("tenant"))
	if err != nil {
		return err
	}
	now := s.now()
	return serveList(s, w, r, store.Filter{Tenant: tenant}, store.Tx.EnrollTokens,
		func(t store.EnrollToken) towerapi.EnrollToken { return enrollTokenView(t, now) })
}

// getEnrollToken hides tokens of other tenants as not found.
func (s *Server) getEnrollToken(w http.ResponseWriter, r *http.Request, p principal) error {
	id := r.PathValue("id")
	var t store.EnrollToken
	err := s.store.View(r.Context(), func(tx store.Tx) (err error) {
		t, err = tx.EnrollToken(id)
		if err == nil && !p.canRead(t.Tenant) {
			err = store.ErrNotFound
		}
		return notFound(err, "enrollment token %q not found", id)
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, enrollTokenView(t, s.now()))
	return nil
}

// revokeEnrollToken stops the token for boxes that have not finished
// yet, including one between start and finish (finish checks again).
// Sites already registered with it are not affected.
func (s *Server) revokeEnrollToken(w http.ResponseWriter, r *http.Request, p principal) error {
	id := r.PathValue("id")
	var t store.EnrollToken
	err := s.store.Update(r.Context(), func(tx store.Tx) (err error) {
		t, err = tx.EnrollToken(id)
		if err == nil && !p.canRead(t.Tenant) {
			err = store.ErrNotFound
		}
		if err != nil {
			return notFound(err, "enrollment token %q not found", id)
		}
		if err := p.mayWrite(t.Tenant); err != nil {
			return err
		}
		t.Revoked = true
		return tx.PutEnrollToken(t)
	})
	if err != nil {
		return err
	}
	s.log.Info("enrollment token revoked", "token", id, "tenant", t.Tenant, "by", p.String())
	writeJSON(w, http.StatusOK, enrollTokenView(t, s.now()))
	return nil
}
