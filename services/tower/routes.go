package tower

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/skerry/skerry/services/serve"
)

// auth says how a route authenticates its caller.
type auth int

const (
	authNone  auth = iota // enrollment, health, metrics
	authToken             // operator token
	authSite              // site client certificate
	authHub               // hub client certificate (OU hub)
)

// route is one endpoint. The mux is built from this table only, and the
// OpenAPI test reads the same table, so the document cannot drift from
// what is served.
type route struct {
	method, pattern string
	auth            auth
	handle          func(s *Server, w http.ResponseWriter, r *http.Request, p principal) error
}

// Routes, grouped as in docs/openapi/tower.yaml.
var routeTable = []route{
	{"GET", "/healthz", authNone, (*Server).health},
	{"GET", "/metrics", authToken, (*Server).serveMetrics},

	{"POST", "/v1/enroll/start", authNone, (*Server).enrollStart},
	{"POST", "/v1/enroll/finish", authNone, (*Server).enrollFinish},
	{"POST", "/v1/sites/self/status", authSite, (*Server).siteStatus},
	{"POST", "/v1/sites/self/renew", authSite, (*Server).renew},
	{"GET", "/v1/sites/self/desired", authSite, (*Server).siteDesired},

	{"GET", "/v1/whoami", authToken, (*Server).whoami},
	{"GET", "/v1/tenants", authToken, (*Server).listTenants},
	{"POST", "/v1/tenants", authToken, (*Server).createTenant},
	{"GET", "/v1/tenants/{tenant}", authToken, (*Server).getTenant},
	{"PATCH", "/v1/tenants/{tenant}", authToken, (*Server).updateTenant},

	{"GET", "/v1/tenants/{tenant}/apps", authToken, (*Server).listApps},
	{"GET", "/v1/tenants/{tenant}/apps/{name}", authToken, (*Server).getApp},
	{"PUT", "/v1/tenants/{tenant}/apps/{name}", authToken, (*Server).putApp},
	{"DELETE", "/v1/tenants/{tenant}/apps/{name}", authToken, (*Server).deleteApp},
	{"GET", "/v1/tenants/{tenant}/deployments", authToken, (*Server).listDeployments},
	{"GET", "/v1/tenants/{tenant}/deployments/{app}", authToken, (*Server).getDeployment},
	{"PUT", "/v1/tenants/{tenant}/deployments/{app}", authToken, (*Server).putDeployment},
	{"DELETE", "/v1/tenants/{tenant}/deployments/{app}", authToken, (*Server).deleteDeployment},
	{"POST", "/v1/tenants/{tenant}/deployments/{app}/pause", authToken, (*Server).pauseRollout},
	{"POST", "/v1/tenants/{tenant}/deployments/{app}/resume", authToken, (*Server).resumeRollout},
	{"POST", "/v1/tenants/{tenant}/deployments/{app}/rollback", authToken, (*Server).rollbackRollout},
	{"GET", "/v1/tenants/{tenant}/secrets", authToken, (*Server).listSecrets},
	{"GET", "/v1/tenants/{tenant}/secrets/{name}", authToken, (*Server).getSecret},
	{"PUT", "/v1/tenants/{tenant}/secrets/{name}", authToken, (*Server).putSecret},
	{"DELETE", "/v1/tenants/{tenant}/secrets/{name}", authToken, (*Server).deleteSecret},

	{"GET", "/v1/operator-tokens", authToken, (*Server).listOperatorTokens},
	{"POST", "/v1/operator-tokens", authToken, (*Server).createOperatorToken},
	{"POST", "/v1/operator-tokens/{id}/revoke", authToken, (*Server).revokeOperatorToken},

	{"GET", "/v1/enrollment-tokens", authToken, (*Server).listEnrollTokens},
	{"POST", "/v1/enrollment-tokens", authToken, (*Server).createEnrollToken},
	{"GET", "/v1/enrollment-tokens/{id}", authToken, (*Server).getEnrollToken},
	{"POST", "/v1/enrollment-tokens/{id}/revoke", authToken, (*Server).revokeEnrollToken},

	{"GET", "/v1/claims", authToken, (*Server).listClaims},
	{"POST", "/v1/claims", authToken, (*Server).createClaim},
	{"DELETE", "/v1/claims/{id}", authToken, (*Server).deleteClaim},

	{"GET", "/v1/pending", authToken, (*Server).listPending},
	{"POST", "/v1/pending/{ekHash}/approve", authToken, (*Server).approvePending},
	{"POST", "/v1/pending/{ekHash}/reject", authToken, (*Server).rejectPending},

	{"GET", "/v1/sites", authToken, (*Server).listSites},
	{"GET", "/v1/sites/{site}", authToken, (*Server).getSite},
	{"POST", "/v1/sites/{site}/revoke", authToken, (*Server).revokeSite},
	{"POST", "/v1/sites/{site}/allow-reenroll", authToken, (*Server).allowReenroll},

	{"GET", "/v1/sites/self/vault/escrow-key", authSite, (*Server).vaultEscrowKey},
	{"POST", "/v1/sites/self/vault/escrow", authSite, (*Server).vaultEscrow},
	{"POST", "/v1/sites/self/vault/nonce", authSite, (*Server).vaultNonce},
	{"POST", "/v1/sites/self/vault/unseal", authSite, (*Server).vaultUnseal},
	{"GET", "/v1/sites/{site}/vault", authToken, (*Server).getSiteVault},
	{"GET", "/v1/vault/requests", authToken, (*Server).listUnsealRequests},
	{"POST", "/v1/vault/requests/{id}/approve", authToken, (*Server).approveUnseal},
	{"POST", "/v1/vault/requests/{id}/refuse", authToken, (*Server).refuseUnseal},
	{"GET", "/v1/vault/pcr-approvals", authToken, (*Server).listPCRApprovals},
	{"POST", "/v1/vault/pcr-approvals", authToken, (*Server).createPCRApproval},
	{"DELETE", "/v1/vault/pcr-approvals/{id}", authToken, (*Server).deletePCRApproval},
	{"GET", "/v1/sites/{site}/topics", authToken, (*Server).listSiteTopics},
	{"GET", "/v1/sites/{site}/topics/{tenant}/{name}/records", authToken, (*Server).readSiteRecords},
	{"POST", "/v1/sites/{site}/control", authToken, (*Server).sendControl},

	{"GET", "/v1/hubs", authToken, (*Server).listHubs},
	{"POST", "/v1/hubs", authToken, (*Server).createHub},
	{"POST", "/v1/hubs/{hub}/revoke", authToken, (*Server).revokeHub},
	{"GET", "/v1/hubs/self/revocations", authHub, (*Server).hubRevocations},
}

// routes builds the mux from routeTable, each route wrapped in latency
// metrics and authentication.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range routeTable {
		pattern := rt.method + " " + rt.pattern
		mux.Handle(pattern, s.instrument(rt, s.serve(rt)))
	}
	// Everything else gets the same JSON error shape as the API: a known
	// path with another method is 405 with an Allow header, the rest 404.
	paths := http.NewServeMux()
	allowed := map[string][]string{}
	for _, rt := range routeTable {
		if allowed[rt.pattern] == nil {
			paths.Handle(rt.pattern, http.NotFoundHandler())
		}
		allowed[rt.pattern] = append(allowed[rt.pattern], rt.method)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := paths.Handler(r); allowed[pattern] != nil {
			allow := strings.Join(allowed[pattern], ", ")
			w.Header().Set("Allow", allow)
			s.fail(w, r, routeNotFound, principal{}, refuse(ErrMethodNotAllowed, "%s %s: this path takes %s; see docs/openapi/tower.yaml", r.Method, r.URL.Path, allow))
			return
		}
		s.fail(w, r, routeNotFound, principal{}, refuse(ErrNotFound, "no endpoint %s %s; see docs/openapi/tower.yaml", r.Method, r.URL.Path))
	})
	return mux
}

// routeNotFound is the label of unmatched requests in logs and metrics.
var routeNotFound = route{pattern: "unmatched"}

// serve authenticates the caller and runs the handler.
func (s *Server) serve(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		var p principal
		var err error
		switch rt.auth {
		case authNone:
			if strings.HasPrefix(rt.pattern, "/v1/enroll/") {
				if ok, wait := s.limiter.allow(source(r)); !ok {
					w.Header().Set("Retry-After", serve.RetryAfter(wait))
					err = refuse(ErrRateLimited, "too many enrollment requests from %s; retry after %s", source(r), serve.RetryAfter(wait)+"s")
				}
			}
		case authToken:
			p, err = s.authToken(ctx, r)
		case authSite:
			p, err = s.authSite(ctx, r)
		case authHub:
			p, err = s.authHub(ctx, r)
		}
		if err == nil {
			err = rt.handle(s, w, r, p)
		}
		if err != nil {
			s.fail(w, r, rt, p, err)
		}
	})
}

// fail answers a refusal or fault and logs it: every refusal gets a log
// entry that says who was refused and why.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, rt route, p principal, err error) {
	info, msg, refusal := classify(err)
	attrs := []any{"method", r.Method, "route", rt.pattern, "remote", r.RemoteAddr, "who", p.String(), "status", info.status, "code", info.code}
	switch {
	case errors.Is(err, context.Canceled):
		s.log.Info("request canceled", attrs...)
		return
	case errors.Is(err, ErrRateLimited):
		// A flood must not flood the log too: the metric counts them.
		s.log.Debug("refused: "+msg, attrs...)
		s.metrics.refusals.WithLabelValues(info.code).Inc()
	case refusal:
		s.log.Warn("refused: "+msg, attrs...)
		s.metrics.refusals.WithLabelValues(info.code).Inc()
	default:
		s.log.Error("request failed", append(attrs, "err", err)...)
	}
	if errors.Is(err, ErrPendingFull) {
		w.Header().Set("Retry-After", serve.RetryAfter(s.pendingRetry))
	}
	writeError(w, info.status, info.code, msg)
}

// instrument records each request's latency by route and status.
func (s *Server) instrument(rt route, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(rec, r)
		s.metrics.latency.WithLabelValues(rt.method, rt.pattern, statusClass(rec.status)).Observe(time.Since(start).Seconds())
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

// WriteHeader records the status for the latency metric.
func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// statusClass buckets status codes (2xx, 4xx, ...) to keep the latency
// metric's cardinality small.
func statusClass(code int) string {
	return string(rune('0'+code/100)) + "xx"
}

// serveMetrics serves Prometheus metrics to operator tokens only: they
// tell how many sites a tower has, and how busy and how refused it is,
// which is no business of sites or tenants. Prometheus sends the token
// with authorization.credentials_file.
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request, p principal) error {
	if err := p.mustOperator(); err != nil {
		return err
	}
	s.metricsHandler.ServeHTTP(w, r)
	return nil
}

// health answers without touching the store: it says the process serves,
// nothing more.
func (s *Server) health(w http.ResponseWriter, r *http.Request, _ principal) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}
