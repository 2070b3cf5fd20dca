package api

import (
	"net/http"

	"github.com/skerry/skerry/services/httpjson"
	"github.com/skerry/skerry/services/streamlog"
	"github.com/skerry/skerry/services/streamlog/wire"
)

// listCursors shows every consumer of a topic with its lag, for operators
// and for the uplink's health checks.
func (s *Server) listCursors(w http.ResponseWriter, r *http.Request, p Principal) error {
	name, err := s.topicName(r, p)
	if err != nil {
		return err
	}
	cs, err := s.store.Cursors(name)
	if err != nil {
		return err
	}
	info, err := s.store.Topic(name)
	if err != nil {
		return err
	}
	out := []wire.Cursor{}
	for _, c := range cs {
		out = append(out, cursorToWire(c, info.Next))
	}
	httpjson.Write(w, http.StatusOK, out)
	return nil
}

func (s *Server) getCursor(w http.ResponseWriter, r *http.Request, p Principal) error {
	name, err := s.topicName(r, p)
	if err != nil {
		return err
	}
	c, err := s.store.GetCursor(name, r.PathValue("consumer"))
	if err != nil {
		return err
	}
	info, err := s.store.Topic(name)
	if err != nil {
		return err
	}
	httpjson.Write(w, http.StatusOK, cursorToWire(c, info.Next))
	return nil
}

// commitCursor stores a consumer's position. The body's offset is a pointer
// so that a missing field is an error rather than a silent commit of 0,
// which would make the consumer replay the whole topic.
func (s *Server) commitCursor(w http.ResponseWriter, r *http.Request, p Principal) error {
	name, err := s.topicName(r, p)
	if err != nil {
		return err
	}
	var req wire.CommitRequest
	if err := httpjson.Decode(w, r, wire.MaxJSONBytes, &req); err != nil {
		return err
	}
	if req.Offset == nil {
		return apiError(http.StatusBadRequest, wire.ErrBadRequest, `body {"offset": N} needs the offset of the next record to consume`)
	}
	if err := s.store.CommitCursor(name, r.PathValue("consumer"), *req.Offset); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func cursorToWire(c streamlog.Cursor, next uint64) wire.Cursor {
	out := wire.Cursor{Consumer: c.Consumer, Offset: c.Offset, Time: c.Time}
	if next > c.Offset {
		out.Lag = next - c.Offset
	}
	return out
}
