package tower

import (
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"

	"github.com/skerry/skerry/services/api/enrollapi"
	"github.com/skerry/skerry/services/api/towerapi"
	"github.com/skerry/skerry/services/tower/store"
)

// Operators decide remote unseals: approve one request (that site, those
// PCR values, once), refuse it, or approve PCR values for every site of a
// tenant (an image version), so a fleet update needs no person per box.

func unsealRequestView(r store.UnsealRequest) towerapi.UnsealRequest {
	return towerapi.UnsealRequest{
		ID: r.ID, Site: r.Site, Tenant: r.Tenant, SiteName: r.SiteName, State: r.State,
		PCRs: hexPCRs(r.PCRs), ChangedPCRs: r.ChangedPCRs, ImageVersion: r.Image,
		HasEventLog: len(r.EventLog) > 0, CreatedAt: r.CreatedAt, LastAsked: r.LastAsked, Asks: r.Asks,
		DecidedBy: r.DecidedBy, DecidedAt: r.DecidedAt, ReleasedAt: r.ReleasedAt, Approval: r.Approval,
	}
}

func pcrApprovalView(a store.PCRApproval) towerapi.PCRApproval {
	return towerapi.PCRApproval{ID: a.ID, Tenant: a.Tenant, ImageVersion: a.Image, PCRs: hexPCRs(a.PCRs), CreatedAt: a.CreatedAt, CreatedBy: a.CreatedBy}
}

func hexPCRs(m map[string][]byte) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = hex.EncodeToString(v)
	}
	return out
}

// listUnsealRequests lists unseal requests (?tenant=, ?state=).
func (s *Server) listUnsealRequests(w http.ResponseWriter, r *http.Request, p principal) error {
	tenant, err := p.tenantFilter(r.URL.Query().Get("tenant"))
	if err != nil {
		return err
	}
	state := r.URL.Query().Get("state")
	return serveList(s, w, r, store.Filter{Tenant: tenant}, func(tx store.Tx, f store.Filter, pg store.Page) ([]store.UnsealRequest, string, error) {
		items, next, err := tx.UnsealRequests(f, pg)
		if state != "" {
			kept := items[:0]
			for _, it := range items {
				if it.State == state {
					kept = append(kept, it)
				}
			}
			items = kept
		}
		return items, next, err
	}, unsealRequestView)
}

// approveUnseal and refuseUnseal decide one request.
func (s *Server) approveUnseal(w http.ResponseWriter, r *http.Request, p principal) error {
	return s.decideUnseal(w, r, p, enrollapi.UnsealApproved)
}

func (s *Server) refuseUnseal(w http.ResponseWriter, r *http.Request, p principal) error {
	return s.decideUnseal(w, r, p, enrollapi.UnsealRefused)
}

func (s *Server) decideUnseal(w http.ResponseWriter, r *http.Request, p principal, state string) error {
	id := r.PathValue("id")
	var req store.UnsealRequest
	err := s.store.Update(r.Context(), func(tx store.Tx) (err error) {
		req, err = tx.UnsealRequest(id)
		if err == nil && !p.canRead(req.Tenant) {
			err = store.ErrNotFound
		}
		if err != nil {
			return notFound(err, "no unseal request %q; list them with skerryctl tower vault requests", id)
		}
		if err := p.mayWrite(req.Tenant); err != nil {
			return err
		}
		if req.State == enrollapi.UnsealReleased {
			return refuse(ErrConflict, "unseal request %s was released at %s already; a new ask makes it pending again", id, req.ReleasedAt.Format("2006-01-02 15:04:05Z07:00"))
		}
		req.State, req.DecidedBy, req.DecidedAt = state, p.String(), s.now()
		return tx.PutUnsealRequest(req)
	})
	if err != nil {
		return err
	}
	s.log.Info("unseal request "+state, "request", id, "site", req.Site, "tenant", req.Tenant, "by", p.String())
	writeJSON(w, http.StatusOK, unsealRequestView(req))
	return nil
}

// listPCRApprovals lists the PCR approvals the principal may read.
func (s *Server) listPCRApprovals(w http.ResponseWriter, r *http.Request, p principal) error {
	var out towerapi.List[towerapi.PCRApproval]
	err := s.store.View(r.Context(), func(tx store.Tx) error {
		as, err := tx.PCRApprovals()
		for _, a := range as {
			if p.operator() || (a.Tenant != "" && p.canRead(a.Tenant)) {
				out.Items = append(out.Items, pcrApprovalView(a))
			}
		}
		return err
	})
	if err != nil {
		return err
	}
	if out.Items == nil {
		out.Items = []towerapi.PCRApproval{}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// createPCRApproval approves PCR values, given or taken from a request.
func (s *Server) createPCRApproval(w http.ResponseWriter, r *http.Request, p principal) error {
	in, err := decode[towerapi.PCRApprovalCreate](w, r)
	if err != nil {
		return err
	}
	if err := checkTexts(textField{"imageVersion", in.ImageVersion, 128}); err != nil {
		return err
	}
	if (len(in.PCRs) == 0) == (in.FromRequest == "") {
		return refuse(ErrBadRequest, "give either pcrs (index: hex SHA-256) or fromRequest (an unseal request ID)")
	}
	a := store.PCRApproval{ID: newID("pa-"), Tenant: in.Tenant, Image: in.ImageVersion, PCRs: map[string][]byte{}, CreatedAt: s.now(), CreatedBy: p.String()}
	for k, v := range in.PCRs {
		i, err := strconv.Atoi(k)
		b, herr := hex.DecodeString(v)
		if err != nil || i < 0 || i > 23 || strconv.Itoa(i) != k || herr != nil || len(b) != 32 {
			return refuse(ErrBadRequest, "pcrs[%q] = %q: want a PCR index 0-23 and 64 hex digits of SHA-256", k, v)
		}
		a.PCRs[k] = b
	}
	err = s.store.Update(r.Context(), func(tx store.Tx) error {
		if in.FromRequest != "" {
			req, err := tx.UnsealRequest(in.FromRequest)
			if err == nil && !p.canRead(req.Tenant) {
				err = store.ErrNotFound
			}
			if err != nil {
				return notFound(err, "no unseal request %q", in.FromRequest)
			}
			// The request's tenant unless another is named: approving
			// every tenant's sites takes explicit values.
			a.PCRs = req.PCRs
			if a.Tenant == "" {
				a.Tenant = req.Tenant
			}
			if a.Image == "" {
				a.Image = req.Image
			}
		}
		if a.Tenant == "" {
			if err := p.mustOperator(); err != nil {
				return err
			}
		} else {
			if _, err := tenantExists(tx, a.Tenant); err != nil {
				return err
			}
			if err := p.mayWrite(a.Tenant); err != nil {
				return err
			}
		}
		return tx.PutPCRApproval(a)
	})
	if err != nil {
		return err
	}
	s.log.Info("PCR values approved for remote unseal", "approval", a.ID, "tenant", a.Tenant, "image", a.Image, "by", p.String())
	writeJSON(w, http.StatusCreated, pcrApprovalView(a))
	return nil
}

// deletePCRApproval withdraws an approval: sites with those values ask a
// person again (a key already released stays released).
func (s *Server) deletePCRApproval(w http.ResponseWriter, r *http.Request, p principal) error {
	id := r.PathValue("id")
	err := s.store.Update(r.Context(), func(tx store.Tx) error {
		a, err := tx.PCRApproval(id)
		if err == nil && !p.operator() && (a.Tenant == "" || !p.canRead(a.Tenant)) {
			err = store.ErrNotFound
		}
		if err != nil {
			return notFound(err, "no PCR approval %q", id)
		}
		if a.Tenant == "" {
			if err := p.mustOperator(); err != nil {
				return err
			}
		} else if err := p.mayWrite(a.Tenant); err != nil {
			return err
		}
		return tx.DeletePCRApproval(id)
	})
	if err != nil {
		return err
	}
	s.log.Info("PCR approval withdrawn", "approval", id, "by", p.String())
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// getSiteVault shows a site's vault: its reported state, its escrow, and
// its newest open unseal request.
func (s *Server) getSiteVault(w http.ResponseWriter, r *http.Request, p principal) error {
	var out towerapi.SiteVault
	err := s.store.View(r.Context(), func(tx store.Tx) error {
		site, err := readSite(tx, r, p)
		if err != nil {
			return err
		}
		out.Site, out.Reported = site.ID, siteVaultReport(site.Vault)
		e, err := tx.VaultEscrow(site.ID)
		switch {
		case err == nil:
			out.Escrowed, out.Generation, out.EscrowedAt = true, e.Generation, e.StoredAt
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		reqs, _, err := tx.UnsealRequests(store.Filter{Tenant: site.Tenant}, store.Page{Limit: 1000})
		for _, q := range reqs {
			if q.Site == site.ID && q.State != enrollapi.UnsealReleased && (out.OpenRequest == nil || q.LastAsked.After(out.OpenRequest.LastAsked)) {
				v := unsealRequestView(q)
				out.OpenRequest = &v
			}
		}
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// siteVaultReport converts the stored report for the site view.
func siteVaultReport(v *store.SiteVault) *towerapi.VaultReport {
	if v == nil {
		return nil
	}
	return &towerapi.VaultReport{State: v.State, ChangedPCRs: v.ChangedPCRs, Generation: v.Generation, Reason: v.Reason}
}

// storedVaultReport checks and converts a report's vault state.
func storedVaultReport(v *enrollapi.VaultReport) (*store.SiteVault, error) {
	if v == nil {
		return nil, nil
	}
	if err := checkTexts(textField{"vault.state", v.State, 32}, textField{"vault.reason", v.Reason, enrollapi.MaxReportText}); err != nil {
		return nil, err
	}
	if len(v.ChangedPCRs) > 24 {
		return nil, refuse(ErrBadRequest, "vault.changedPcrs names %d PCRs: at most 24", len(v.ChangedPCRs))
	}
	return &store.SiteVault{State: v.State, ChangedPCRs: v.ChangedPCRs, Generation: v.Generation, Reason: v.Reason}, nil
}
