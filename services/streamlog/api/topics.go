package api

import (
	"fmt"
	"net/http"

	"github.com/skerry/skerry/services/httpjson"
	"github.com/skerry/skerry/services/streamlog"
	"github.com/skerry/skerry/services/streamlog/wire"
)

// listTopics lists the caller's tenant's topics. Only the system token may
// name another tenant (or none, for all): a tenant token cannot even ask.
func (s *Server) listTopics(w http.ResponseWriter, r *http.Request, p Principal) error {
	tenant := p.Tenant
	if p.System {
		tenant = r.URL.Query().Get("tenant") // empty: all tenants
	}
	out := []wire.TopicInfo{}
	for _, t := range s.store.Topics(tenant) {
		out = append(out, infoToWire(t))
	}
	httpjson.Write(w, http.StatusOK, out)
	return nil
}

// createTopic checks the tenant against the token before the store sees the
// name, so a tenant cannot probe another's topics by trying to create them.
func (s *Server) createTopic(w http.ResponseWriter, r *http.Request, p Principal) error {
	var req wire.CreateTopicRequest
	if err := httpjson.Decode(w, r, wire.MaxJSONBytes, &req); err != nil {
		return err
	}
	n, err := streamlog.ParseName(req.Name)
	if err != nil {
		return err
	}
	if !p.may(n.Tenant) {
		return apiError(http.StatusForbidden, wire.ErrForbidden,
			fmt.Sprintf("the token of tenant %q may not create topics of tenant %q", p.Tenant, n.Tenant))
	}
	cfg, err := configFromWire(req.Config)
	if err != nil {
		return err
	}
	info, err := s.store.CreateTopic(n.String(), cfg)
	if err != nil {
		return err
	}
	httpjson.Write(w, http.StatusCreated, infoToWire(info))
	return nil
}

// getTopic describes one topic; see topicName for why a foreign tenant's
// topic and a missing one look the same from outside.
func (s *Server) getTopic(w http.ResponseWriter, r *http.Request, p Principal) error {
	name, err := s.topicName(r, p)
	if err != nil {
		return err
	}
	info, err := s.store.Topic(name)
	if err != nil {
		return err
	}
	httpjson.Write(w, http.StatusOK, infoToWire(info))
	return nil
}

// deleteTopic deletes a topic and its cursors; its disk is freed as the
// segments holding its records are dropped or compacted.
func (s *Server) deleteTopic(w http.ResponseWriter, r *http.Request, p Principal) error {
	name, err := s.topicName(r, p)
	if err != nil {
		return err
	}
	if err := s.store.DeleteTopic(name); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
