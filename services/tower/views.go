package tower

import (
	"time"

	"github.com/skerry/skerry/services/api/towerapi"
	"github.com/skerry/skerry/services/tower/store"
)

// Conversions from stored records to wire types: what is shown never
// includes a stored hash, and a site always carries its online state and
// its software-identity flag.

// tenantView shows a tenant as stored; it holds no secret.
func tenantView(t store.Tenant) towerapi.Tenant {
	return towerapi.Tenant{ID: t.ID, Name: t.Name, AllowSoftwareIdentity: t.AllowSoftwareIdentity, CreatedAt: t.CreatedAt, Quota: t.Quota}
}

// operatorTokenView drops the hash.
func operatorTokenView(t store.OperatorToken) towerapi.OperatorToken {
	return towerapi.OperatorToken{ID: t.ID, Name: t.Name, Role: t.Role, Tenant: t.Tenant, CreatedAt: t.CreatedAt, CreatedBy: t.CreatedBy, Revoked: t.Revoked}
}

// enrollTokenView drops the hash and adds the state as of now.
func enrollTokenView(t store.EnrollToken, now time.Time) towerapi.EnrollToken {
	return towerapi.EnrollToken{
		ID: t.ID, Tenant: t.Tenant, Description: t.Description, Labels: t.Labels,
		ExpiresAt: t.ExpiresAt, MaxUses: t.MaxUses, Uses: t.Uses, Revoked: t.Revoked,
		CreatedAt: t.CreatedAt, State: tokenState(t, now),
	}
}

// tokenState says whether an enrollment token can be used, and if not why.
func tokenState(t store.EnrollToken, now time.Time) string {
	switch {
	case t.Revoked:
		return "revoked"
	case !now.Before(t.ExpiresAt):
		return "expired"
	case t.MaxUses > 0 && t.Uses >= t.MaxUses:
		return "used-up"
	}
	return "valid"
}

// claimView shows a claim as stored.
func claimView(c store.Claim) towerapi.Claim {
	return towerapi.Claim{ID: c.ID, Tenant: c.Tenant, SiteName: c.SiteName, Labels: c.Labels, CreatedAt: c.CreatedAt, UsedBy: c.UsedBy}
}

// pendingView omits who decided; the log has it.
func pendingView(p store.Pending) towerapi.Pending {
	return towerapi.Pending{
		EKHash: p.EKHash, Serial: p.Serial, Hostname: p.Hostname, AgentVersion: p.AgentVersion,
		ImageVersion: p.ImageVersion, HasEKCertificate: p.HasEKCert, SoftwareIdentity: !p.EKTrusted, FirstSeen: p.FirstSeen,
		LastSeen: p.LastSeen, Attempts: p.Attempts, State: p.State, Tenant: p.Tenant,
		SiteName: p.SiteName, Labels: p.Labels,
	}
}

// siteView adds the online flag and state, computed at read time, and
// always carries softwareIdentity so no view can leave it out.
func (s *Server) siteView(v store.Site, now time.Time) towerapi.Site {
	state := towerapi.SiteOffline
	switch {
	case v.Revoked:
		state = towerapi.SiteRevoked
	case s.online(v, now):
		state = towerapi.SiteOnline
	case v.LastSeen.IsZero():
		state = towerapi.SiteNeverReported
	}
	return towerapi.Site{
		ID: v.ID, Name: v.Name, Tenant: v.Tenant, Labels: v.Labels, EKHash: v.EKHash,
		Serial: v.Serial, Hostname: v.Hostname, SoftwareIdentity: v.Software,
		CertificateSerial: v.CertSerial, CertificateNotAfter: v.CertNotAfter,
		EnrolledVia: v.EnrolledVia, EnrolledAt: v.EnrolledAt, FirstSeen: v.FirstSeen,
		LastSeen: v.LastSeen, Online: state == towerapi.SiteOnline, State: state,
		AgentVersion: v.AgentVersion, ImageVersion: v.ImageVersion, BootID: v.BootID,
		UptimeSeconds: v.UptimeSeconds, Revoked: v.Revoked, RevokedAt: v.RevokedAt,
		ReenrollAllowed: v.ReenrollAllowed, Apps: v.Apps, Vault: siteVaultReport(v.Vault),
	}
}

// mapSlice converts a page of records.
func mapSlice[T, U any](in []T, f func(T) U) []U {
	out := make([]U, 0, len(in))
	for _, v := range in {
		out = append(out, f(v))
	}
	return out
}
