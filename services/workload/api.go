package workload

import (
	"errors"
	"net/http"

	"github.com/skerry/skerry/services/api/workloadapi"
	"github.com/skerry/skerry/services/httpjson"
)

// Handler is the workload service's local API, on a root-only unix
// socket (contract.WorkloadSocket); the agent and skerryctl on the box use
// it. Bodies and errors follow services/httpjson.
//
//	GET    /v1/apps                  desired apps with their status
//	PUT    /v1/apps/{tenant}/{name}  add or replace an app (an AppSpec)
//	DELETE /v1/apps/{tenant}/{name}  stop and forget an app
//	PUT    /v1/tenants/{tenant}/quota  set a tenant's quota (Resources)
//	PUT    /v1/quotas                every tenant's quota at once (the tower's)
//	GET    /metrics                  Prometheus: per app CPU, memory, restarts
func Handler(s *State) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /v1/tenants/{tenant}/quota", func(w http.ResponseWriter, r *http.Request) {
		var q workloadapi.Resources
		if err := httpjson.Decode(w, r, workloadapi.MaxSpecBytes, &q); err != nil {
			writeErr(w, err)
			return
		}
		if err := s.PutQuota(r.PathValue("tenant"), q); err != nil {
			writeErr(w, err)
			return
		}
		httpjson.Write(w, http.StatusOK, q)
	})
	mux.HandleFunc("PUT /v1/quotas", func(w http.ResponseWriter, r *http.Request) {
		var qs map[string]workloadapi.Resources
		if err := httpjson.Decode(w, r, workloadapi.MaxSpecBytes, &qs); err != nil {
			writeErr(w, err)
			return
		}
		if err := s.SetQuotas(qs); err != nil {
			writeErr(w, err)
			return
		}
		httpjson.Write(w, http.StatusOK, qs)
	})
	mux.Handle("GET /metrics", MetricsHandler(s.r))
	mux.HandleFunc("GET /v1/apps", func(w http.ResponseWriter, r *http.Request) {
		st := map[string]Status{}
		for _, a := range s.r.StatusUsage(r.Context()) {
			st[key(a.Tenant, a.Name)] = a
		}
		out := []workloadapi.App{}
		for _, a := range s.Apps() {
			out = append(out, workloadapi.App{Spec: a, Status: st[key(a.Tenant, a.Name)]})
		}
		httpjson.Write(w, http.StatusOK, out)
	})
	mux.HandleFunc("PUT /v1/apps/{tenant}/{name}", func(w http.ResponseWriter, r *http.Request) {
		var spec workloadapi.AppSpec
		if err := httpjson.Decode(w, r, workloadapi.MaxSpecBytes, &spec); err != nil {
			writeErr(w, err)
			return
		}
		if spec.Tenant != r.PathValue("tenant") || spec.Name != r.PathValue("name") {
			httpjson.WriteError(w, http.StatusBadRequest, httpjson.CodeBadRequest, "the spec's tenant and name must be those of the path")
			return
		}
		if err := s.Put(r.Context(), &spec); err != nil {
			writeErr(w, err)
			return
		}
		httpjson.Write(w, http.StatusOK, &spec)
	})
	mux.HandleFunc("DELETE /v1/apps/{tenant}/{name}", func(w http.ResponseWriter, r *http.Request) {
		if err := s.Delete(r.Context(), r.PathValue("tenant"), r.PathValue("name")); err != nil {
			writeErr(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}

func writeErr(w http.ResponseWriter, err error) {
	var he *httpjson.Error
	switch {
	case errors.As(err, &he):
		httpjson.WriteError(w, he.Status, he.Code, he.Message)
	case errors.Is(err, workloadapi.ErrInvalid), errors.Is(err, workloadapi.ErrVersion):
		httpjson.WriteError(w, http.StatusBadRequest, httpjson.CodeBadRequest, err.Error())
	case errors.Is(err, ErrPortTaken):
		httpjson.WriteError(w, http.StatusConflict, httpjson.CodeConflict, err.Error())
	case errors.Is(err, ErrNotFound):
		httpjson.WriteError(w, http.StatusNotFound, httpjson.CodeNotFound, err.Error())
	default:
		httpjson.WriteError(w, http.StatusInternalServerError, httpjson.CodeInternal, err.Error())
	}
}
