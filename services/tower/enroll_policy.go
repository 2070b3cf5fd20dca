package tower

import (
	"crypto"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/skerry/skerry/services/api/enrollapi"
	"github.com/skerry/skerry/services/tower/store"
)

// decide applies the enrollment policy to a proven box, in one
// transaction, in this order:
//
//  1. An EK that belongs to a site: refused (revoked, or taken), unless an
//     operator allowed that site one re-enrollment.
//  2. A claim on the EK hash, then on the serial: registered as claimed.
//  3. An enrollment token: registered into its tenant, or refused when the
//     token cannot be used.
//  4. Otherwise the pending queue: pending, approved (registered now) or
//     rejected.
//
// A box without a TPM stops after step 3: nothing it says could be
// checked by an operator approving it.
func (s *Server) decide(tx store.Tx, ch store.Challenge, pub crypto.PublicKey) (enrollapi.EnrollResult, error) {
	if ch.EKHash != "" {
		site, err := s.siteForEK(tx, ch.EKHash)
		if err == nil {
			site.Enrollments++
			return s.register(tx, ch, site, pub, "re-enrolled by operator permission")
		}
		if !errors.Is(err, store.ErrNotFound) {
			return enrollapi.EnrollResult{}, err
		}
	}
	if c, ok := s.claimFor(tx, ch); ok {
		if err := allowSoftware(tx, ch, c.Tenant); err != nil {
			return enrollapi.EnrollResult{}, err
		}
		site := s.newSite(ch, c.Tenant, c.SiteName, c.Labels, "claim")
		c.UsedBy = site.ID
		if err := tx.PutClaim(c); err != nil {
			return enrollapi.EnrollResult{}, err
		}
		return s.register(tx, ch, site, pub, "registered by claim "+c.ID)
	}
	if ch.TokenHash != nil {
		t, err := s.usableToken(tx, ch.TokenHash)
		if err != nil {
			return enrollapi.EnrollResult{}, err
		}
		if err := allowSoftware(tx, ch, t.Tenant); err != nil {
			return enrollapi.EnrollResult{}, err
		}
		t.Uses++
		if err := tx.PutEnrollToken(t); err != nil {
			return enrollapi.EnrollResult{}, err
		}
		site := s.newSite(ch, t.Tenant, freeName(tx, t.Tenant, ch.Hostname), t.Labels, "token:"+t.ID)
		return s.register(tx, ch, site, pub, "registered by enrollment token "+t.ID)
	}
	if ch.Software {
		return enrollapi.EnrollResult{}, refuse(ErrSoftwareNotAllowed, "a box without a TPM needs an enrollment token or a claim on its serial %q, in a tenant that allows software identity", ch.Serial)
	}
	return s.queue(tx, ch, pub)
}

// siteForEK returns the site that holds ekHash if the box may enroll as
// it again, refusals otherwise, and store.ErrNotFound for a new EK.
func (s *Server) siteForEK(tx store.Tx, ekHash string) (store.Site, error) {
	site, err := tx.SiteByEK(ekHash)
	if err != nil {
		return site, err
	}
	if site.Revoked {
		return site, refuse(ErrSiteRevoked, "EK %s belongs to site %s (%s/%s), revoked at %s; it cannot enroll again", ekHash, site.ID, site.Tenant, site.Name, site.RevokedAt.Format("2006-01-02 15:04:05Z07:00"))
	}
	if !site.ReenrollAllowed {
		return site, refuse(ErrEKRegistered, "EK %s is already registered as site %s (%s/%s); if that box lost its identity, allow it once: skerryctl sites reenroll %s", ekHash, site.ID, site.Tenant, site.Name, site.ID)
	}
	return site, nil
}

// claimFor returns the unused claim matching the box: on its EK first,
// which the box proved, then on its serial, which it only says.
func (s *Server) claimFor(tx store.Tx, ch store.Challenge) (store.Claim, bool) {
	var ids []string
	if ch.EKHash != "" {
		ids = append(ids, claimEK+ch.EKHash)
	}
	if ch.Serial != "" {
		ids = append(ids, claimSerial+ch.Serial)
	}
	for _, id := range ids {
		if c, err := tx.Claim(id); err == nil && c.UsedBy == "" {
			return c, true
		}
	}
	return store.Claim{}, false
}

// hasClaim reports whether a claim will decide the enrollment, in which
// case the token is not looked at (and not spent).
func (s *Server) hasClaim(tx store.Tx, ch store.Challenge) bool {
	_, ok := s.claimFor(tx, ch)
	return ok
}

// usableToken returns the token with this hash if it can enroll a box.
func (s *Server) usableToken(tx store.Tx, hash []byte) (store.EnrollToken, error) {
	id := hex.EncodeToString(hash[:8])
	t, err := tx.EnrollToken(id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !sameHash(t.Hash, hash)) {
		return t, refuse(ErrTokenUnknown, "the enrollment token in the site config is not known to this tower; create one with skerryctl tokens create and put it in the site config")
	}
	if err != nil {
		return t, err
	}
	switch tokenState(t, s.now()) {
	case "revoked":
		return t, refuse(ErrTokenRevoked, "enrollment token %s (tenant %s) was revoked; create a new one with skerryctl tokens create", t.ID, t.Tenant)
	case "expired":
		return t, refuse(ErrTokenExpired, "enrollment token %s (tenant %s) expired at %s; create a new one with skerryctl tokens create", t.ID, t.Tenant, t.ExpiresAt.Format("2006-01-02 15:04:05Z07:00"))
	case "used-up":
		return t, refuse(ErrTokenUsedUp, "enrollment token %s (tenant %s) was used %d of %d times; create a new one or claim the box", t.ID, t.Tenant, t.Uses, t.MaxUses)
	}
	return t, nil
}

// allowSoftware refuses a software identity in a tenant that does not
// allow it.
func allowSoftware(tx store.Tx, ch store.Challenge, tenant string) error {
	if !ch.Software {
		return nil
	}
	t, err := tenantExists(tx, tenant)
	if err != nil {
		return err
	}
	if !t.AllowSoftwareIdentity {
		return refuse(ErrSoftwareNotAllowed, "tenant %s does not allow boxes without a TPM; an operator can allow it: skerryctl tenants update %s --allow-software-identity", tenant, tenant)
	}
	return nil
}

// newSite makes the record of a site that registers now; the certificate
// fields are filled by register.
func (s *Server) newSite(ch store.Challenge, tenant, name string, labels map[string]string, via string) store.Site {
	return store.Site{
		ID: newID("site-"), Name: name, Tenant: tenant, Labels: labels, EKHash: ch.EKHash,
		Serial: ch.Serial, Hostname: ch.Hostname, Software: ch.Software, EnrolledVia: via,
		AgentVersion: ch.Agent, ImageVersion: ch.Image, Enrollments: 1,
	}
}

// register issues the certificate and stores the site.
func (s *Server) register(tx store.Tx, ch store.Challenge, site store.Site, pub crypto.PublicKey, msg string) (enrollapi.EnrollResult, error) {
	cert, err := s.ca.SiteCert(site.ID, pub, s.siteCertValidity)
	if err != nil {
		return enrollapi.EnrollResult{}, err
	}
	site.CertSerial, site.CertNotAfter = cert.SerialNumber.Text(16), cert.NotAfter
	site.EnrolledAt, site.ReenrollAllowed = s.now(), false
	if ch.Hostname != "" {
		site.Hostname = ch.Hostname
	}
	if err := tx.PutSite(site); errors.Is(err, store.ErrExists) {
		return enrollapi.EnrollResult{}, refuse(ErrConflict, "cannot register site %q in tenant %s: %v; change the claim's or approval's name", site.Name, site.Tenant, err)
	} else if err != nil {
		return enrollapi.EnrollResult{}, fmt.Errorf("store site: %w", err)
	}
	if ch.EKHash != "" {
		if err := tx.DeletePending(ch.EKHash); err != nil && !errors.Is(err, store.ErrNotFound) {
			return enrollapi.EnrollResult{}, err
		}
	}
	return enrollapi.EnrollResult{
		Status: enrollapi.StatusRegistered, SiteID: site.ID, Certificate: cert.Raw,
		CACertificate: s.ca.Cert.Raw, Software: site.Software,
		ReportIntervalSeconds: seconds(s.reportInterval),
		Message:               fmt.Sprintf("%s as site %s (%s/%s)", msg, site.ID, site.Tenant, site.Name),
	}, nil
}

// queue puts the box in the pending queue, or registers or rejects it as
// an operator decided.
func (s *Server) queue(tx store.Tx, ch store.Challenge, pub crypto.PublicKey) (enrollapi.EnrollResult, error) {
	now := s.now()
	e, err := tx.Pending(ch.EKHash)
	switch {
	case errors.Is(err, store.ErrNotFound):
		n, err := tx.PendingCount()
		if err != nil {
			return enrollapi.EnrollResult{}, err
		}
		if n >= s.maxPending {
			return enrollapi.EnrollResult{}, refuse(ErrPendingFull, "the pending queue holds %d boxes, its maximum; an operator must approve or reject some", n)
		}
		e = store.Pending{EKHash: ch.EKHash, FirstSeen: now, State: store.PendingWaiting}
	case err != nil:
		return enrollapi.EnrollResult{}, err
	case e.State == store.PendingApproved:
		site := s.newSite(ch, e.Tenant, e.SiteName, e.Labels, "approval")
		return s.register(tx, ch, site, pub, "registered by approval of "+e.DecidedBy)
	}
	e.Serial, e.Hostname, e.AgentVersion, e.ImageVersion, e.HasEKCert = ch.Serial, ch.Hostname, ch.Agent, ch.Image, ch.HasEKCert
	e.LastSeen = now
	e.Attempts++
	if err := tx.PutPending(e); err != nil {
		return enrollapi.EnrollResult{}, err
	}
	retry := seconds(s.pendingRetry)
	if e.State == store.PendingRejected {
		return enrollapi.EnrollResult{Status: enrollapi.StatusRejected, RetryAfterSeconds: retry,
			Message: fmt.Sprintf("an operator rejected EK %s; only a claim or an enrollment token can register this box now", ch.EKHash)}, nil
	}
	return enrollapi.EnrollResult{Status: enrollapi.StatusPending, RetryAfterSeconds: retry,
		Message: fmt.Sprintf("EK %s waits for an operator: skerryctl sites approve %s --tenant TENANT --name NAME; enroll again in %ds", ch.EKHash, ch.EKHash, retry)}, nil
}

// seconds rounds d down to whole seconds for the wire, at least one, so a
// short interval in a test never tells an agent to spin.
func seconds(d time.Duration) int {
	n := int(d.Seconds())
	if n < 1 {
		n = 1
	}
	return n
}

var notName = regexp.MustCompile(`[^a-z0-9-]+`)

// freeName derives a site name from the hostname, unique in the tenant.
func freeName(tx store.Tx, tenant, hostname string) string {
	base := strings.Trim(notName.ReplaceAllString(strings.ToLower(hostname), "-"), "-")
	if len(base) > 40 {
		base = strings.Trim(base[:40], "-")
	}
	if base == "" {
		base = "site"
	}
	name := base
	for i := 2; ; i++ {
		if _, err := tx.SiteByName(tenant, name); errors.Is(err, store.ErrNotFound) {
			return name
		}
		name = fmt.Sprintf("%s-%d", base, i)
	}
}
