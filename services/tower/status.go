package tower

import (
	"net/http"
	"strconv"

	"github.com/skerry/skerry/services/api/enrollapi"
	"github.com/skerry/skerry/services/api/secretapi"
	"github.com/skerry/skerry/services/api/workloadapi"
	"github.com/skerry/skerry/services/tower/store"
)

// siteStatus records a status report. The site is the one the verified
// client certificate names: the path says "self", the body names nobody.
func (s *Server) siteStatus(w http.ResponseWriter, r *http.Request, p principal) error {
	in, err := decode[enrollapi.StatusReport](w, r)
	if err != nil {
		return err
	}
	if err := checkTexts(textField{"agentVersion", in.AgentVersion, 128}, textField{"imageVersion", in.ImageVersion, 128}, textField{"bootId", in.BootID, 64}); err != nil {
		return err
	}
	if err := checkAppStatuses(in.Apps); err != nil {
		return err
	}
	if err := checkVaultKey(in.VaultKey); err != nil {
		return err
	}
	vault, err := storedVaultReport(in.Vault)
	if err != nil {
		return err
	}
	now := s.now()
	var wasOnline, newKey bool
	var site store.Site
	err = s.store.Update(r.Context(), func(tx store.Tx) (err error) {
		// Read again inside the transaction: authSite's copy may be stale.
		if site, err = tx.Site(p.site.ID); err != nil {
			return err
		}
		if site.Revoked {
			return refuse(ErrSiteRevoked, "site %s was revoked", site.ID)
		}
		wasOnline = s.online(site, now)
		if site.FirstSeen.IsZero() {
			site.FirstSeen = now
		}
		site.LastSeen, site.AgentVersion, site.ImageVersion = now, in.AgentVersion, in.ImageVersion
		site.BootID, site.UptimeSeconds, site.Apps = in.BootID, in.UptimeSeconds, in.Apps
		site.Vault = vault
		newKey = noteVaultKey(&site, in.VaultKey)
		return tx.PutSite(site)
	})
	if err != nil {
		return err
	}
	if newKey {
		s.log.Info("site vault key", "site", site.ID, "key_id", secretapi.KeyID(in.VaultKey))
		s.desired.changed() // its secrets can be sealed now
	}
	s.metrics.reports.Inc()
	s.rollouts.pokeIfActive()
	if !wasOnline {
		s.log.Info("site online", "site", site.ID, "tenant", site.Tenant, "name", site.Name, "boot_id", in.BootID, "agent", in.AgentVersion, "image", in.ImageVersion)
	}
	w.Header().Set(enrollapi.HeaderReportInterval, strconv.Itoa(seconds(s.reportInterval)))
	if addr := s.uplinkAddress(r); addr != "" {
		w.Header().Set(enrollapi.HeaderUplinkAddress, addr)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// checkAppStatuses bounds the app statuses of a report and refuses text
// unsafe to show, as for every other reported field.
func checkAppStatuses(apps []workloadapi.Status) error {
	if len(apps) > enrollapi.MaxReportApps {
		return refuse(ErrBadRequest, "%d app statuses: at most %d", len(apps), enrollapi.MaxReportApps)
	}
	for i, a := range apps {
		at := "apps[" + strconv.Itoa(i) + "]."
		err := checkTexts(textField{at + "tenant", a.Tenant, 64}, textField{at + "name", a.Name, 64},
			textField{at + "state", a.State, 32}, textField{at + "health", a.Health, 32},
			textField{at + "lastExit", a.LastExit, enrollapi.MaxReportText}, textField{at + "error", a.Error, enrollapi.MaxReportText},
			textField{at + "healthError", a.HealthError, enrollapi.MaxReportText})
		if err != nil {
			return err
		}
	}
	return nil
}
