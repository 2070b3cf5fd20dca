package tower

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/skerry/skerry/services/api/towerapi"
	"github.com/skerry/skerry/services/api/uplinkapi"
	"github.com/skerry/skerry/services/httpjson"
	"github.com/skerry/skerry/services/streamlog"
)

// sendControl answers POST /v1/sites/{site}/control: the body, one JSON
// value of at most maxBody bytes, becomes a record of the embedded hub's
// downlink/<site> topic, which the hub delivers to the site's uplink (its
// system/downlink) while the site is connected. Operators and the site
// tenant's admins may send; other tenants' sites are not found.
func (s *Server) sendControl(w http.ResponseWriter, r *http.Request, p principal) error {
	if s.uplink == nil || s.uplink.store == nil {
		return &httpjson.Error{Status: http.StatusServiceUnavailable, Code: httpjson.CodeUnavailable,
			Message: "this tower runs without its embedded hub (-uplink-listen off), so it cannot send control records to sites; start it with -uplink-listen"}
	}
	site, err := s.siteOf(r, p)
	if err != nil {
		return err
	}
	if err := p.mayWrite(site.Tenant); err != nil {
		return err
	}
	if site.Revoked {
		return refuse(ErrSiteRevoked, "site %s is revoked; it no longer connects to receive control records", site.ID)
	}
	raw, err := decode[json.RawMessage](w, r)
	if err != nil {
		return err
	}
	var value bytes.Buffer
	if err := json.Compact(&value, raw); err != nil {
		return refuse(ErrBadRequest, "control record is not valid JSON: %v", err)
	}
	var text string
	if json.Unmarshal(raw, &text) == nil {
		if err := checkText("control record", text, maxBody); err != nil {
			return err
		}
	}
	name := uplinkapi.DownlinkTopic(site.ID)
	if _, err := s.uplink.store.Topic(name); errors.Is(err, streamlog.ErrTopicNotFound) {
		// The same configuration as the hub's downlink sender creates it with.
		if _, err := s.uplink.store.CreateTopic(name, streamlog.TopicConfig{}); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	ack, err := s.uplink.store.Append(r.Context(), name, streamlog.Batch{Records: []streamlog.Record{{Value: value.Bytes()}}})
	if err != nil {
		return err
	}
	s.log.Info("control record queued", "site", site.ID, "tenant", site.Tenant, "offset", ack.First, "bytes", value.Len(), "by", p.String())
	writeJSON(w, http.StatusOK, towerapi.ControlSent{Site: site.ID, Topic: name, Offset: ack.First})
	return nil
}
