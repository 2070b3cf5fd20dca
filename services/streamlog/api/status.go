package api

import (
	"net/http"

	"github.com/skerry/skerry/services/httpjson"
	"github.com/skerry/skerry/services/internal/promtext"
	"github.com/skerry/skerry/services/streamlog/wire"
)

// status reports traffic and lag for the caller's tenant. Disk figures are
// global, so only the system token sees them: a tenant must not learn how
// much other tenants store.
func (s *Server) status(w http.ResponseWriter, r *http.Request, p Principal) error {
	tenant := p.Tenant
	if p.System {
		tenant = r.URL.Query().Get("tenant")
	}
	st, err := s.store.Stats(tenant)
	if err != nil {
		return err
	}
	out := wire.Status{Tenant: p.Tenant, Topics: []wire.TopicStatus{}}
	if p.System {
		out.Segments, out.DiskBytes, out.DiskFull = st.Segments, st.DiskBytes, st.DiskFull
	}
	for _, t := range st.Topics {
		ts := wire.TopicStatus{
			TopicInfo:       infoToWire(t.TopicInfo),
			AppendedRecords: t.AppendedRecords, AppendedBytes: t.AppendedBytes,
			ReadRecords: t.ReadRecords, ReadBytes: t.ReadBytes,
			AppendRecordsRate: t.AppendRecordsRate, AppendBytesRate: t.AppendBytesRate,
			ReadRecordsRate: t.ReadRecordsRate, ReadBytesRate: t.ReadBytesRate,
		}
		for _, c := range t.Cursors {
			ts.Cursors = append(ts.Cursors, wire.Cursor{Consumer: c.Consumer, Offset: c.Offset, Lag: c.Lag})
		}
		out.Topics = append(out.Topics, ts)
	}
	httpjson.Write(w, http.StatusOK, out)
	return nil
}

// createToken mints a tenant token. The token is returned once and stored
// only as a hash, so tokens.json leaking does not leak tokens.
func (s *Server) createToken(w http.ResponseWriter, r *http.Request, p Principal) error {
	if !p.System {
		return apiError(http.StatusForbidden, wire.ErrForbidden, "only the system token may create tenant tokens")
	}
	var req wire.TokenRequest
	if err := httpjson.Decode(w, r, wire.MaxJSONBytes, &req); err != nil {
		return err
	}
	tok, err := s.auth.NewTenantToken(req.Tenant)
	if err != nil {
		return err
	}
	httpjson.Write(w, http.StatusCreated, wire.TokenResponse{Tenant: req.Tenant, Token: tok})
	return nil
}

// metrics serves Prometheus text. A tenant token sees its own topics; the
// system token sees all and the store's disk figures.
func (s *Server) metrics(w http.ResponseWriter, r *http.Request, p Principal) error {
	promtext.Handler(func(f *promtext.Family) { collect(s.store, p, f) }).ServeHTTP(w, r)
	return nil
}
