package api

import (
	"fmt"
	"net/http"

	"github.com/skerry/skerry/services/streamlog"
	"github.com/skerry/skerry/services/streamlog/wire"
)

func (s *Server) listTopics(w http.ResponseWriter, r *http.Request, p Principal) error {
	tenant := p.Tenant
	if p.System {
		tenant = r.URL.Query().Get("tenant") // empty: all tenants
	}
	out := []wire.TopicInfo{}
	for _, t := range s.store.Topics(tenant) {
		out = append(out, infoToWire(t))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) createTopic(w http.ResponseWriter, r *http.Request, p Principal) error {
	var req wire.CreateTopicRequest
	if err := wire.DecodeJSON(r.Body, &req); err != nil {
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
	writeJSON(w, http.StatusCreated, infoToWire(info))
	return nil
}

func (s *Server) getTopic(w http.ResponseWriter, r *http.Request, p Principal) error {
	name, err := s.topicName(r, p)
	if err != nil {
		return err
	}
	info, err := s.store.Topic(name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, infoToWire(info))
	return nil
}

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
