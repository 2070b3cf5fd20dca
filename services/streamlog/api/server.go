package api

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/skerry/skerry/services/serve"

	"github.com/skerry/skerry/services/streamlog"
	"github.com/skerry/skerry/services/streamlog/wire"
)

// Server is the local API of one store.
type Server struct {
	store *streamlog.Store
	auth  *Auth
	log   *slog.Logger
	mux   *http.ServeMux
	tails chan struct{} // one slot per live tail
	// bodies counts the bytes of produce bodies held (WithBodyBudget).
	bodies *semaphore.Weighted
	o      options
}

// Option configures New.
type Option func(*options)

type options struct {
	maxTails     int
	tailDeadline time.Duration
	tailFrame    int
	bodyBudget   int64
	bodyWait     time.Duration
}

// WithBodyBudget bounds the bytes of produce bodies that all requests hold
// together, received or being stored (default 20 MiB): what any number of
// slow or stalled producers can make the service hold. A request that finds
// the budget spent waits up to 2 s for it, then is answered 503 busy.
func WithBodyBudget(n int64) Option { return func(o *options) { o.bodyBudget = n } }

// WithMaxTails bounds concurrent live tails (default 256): each holds at
// most one frame in memory, so this bounds what tails can make the service
// buffer.
func WithMaxTails(n int) Option { return func(o *options) { o.maxTails = n } }

// WithTailDeadline sets how long a tail may take to accept one frame before
// it is disconnected (default 60s): a consumer that stops reading must not
// hold its slot for ever.
func WithTailDeadline(d time.Duration) Option { return func(o *options) { o.tailDeadline = d } }

// New returns the API of store, authorising requests with auth.
func New(store *streamlog.Store, auth *Auth, log *slog.Logger, opts ...Option) *Server {
	o := options{maxTails: 256, tailDeadline: time.Minute, tailFrame: 256 << 10, bodyBudget: 20 << 20, bodyWait: 2 * time.Second}
	for _, f := range opts {
		f(&o)
	}
	s := &Server{
		store: store, auth: auth, log: log, mux: http.NewServeMux(), o: o,
		tails: make(chan struct{}, o.maxTails), bodies: semaphore.NewWeighted(o.bodyBudget),
	}
	s.handle("GET /v1/status", s.status)
	s.handle("GET /v1/topics", s.listTopics)
	s.handle("POST /v1/topics", s.createTopic)
	s.handle("GET /v1/topics/{tenant}/{topic}", s.getTopic)
	s.handle("DELETE /v1/topics/{tenant}/{topic}", s.deleteTopic)
	s.handle("POST /v1/topics/{tenant}/{topic}/records", s.produce)
	s.handle("GET /v1/topics/{tenant}/{topic}/records", s.consume)
	s.handle("GET /v1/topics/{tenant}/{topic}/cursors", s.listCursors)
	s.handle("GET /v1/topics/{tenant}/{topic}/cursors/{consumer}", s.getCursor)
	s.handle("PUT /v1/topics/{tenant}/{topic}/cursors/{consumer}", s.commitCursor)
	s.handle("POST /v1/tokens", s.createToken)
	s.handle("GET /metrics", s.metrics)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, apiError(http.StatusNotFound, wire.ErrBadRequest,
			fmt.Sprintf("no API endpoint %s %s: see services/streamlog/README.md", r.Method, r.URL.Path)))
	})
	return s
}

type handler func(w http.ResponseWriter, r *http.Request, p Principal) error

// handle wraps h with authentication, panic recovery and error mapping:
// no input may crash the service.
func (s *Server) handle(pattern string, h handler) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				s.log.Error("handler panic", "path", r.URL.Path, "panic", v)
				s.writeError(w, r, apiError(http.StatusInternalServerError, wire.ErrInternal, "internal error"))
			}
		}()
		p, ok := s.auth.Check(r)
		if !ok {
			s.writeError(w, r, apiError(http.StatusUnauthorized, wire.ErrUnauthorized,
				"missing or unknown bearer token: send Authorization: Bearer <token> with a token from the system token holder"))
			return
		}
		if err := h(w, r, p); err != nil {
			s.writeError(w, r, err)
		}
	})
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Limits are the connection and request bounds the API is served under:
// the site's, with room for a connection per live tail on top.
func (s *Server) Limits() serve.Limits {
	l := serve.SiteLimits
	l.MaxConns += s.o.maxTails
	return l
}

// Serve serves the API on ls until ctx ends, then shuts down gracefully,
// under Limits: slow or stalled clients are cut at the header and body
// timeouts, connections and requests in flight are bounded.
func (s *Server) Serve(ctx context.Context, ls ...net.Listener) error {
	return serve.HTTP(ctx, s, s.Limits(), s.log, ls...)
}

// topicName returns the topic of the request path if p may use it. The
// tenant is checked before the topic is looked up, so the answer to another
// tenant is the same whether the topic exists or not.
func (s *Server) topicName(r *http.Request, p Principal) (string, error) {
	n := streamlog.Name{Tenant: r.PathValue("tenant"), Topic: r.PathValue("topic")}
	if err := n.Validate(); err != nil {
		return "", err
	}
	if !p.may(n.Tenant) {
		return "", apiError(http.StatusForbidden, wire.ErrForbidden,
			fmt.Sprintf("the token of tenant %q may not use tenant %q: use a token of that tenant", p.Tenant, n.Tenant))
	}
	return n.String(), nil
}
