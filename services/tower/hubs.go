package tower

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/skerry/skerry/services/api/towerapi"
	"github.com/skerry/skerry/services/api/uplinkapi"
	"github.com/skerry/skerry/services/tower/store"
)

// hubCertValidity is how long a hub certificate issued by POST /v1/hubs
// lasts; revocation ends it sooner at the tower and at hubs that fetch
// the revocation list.
const hubCertValidity = 365 * 24 * time.Hour

// maxHubHosts bounds the names of one hub certificate.
const maxHubHosts = 16

// createHub issues an intermediate hub's certificate for the key of its
// certificate request and records the hub, so the tower's embedded hub
// admits it and an operator can revoke it. Operators only: a hub speaks
// for the sites of every tenant.
func (s *Server) createHub(w http.ResponseWriter, r *http.Request, p principal) error {
	if err := p.mustOperator(); err != nil {
		return err
	}
	in, err := decode[towerapi.HubCreate](w, r)
	if err != nil {
		return err
	}
	if err := uplinkapi.ValidateSite(in.ID); err != nil || in.ID == "" {
		return refuse(ErrBadRequest, "hub id %q: want lowercase letters, digits, '-', '_' or '.', as a site ID", in.ID)
	}
	if len(in.Hosts) > maxHubHosts {
		return refuse(ErrBadRequest, "hosts: %d names, at most %d", len(in.Hosts), maxHubHosts)
	}
	for _, h := range in.Hosts {
		if err := checkHost(h); err != nil {
			return err
		}
	}
	block, _ := pem.Decode([]byte(in.CSR))
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return refuse(ErrBadRequest, "csr: want a PEM \"CERTIFICATE REQUEST\" signed by the hub's key (skerryctl tower hubs add makes one)")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err == nil {
		err = csr.CheckSignature()
	}
	if err != nil {
		return refuse(ErrBadRequest, "csr: %v", err)
	}
	cert, err := s.ca.HubServerCert(in.ID, in.Hosts, csr.PublicKey, hubCertValidity)
	if err != nil {
		return err
	}
	h := store.Hub{ID: in.ID, Hosts: in.Hosts, CertSerial: cert.SerialNumber.Text(16), CertNotAfter: cert.NotAfter, CreatedAt: s.now(), CreatedBy: p.String()}
	err = s.store.Update(r.Context(), func(tx store.Tx) error {
		if old, err := tx.Hub(in.ID); err == nil {
			state := "in use"
			if old.Revoked {
				state = "revoked"
			}
			return refuse(ErrConflict, "hub %s exists (%s): choose another ID", in.ID, state)
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		// A hub's names are its own under sites/<id>/: a site of the
		// same ID would share its downlink.
		if _, err := tx.Site(in.ID); err == nil {
			return refuse(ErrConflict, "hub id %s is a site's ID: choose another", in.ID)
		}
		return tx.PutHub(h)
	})
	if err != nil {
		return err
	}
	s.log.Info("hub certificate issued", "hub", h.ID, "serial", h.CertSerial, "hosts", h.Hosts, "by", h.CreatedBy)
	writeJSON(w, http.StatusCreated, towerapi.HubCreated{Hub: hubView(h),
		Certificate: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})), CA: string(s.ca.CertPEM())})
	return nil
}

// checkHost accepts an IP address or a DNS name for a hub certificate.
func checkHost(h string) error {
	if net.ParseIP(h) != nil {
		return nil
	}
	ok := h != "" && len(h) <= 253
	for _, c := range h {
		ok = ok && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.')
	}
	if !ok {
		return refuse(ErrBadRequest, "host %q: want a DNS name or an IP address the hub's sites dial", h)
	}
	return nil
}

func (s *Server) listHubs(w http.ResponseWriter, r *http.Request, p principal) error {
	if err := p.mustOperator(); err != nil {
		return err
	}
	return serveList(s, w, r, store.Filter{}, func(tx store.Tx, _ store.Filter, pg store.Page) ([]store.Hub, string, error) {
		return tx.Hubs(pg)
	}, hubView)
}

// revokeHub ends a hub's certificate at the tower at its next connection,
// and at the hubs below the tower at their next revocation fetch.
func (s *Server) revokeHub(w http.ResponseWriter, r *http.Request, p principal) error {
	if err := p.mustOperator(); err != nil {
		return err
	}
	id := r.PathValue("hub")
	var h store.Hub
	err := s.store.Update(r.Context(), func(tx store.Tx) (err error) {
		if h, err = tx.Hub(id); err != nil {
			return notFound(err, "hub %q not found; skerryctl tower hubs list shows them", id)
		}
		if !h.Revoked {
			h.Revoked, h.RevokedAt = true, s.now()
		}
		return tx.PutHub(h)
	})
	if err != nil {
		return err
	}
	s.log.Info("hub revoked", "hub", id, "by", p.String())
	writeJSON(w, http.StatusOK, hubView(h))
	return nil
}

// hubRevocations answers a hub, authenticated by its certificate, with the
// revoked sites and hubs: a hub away from the tower refuses them with it.
func (s *Server) hubRevocations(w http.ResponseWriter, r *http.Request, p principal) error {
	out := towerapi.Revocations{Sites: []string{}, Hubs: []string{}, At: s.now()}
	err := s.store.View(r.Context(), func(tx store.Tx) error {
		err := scanAll(func(p store.Page) ([]store.Site, string, error) { return tx.Sites(store.Filter{}, p) }, func(v store.Site) {
			if v.Revoked {
				out.Sites = append(out.Sites, v.ID)
			}
		})
		if err != nil {
			return err
		}
		return scanAll(tx.Hubs, func(v store.Hub) {
			if v.Revoked {
				out.Hubs = append(out.Hubs, v.ID)
			}
		})
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// scanAll calls each for every record of a paginated list.
func scanAll[T any](list func(store.Page) ([]T, string, error), each func(T)) error {
	for cursor := ""; ; {
		items, next, err := list(store.Page{Limit: 1000, Cursor: cursor})
		if err != nil {
			return err
		}
		for _, v := range items {
			each(v)
		}
		if cursor = next; cursor == "" {
			return nil
		}
	}
}

// authHub authenticates a hub by its client certificate (OU hub), which
// TLS verified against the tower CA: a hub the tower issued it to, not
// revoked, with its current certificate.
func (s *Server) authHub(ctx context.Context, r *http.Request) (principal, error) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
		return principal{}, refuse(ErrUnauthenticated, "this endpoint needs the hub's client certificate (mutual TLS) from POST /v1/hubs")
	}
	leaf := r.TLS.VerifiedChains[0][0]
	if !slices.Contains(leaf.Subject.OrganizationalUnit, uplinkapi.RoleHub) {
		return principal{}, refuse(ErrUnauthenticated, "certificate %q is not a hub certificate", leaf.Subject.CommonName)
	}
	h, err := s.knownHub(ctx, leaf)
	if err != nil {
		return principal{}, refuse(ErrUnauthenticated, "%v", err)
	}
	return principal{hub: &h}, nil
}

// knownHub returns the hub a hub certificate names while the tower issued
// it that very certificate and has not revoked it.
func (s *Server) knownHub(ctx context.Context, cert *x509.Certificate) (store.Hub, error) {
	id := cert.Subject.CommonName
	var h store.Hub
	err := s.store.View(ctx, func(tx store.Tx) (err error) {
		h, err = tx.Hub(id)
		return err
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return h, fmt.Errorf("hub %s is not known to the tower: an operator issues a hub's certificate with skerryctl tower hubs add", id)
	case err != nil:
		return h, fmt.Errorf("look up hub %s: %w", id, err)
	case h.Revoked:
		return h, fmt.Errorf("hub %s was revoked at %s", id, h.RevokedAt.Format(time.RFC3339))
	case cert.SerialNumber.Text(16) != h.CertSerial:
		return h, fmt.Errorf("certificate %s is not hub %s's current one (%s)", cert.SerialNumber.Text(16), id, h.CertSerial)
	}
	return h, nil
}

func hubView(h store.Hub) towerapi.Hub {
	return towerapi.Hub{ID: h.ID, Hosts: h.Hosts, CertificateSerial: h.CertSerial, CertificateNotAfter: h.CertNotAfter,
		CreatedAt: h.CreatedAt, CreatedBy: h.CreatedBy, Revoked: h.Revoked, RevokedAt: h.RevokedAt}
}
