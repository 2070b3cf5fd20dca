package tower

import (
	"context"
	"crypto"
	"crypto/x509"
	"net/http"

	"github.com/skerry/skerry/services/api/enrollapi"
	"github.com/skerry/skerry/services/tower/store"
)

// renew issues a site a new certificate for the key of the certificate it
// authenticated with: the key was certified by the TPM's AK at
// enrollment, so a CSR for that same key, signed by it, proves the box
// still holds it. The new certificate is kept as NextCert; the current one
// works until the new one is first used (promote), so an agent that dies
// before saving it can renew again.
func (s *Server) renew(w http.ResponseWriter, r *http.Request, p principal) error {
	in, err := decode[enrollapi.Renew](w, r)
	if err != nil {
		return err
	}
	csr, err := x509.ParseCertificateRequest(in.CSR)
	if err != nil {
		return refuse(ErrBadRequest, "csr is not a PKCS#10 request: %v", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return refuse(ErrKeyNotCertified, "csr signature does not verify: %v", err)
	}
	leaf := r.TLS.VerifiedChains[0][0]
	if k, ok := leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); !ok || !k.Equal(csr.PublicKey) {
		return refuse(ErrKeyNotCertified, "csr is for another key than the site certificate's; a renewal keeps the TPM-held key (a new key needs a new enrollment)")
	}
	var res enrollapi.EnrollResult
	err = s.store.Update(r.Context(), func(tx store.Tx) error {
		site, err := tx.Site(p.site.ID)
		if err != nil {
			return err
		}
		if site.Revoked {
			return refuse(ErrSiteRevoked, "site %s was revoked", site.ID)
		}
		cert, err := s.ca.SiteCert(site.ID, csr.PublicKey, s.siteCertValidity)
		if err != nil {
			return err
		}
		site.NextCert = &store.NextCert{Serial: cert.SerialNumber.Text(16), NotAfter: cert.NotAfter}
		res = enrollapi.EnrollResult{Status: enrollapi.StatusRegistered, SiteID: site.ID, Certificate: cert.Raw,
			CACertificate: s.ca.Cert.Raw, Software: site.Software, ReportIntervalSeconds: seconds(s.reportInterval),
			Message: "renewed: certificate " + site.NextCert.Serial + " until " + cert.NotAfter.UTC().Format("2006-01-02 15:04:05Z")}
		return tx.PutSite(site)
	})
	if err != nil {
		return err
	}
	s.metrics.renewals.Inc()
	s.log.Info("site certificate renewed", "site", p.site.ID, "next", res.Message)
	writeJSON(w, http.StatusOK, res)
	return nil
}

// promote makes the renewed certificate serial the site's current one.
func (s *Server) promote(ctx context.Context, siteID, serial string) error {
	return s.store.Update(ctx, func(tx store.Tx) error {
		site, err := tx.Site(siteID)
		if err != nil {
			return err
		}
		if site.NextCert == nil || site.NextCert.Serial != serial {
			return nil // promoted already by a concurrent request
		}
		site.CertSerial, site.CertNotAfter, site.NextCert = serial, site.NextCert.NotAfter, nil
		s.log.Info("renewed certificate in use; the old one is retired", "site", siteID, "serial", serial)
		return tx.PutSite(site)
	})
}
