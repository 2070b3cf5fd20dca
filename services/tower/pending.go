package tower

import (
	"net/http"

	"github.com/skerry/skerry/services/api/towerapi"
	"github.com/skerry/skerry/services/tower/store"
)

// The pending queue belongs to no tenant until an operator approves an
// entry into one, so only operator tokens see it: a tenant admin must not
// be able to take a box that is not theirs.

// listPending shows waiting, approved and rejected boxes. An approved
// entry disappears when its box registers.
func (s *Server) listPending(w http.ResponseWriter, r *http.Request, p principal) error {
	if err := p.mustOperator(); err != nil {
		return err
	}
	pg, err := page(r)
	if err != nil {
		return err
	}
	var out towerapi.List[towerapi.Pending]
	err = s.store.View(r.Context(), func(tx store.Tx) error {
		ps, next, err := tx.PendingList(pg)
		out.Items, out.NextCursor = mapSlice(ps, pendingView), next
		return listErr(err)
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// approvePending marks the entry approved; the box registers at its next
// attempt, which it makes within its retry interval. The site is created
// then, not now: only the box can prove it holds the EK again, and the
// certificate needs its fresh TPM key.
func (s *Server) approvePending(w http.ResponseWriter, r *http.Request, p principal) error {
	if err := p.mustOperator(); err != nil {
		return err
	}
	ek := r.PathValue("ekHash")
	in, err := decode[towerapi.Approve](w, r)
	if err != nil {
		return err
	}
	if err := checkSlug("siteName", in.SiteName); err != nil {
		return err
	}
	if err := checkLabels(in.Labels); err != nil {
		return err
	}
	var e store.Pending
	err = s.store.Update(r.Context(), func(tx store.Tx) (err error) {
		if e, err = tx.Pending(ek); err != nil {
			return notFound(err, "no pending box with EK hash %q; list them with skerryctl tower sites pending", ek)
		}
		if _, err := tenantExists(tx, in.Tenant); err != nil {
			return err
		}
		if site, err := tx.SiteByName(in.Tenant, in.SiteName); err == nil {
			return refuse(ErrConflict, "tenant %s has a site named %q already (%s); choose another name", in.Tenant, in.SiteName, site.ID)
		}
		e.State, e.Tenant, e.SiteName, e.Labels, e.DecidedBy = store.PendingApproved, in.Tenant, in.SiteName, in.Labels, p.String()
		return tx.PutPending(e)
	})
	if err != nil {
		return err
	}
	s.log.Info("pending box approved", "ek_hash", ek, "tenant", in.Tenant, "site_name", in.SiteName, "by", p.String())
	writeJSON(w, http.StatusOK, pendingView(e))
	return nil
}

// rejectPending keeps the entry, rejected, so the box is told so at its
// next attempt rather than queued again. A claim or token created later
// still registers it: those are explicit decisions too.
func (s *Server) rejectPending(w http.ResponseWriter, r *http.Request, p principal) error {
	if err := p.mustOperator(); err != nil {
		return err
	}
	ek := r.PathValue("ekHash")
	var e store.Pending
	err := s.store.Update(r.Context(), func(tx store.Tx) (err error) {
		if e, err = tx.Pending(ek); err != nil {
			return notFound(err, "no pending box with EK hash %q; list them with skerryctl tower sites pending", ek)
		}
		e.State, e.Tenant, e.SiteName, e.Labels, e.DecidedBy = store.PendingRejected, "", "", nil, p.String()
		return tx.PutPending(e)
	})
	if err != nil {
		return err
	}
	s.log.Info("pending box rejected", "ek_hash", ek, "by", p.String())
	writeJSON(w, http.StatusOK, pendingView(e))
	return nil
}
