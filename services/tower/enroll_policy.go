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
// transaction (see match for the order). A box without a TPM, or whose EK
// no trusted maker certified, is a software identity: it lands only in a
// tenant that allows software identity.
func (s *Server) decide(tx store.Tx, ch store.Challenge, pub crypto.PublicKey) (enrollapi.EnrollResult, error) {
	m, err := s.match(tx, ch)
	if err != nil {
		return enrollapi.EnrollResult{}, err
	}
	switch {
	case m.site != nil:
		site := *m.site
		if err := allowSoftware(tx, ch, site.Tenant); err != nil {
			return enrollapi.EnrollResult{}, err
		}
		site.Enrollments++
		return s.register(tx, ch, site, pub, "re-enrolled by operator permission")
	case m.claim != nil:
		c := *m.claim
		if err := allowSoftware(tx, ch, c.Tenant); err != nil {
			return enrollapi.EnrollResult{}, err
		}
		site := s.newSite(ch, c.Tenant, c.SiteName, c.Labels, "claim")
		c.UsedBy = site.ID
		if err := tx.PutClaim(c); err != nil {
			return enrollapi.EnrollResult{}, err
		}
		return s.register(tx, ch, site, pub, "registered by claim "+c.ID)
	case m.token != nil:
		t := *m.token
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
	if ch.EKHash == "" {
		return enrollapi.EnrollResult{}, refuse(ErrSoftwareNotAllowed, "a box without a TPM needs an enrollment token (or an operator's claim on its serial), in a tenant that allows software identity")
	}
	return s.queue(tx, ch, pub)
}

// matched is what decides an enrollment: at most one of its fields is set;
// none means the pending queue.
type matched struct {
	site  *store.Site        // the EK's site, allowed to re-enroll
	claim *store.Claim       // an unused claim on the EK or serial
	token *store.EnrollToken // a usable enrollment token
}

// match finds what decides the enrollment of a box, and enforces the
// tenant boundary: a box lands in a tenant only if nothing that speaks
// for it names another one. What speaks for a box is, strongest first,
// the enrollment token its owner put in its site config (the token's
// tenant, whatever the token's state), then claims on its EK hash and
// serial. So:
//
//  1. An EK that belongs to a site: refused (revoked, or taken), unless
//     the site may re-enroll once; refused tenant_conflict when the box
//     carries another tenant's token.
//  2. Claims on the EK hash, then on the serial, of the token's tenant
//     only when the box carries a known token: a claim of another tenant
//     never takes a box whose token speaks for its owner. Claims of two
//     tenants on one box are refused tenant_conflict for an operator to
//     resolve.
//  3. The enrollment token: used, or refused when it cannot be.
//  4. Nothing: the pending queue (boxes with a TPM only).
func (s *Server) match(tx store.Tx, ch store.Challenge) (matched, error) {
	var tok *store.EnrollToken
	var tokErr error
	if ch.TokenHash != nil {
		t, err := s.knownToken(tx, ch.TokenHash)
		if err == nil {
			tok = &t
		} else {
			tokErr = err
		}
		if tokErr != nil && !errors.Is(tokErr, ErrTokenUnknown) {
			return matched{}, tokErr
		}
	}
	if ch.EKHash != "" {
		site, err := s.siteForEK(tx, ch.EKHash)
		if err == nil {
			if tok != nil && tok.Tenant != site.Tenant {
				s.log.Warn("re-enrollment refused: the box carries another tenant's enrollment token", "ek_hash", ch.EKHash, "site", site.ID, "site_tenant", site.Tenant, "token", tok.ID, "token_tenant", tok.Tenant)
				return matched{}, refuse(ErrTenantConflict, "this box's EK belongs to a site of another tenant than its enrollment token's; an operator must resolve it (the tower log names both)")
			}
			return matched{site: &site}, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return matched{}, err
		}
	}
	var only string
	if tok != nil {
		only = tok.Tenant
	}
	c, err := s.claimFor(tx, ch, only)
	if err != nil || c != nil {
		return matched{claim: c}, err
	}
	if ch.TokenHash != nil {
		if tokErr != nil {
			return matched{}, tokErr
		}
		if err := s.tokenUsable(*tok); err != nil {
			return matched{}, err
		}
		return matched{token: tok}, nil
	}
	return matched{}, nil
}

// siteForEK returns the site that holds ekHash if the box may enroll as
// it again, refusals otherwise, and store.ErrNotFound for a new EK. Only
// finish, after the box proved it holds the EK, sends these refusals (see
// precheck), so they may name the box's own site.
func (s *Server) siteForEK(tx store.Tx, ekHash string) (store.Site, error) {
	site, err := tx.SiteByEK(ekHash)
	if err != nil {
		return site, err
	}
	if site.Revoked {
		return site, refuse(ErrSiteRevoked, "EK %s belongs to site %s (%s/%s), revoked at %s; it cannot enroll again", ekHash, site.ID, site.Tenant, site.Name, site.RevokedAt.Format("2006-01-02 15:04:05Z07:00"))
	}
	if !site.ReenrollAllowed {
		return site, refuse(ErrEKRegistered, "EK %s is already registered as site %s (%s/%s); if that box lost its identity, allow it once: skerryctl tower sites reenroll %s", ekHash, site.ID, site.Tenant, site.Name, site.ID)
	}
	return site, nil
}

// claimFor returns the unused claim matching the box, on its EK first,
// which the box proved, then on its serial, which it only says; only
// claims of tenant when set. Claims of more than one tenant are a
// conflict.
func (s *Server) claimFor(tx store.Tx, ch store.Challenge, tenant string) (*store.Claim, error) {
	var ids []string
	if ch.EKHash != "" {
		ids = append(ids, claimEK+ch.EKHash)
	}
	if ch.Serial != "" {
		ids = append(ids, claimSerial+ch.Serial)
	}
	var found []store.Claim
	for _, id := range ids {
		cs, err := tx.ClaimsOn(id)
		if err != nil {
			return nil, err
		}
		for _, c := range cs {
			switch {
			case c.UsedBy != "":
			case tenant != "" && c.Tenant != tenant:
				s.log.Warn("claim ignored: the box carries another tenant's enrollment token", "claim", c.ID, "claim_tenant", c.Tenant, "token_tenant", tenant, "ek_hash", ch.EKHash)
			default:
				found = append(found, c)
			}
		}
	}
	if len(found) == 0 {
		return nil, nil
	}
	for _, c := range found[1:] {
		if c.Tenant != found[0].Tenant {
			s.log.Warn("enrollment refused: claims of two tenants match the box", "ek_hash", ch.EKHash, "serial", ch.Serial, "tenant_a", found[0].Tenant, "claim_a", found[0].ID, "tenant_b", c.Tenant, "claim_b", c.ID)
			return nil, refuse(ErrTenantConflict, "claims of more than one tenant match this box; an operator must resolve it (the tower log names them)")
		}
	}
	return &found[0], nil
}

// knownToken returns the token with this hash, whatever its state.
func (s *Server) knownToken(tx store.Tx, hash []byte) (store.EnrollToken, error) {
	id := hex.EncodeToString(hash[:8])
	t, err := tx.EnrollToken(id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !sameHash(t.Hash, hash)) {
		return t, refuse(ErrTokenUnknown, "the enrollment token in the site config is not known to this tower; create one with skerryctl tower tokens create and put it in the site config")
	}
	return t, err
}

// tokenUsable refuses a token that cannot enroll a box now. The box holds
// the token, so the message may name its tenant.
func (s *Server) tokenUsable(t store.EnrollToken) error {
	switch tokenState(t, s.now()) {
	case "revoked":
		return refuse(ErrTokenRevoked, "enrollment token %s (tenant %s) was revoked; create a new one with skerryctl tower tokens create", t.ID, t.Tenant)
	case "expired":
		return refuse(ErrTokenExpired, "enrollment token %s (tenant %s) expired at %s; create a new one with skerryctl tower tokens create", t.ID, t.Tenant, t.ExpiresAt.Format("2006-01-02 15:04:05Z07:00"))
	case "used-up":
		return refuse(ErrTokenUsedUp, "enrollment token %s (tenant %s) was used %d of %d times; create a new one or claim the box", t.ID, t.Tenant, t.Uses, t.MaxUses)
	}
	return nil
}

// allowSoftware refuses a software identity in a tenant that does not
// allow it.
func allowSoftware(tx store.Tx, ch store.Challenge, tenant string) error {
	if !softwareIdentity(ch) {
		return nil
	}
	t, err := tenantExists(tx, tenant)
	if err != nil {
		return err
	}
	if !t.AllowSoftwareIdentity {
		what := "boxes without a TPM"
		if ch.EKHash != "" {
			what = "TPMs whose EK certificate no trusted TPM maker signed (software identities)"
		}
		return refuse(ErrSoftwareNotAllowed, "tenant %s takes hardware identities only, not %s; an operator can allow them: skerryctl tower tenants update %s --allow-software-identity, or trust the TPM's maker: tower -ek-roots", tenant, what, tenant)
	}
	return nil
}

// softwareIdentity reports whether the box is a software identity: no
// TPM, or a TPM whose EK no trusted maker certified (any software TPM can
// make an EK).
func softwareIdentity(ch store.Challenge) bool {
	return ch.Software || !ch.EKTrusted
}

// newSite makes the record of a site that registers now; the certificate
// fields are filled by register.
func (s *Server) newSite(ch store.Challenge, tenant, name string, labels map[string]string, via string) store.Site {
	return store.Site{
		ID: newID("site-"), Name: name, Tenant: tenant, Labels: labels, EKHash: ch.EKHash,
		Serial: ch.Serial, Hostname: ch.Hostname, Software: softwareIdentity(ch), EnrolledVia: via,
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
	site.EnrolledAt, site.ReenrollAllowed, site.NextCert = s.now(), false, nil
	if ch.Hostname != "" {
		site.Hostname = ch.Hostname
	}
	if err := tx.PutSite(site); errors.Is(err, store.ErrExists) {
		s.log.Warn("cannot register site", "name", site.Name, "tenant", site.Tenant, "err", err)
		return enrollapi.EnrollResult{}, refuse(ErrConflict, "the site name chosen for this box is taken; an operator must change the claim's or approval's name (the tower log says which)")
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
		if err := allowSoftware(tx, ch, e.Tenant); err != nil {
			return enrollapi.EnrollResult{}, err
		}
		site := s.newSite(ch, e.Tenant, e.SiteName, e.Labels, "approval")
		return s.register(tx, ch, site, pub, "registered by approval of "+e.DecidedBy)
	}
	e.Serial, e.Hostname, e.AgentVersion, e.ImageVersion, e.HasEKCert = ch.Serial, ch.Hostname, ch.Agent, ch.Image, ch.HasEKCert
	e.EKTrusted = ch.EKTrusted
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
		Message: fmt.Sprintf("EK %s waits for an operator: skerryctl tower sites approve %s --tenant TENANT --name NAME; enroll again in %ds", ch.EKHash, ch.EKHash, retry)}, nil
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
