package tower

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/skerry/skerry/services/api/towerapi"
	"github.com/skerry/skerry/services/api/uplinkapi"
	"github.com/skerry/skerry/services/streamlog"
	"github.com/skerry/skerry/services/streamlog/wire"
	"github.com/skerry/skerry/services/tower/store"
)

// The site topic API reads what sites uplinked to the embedded hub. The
// hub stores a site's tenant/name as its own topic tenant/<site>.<name>
// with dense offsets of its own; each record carries the site's offset and
// append time in headers (uplinkapi.SiteOrigin). The API speaks in site
// offsets only: a site offset is found by a binary search over the hub's
// offsets (site offsets grow with them), a time likewise.

// siteOf loads the path's site for p, hiding other tenants' sites.
func (s *Server) siteOf(r *http.Request, p principal) (store.Site, error) {
	var site store.Site
	err := s.store.View(r.Context(), func(tx store.Tx) (err error) {
		site, err = readSite(tx, r, p)
		return err
	})
	return site, err
}

// siteTopics lists the uplinked topics of site that p may see: an
// operator all, a tenant token its own tenant's (never the system
// tenant's, which is Skerry's own on every site). With now set each
// carries its lag.
func (s *Server) siteTopics(site string, p principal, now time.Time) ([]towerapi.SiteTopic, error) {
	out := []towerapi.SiteTopic{}
	if s.uplink == nil {
		return out, nil
	}
	for _, info := range s.uplink.store.Topics("") {
		owner, name, ok := strings.Cut(info.Name.Topic, ".")
		if !ok || owner != site || !p.canRead(info.Name.Tenant) {
			continue
		}
		v, err := s.siteTopicView(info, name)
		if errors.Is(err, streamlog.ErrTopicNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, err
		}
		if !now.IsZero() && !v.LastTime.IsZero() {
			v.LagSeconds = max(0, now.Sub(v.LastTime).Seconds())
		}
		out = append(out, v)
	}
	return out, nil
}

// siteTopicView describes one hub topic in the site's offsets: the first
// and last records held say where it starts and ends.
func (s *Server) siteTopicView(info streamlog.TopicInfo, name string) (towerapi.SiteTopic, error) {
	v := towerapi.SiteTopic{Tenant: info.Name.Tenant, Name: name, Records: info.Next - info.Start, Bytes: info.Bytes}
	if info.Next == info.Start {
		return v, nil
	}
	hubName := info.Name.String()
	first, err := s.uplink.store.Read(hubName, info.Start, streamlog.ReadOptions{MaxRecords: 1})
	if err != nil {
		return v, err
	}
	last, err := s.uplink.store.Read(hubName, info.Next-1, streamlog.ReadOptions{MaxRecords: 1})
	if err != nil {
		return v, err
	}
	if len(first) == 0 || len(last) == 0 {
		return v, nil
	}
	v.FirstOffset, _, _ = uplinkapi.SiteOrigin(first[0].Headers)
	off, at, ok := uplinkapi.SiteOrigin(last[0].Headers)
	if ok {
		v.NextOffset, v.LastTime = off+1, at
	}
	return v, nil
}

// listSiteTopics answers GET /v1/sites/{site}/topics.
func (s *Server) listSiteTopics(w http.ResponseWriter, r *http.Request, p principal) error {
	site, err := s.siteOf(r, p)
	if err != nil {
		return err
	}
	ts, err := s.siteTopics(site.ID, p, time.Time{})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, towerapi.List[towerapi.SiteTopic]{Items: ts})
	return nil
}

// siteTopic finds the hub topic of the path's site topic, answering
// not_found alike for a site or topic that does not exist and one p may
// not see.
func (s *Server) siteTopic(r *http.Request, p principal) (string, streamlog.TopicInfo, error) {
	site, err := s.siteOf(r, p)
	if err != nil {
		return "", streamlog.TopicInfo{}, err
	}
	tenant, name := r.PathValue("tenant"), r.PathValue("name")
	if err := (streamlog.Name{Tenant: tenant, Topic: name}).Validate(); err != nil {
		return "", streamlog.TopicInfo{}, refuse(ErrBadRequest, "topic %s/%s: %v", tenant, name, err)
	}
	missing := refuse(ErrNotFound, "site %s has uplinked no topic %s/%s to this tower", site.ID, tenant, name)
	if s.uplink == nil {
		return "", streamlog.TopicInfo{}, refuse(ErrNotFound, "this tower receives no uplinked records (its uplink listener is off)")
	}
	if !p.canRead(tenant) {
		return "", streamlog.TopicInfo{}, missing
	}
	hubName, err := uplinkapi.HubTopic(site.ID, tenant, name)
	if err != nil {
		return "", streamlog.TopicInfo{}, missing
	}
	info, err := s.uplink.store.Topic(hubName)
	if errors.Is(err, streamlog.ErrTopicNotFound) {
		return "", streamlog.TopicInfo{}, missing
	}
	return hubName, info, err
}

// searchSite returns the first hub offset in [info.Start, info.Next) whose
// record is not before(rec), or info.Next: site offsets and site times
// grow with hub offsets, so this is a binary search of single-record
// reads.
func (s *Server) searchSite(hubName string, info streamlog.TopicInfo, before func(off uint64, at time.Time) bool) (uint64, error) {
	lo, hi := info.Start, info.Next
	for lo < hi {
		mid := lo + (hi-lo)/2
		recs, err := s.uplink.store.Read(hubName, mid, streamlog.ReadOptions{MaxRecords: 1})
		if err != nil {
			return 0, err
		}
		if len(recs) == 0 {
			hi = mid
			continue
		}
		off, at, ok := uplinkapi.SiteOrigin(recs[0].Headers)
		if ok && before(off, at) {
			lo = recs[0].Offset + 1 // past any records retention dropped meanwhile
		} else {
			hi = mid
		}
	}
	return lo, nil
}

// recordView turns a hub record back into the site's: its offset and
// time, without the three headers the hub added.
func recordView(rec streamlog.Record) towerapi.TopicRecord {
	off, at, _ := uplinkapi.SiteOrigin(rec.Headers)
	hs := rec.Headers
	// A record a hub forwarded ends with the hop header after the
	// origin's three: drop those three and keep the hop, which tells
	// that the record came through a hub.
	var hop []wire.Header
	if n := len(hs); n >= 4 && hs[n-1].Key == uplinkapi.HeaderHop {
		hs, hop = hs[:n-1], hs[n-1:]
	}
	if n := len(hs); n >= 3 && hs[n-3].Key == uplinkapi.HeaderSiteOffset && hs[n-2].Key == uplinkapi.HeaderSiteTime && hs[n-1].Key == uplinkapi.HeaderSiteEpoch {
		hs = hs[:n-3]
	}
	hs = append(hs[:len(hs):len(hs)], hop...)
	v := towerapi.TopicRecord{Offset: off, Time: at, Key: rec.Key, Value: rec.Value}
	if v.Value == nil {
		v.Value = []byte{}
	}
	for _, h := range hs {
		v.Headers = append(v.Headers, towerapi.RecordHeader{Key: h.Key, Value: h.Value})
	}
	return v
}
