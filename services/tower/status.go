package tower

import (
	"net/http"
	"strconv"

	"github.com/skerry/skerry/services/api/enrollapi"
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
	now := s.now()
	var wasOnline bool
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
		site.BootID, site.UptimeSeconds = in.BootID, in.UptimeSeconds
		return tx.PutSite(site)
	})
	if err != nil {
		return err
	}
	s.metrics.reports.Inc()
	if !wasOnline {
		s.log.Info("site online", "site", site.ID, "tenant", site.Tenant, "name", site.Name, "boot_id", in.BootID, "agent", in.AgentVersion, "image", in.ImageVersion)
	}
	w.Header().Set(enrollapi.HeaderReportInterval, strconv.Itoa(seconds(s.reportInterval)))
	w.WriteHeader(http.StatusNoContent)
	return nil
}
