package serve

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/skerry/skerry/services/httpjson"
)

// Limits bound what clients can make a server hold. With them, memory
// under any number of clients is at most about
//
//	MaxConns × (per-connection buffers, ~20 KiB with TLS)
//	+ MaxInFlight × (what one handler holds)
//
// whatever the clients do: a client that sends its headers or body slowly
// is cut at HeaderTimeout or BodyTimeout, an idle one at IdleTimeout, and
// connections past MaxConns wait in the kernel's backlog, holding nothing
// of the server's.
type Limits struct {
	// MaxConns bounds the connections served at once, per listener.
	MaxConns int
	// MaxInFlight bounds the requests in handlers at once. A request over
	// it waits up to QueueWait, then is answered 503 busy with
	// Retry-After. A handler that streams or long-polls leaves the count
	// when it calls Streaming.
	MaxInFlight int
	QueueWait   time.Duration
	// HeaderTimeout bounds the time to send the request headers (and the
	// TLS handshake); BodyTimeout the time from then to the body's end.
	HeaderTimeout time.Duration
	BodyTimeout   time.Duration
	// IdleTimeout closes keep-alive connections that send nothing.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds the request line and headers.
	MaxHeaderBytes int
	// ShutdownTimeout bounds the wait for handlers at shutdown; those
	// still running are then cut.
	ShutdownTimeout time.Duration
}

// SiteLimits suit a local API on a box, where a service's whole memory
// limit is tens of MiB.
var SiteLimits = Limits{
	MaxConns: 64, MaxInFlight: 16, QueueWait: 2 * time.Second,
	HeaderTimeout: 10 * time.Second, BodyTimeout: 30 * time.Second, IdleTimeout: 60 * time.Second,
	MaxHeaderBytes: 16 << 10, ShutdownTimeout: 3 * time.Second,
}

// TowerLimits suit the tower and hubs, which thousands of sites reach.
var TowerLimits = Limits{
	MaxConns: 4096, MaxInFlight: 256, QueueWait: 5 * time.Second,
	HeaderTimeout: 10 * time.Second, BodyTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second,
	MaxHeaderBytes: 32 << 10, ShutdownTimeout: 5 * time.Second,
}

// Server serves one handler on any number of listeners under one set of
// Limits.
type Server struct {
	hs       *http.Server
	limits   Limits
	inFlight chan struct{}
}

// Option configures New.
type Option func(*Server)

// WithTLS serves TLS with cfg on every listener.
func WithTLS(cfg *tls.Config) Option { return func(s *Server) { s.hs.TLSConfig = cfg } }

// WithLogger sends net/http's own complaints (bad handshakes, panics) to
// log at warning level.
func WithLogger(log *slog.Logger) Option {
	return func(s *Server) { s.hs.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelWarn) }
}

// New returns a server of h under limits.
func New(h http.Handler, limits Limits, opts ...Option) *Server {
	s := &Server{limits: limits, inFlight: make(chan struct{}, max(limits.MaxInFlight, 1))}
	s.hs = &http.Server{
		Handler:           s.wrap(h),
		ReadHeaderTimeout: limits.HeaderTimeout,
		IdleTimeout:       limits.IdleTimeout,
		MaxHeaderBytes:    limits.MaxHeaderBytes,
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// HTTP is New(h, limits).Serve(ctx, ls...).
func HTTP(ctx context.Context, h http.Handler, limits Limits, log *slog.Logger, ls ...net.Listener) error {
	return New(h, limits, WithLogger(log)).Serve(ctx, ls...)
}

// Serve serves on every listener until ctx ends or one fails, then shuts
// down: it stops accepting, waits up to ShutdownTimeout for handlers, and
// cuts the rest. Request contexts end with ctx, so streaming handlers stop
// at once.
func (s *Server) Serve(ctx context.Context, ls ...net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.hs.BaseContext = func(net.Listener) context.Context { return ctx }
	errc := make(chan error, len(ls))
	// Decided once: http.Server.Serve may set TLSConfig itself (HTTP/2
	// defaults), which must not turn the next listener into a TLS one.
	useTLS := s.hs.TLSConfig != nil
	for _, l := range ls {
		l = limitListener(l, s.limits.MaxConns)
		go func() {
			var err error
			if useTLS {
				err = s.hs.ServeTLS(l, "", "")
			} else {
				err = s.hs.Serve(l)
			}
			if errors.Is(err, http.ErrServerClosed) {
				err = nil
			} else if err != nil {
				err = fmt.Errorf("serve %s: %w", l.Addr(), err)
			}
			errc <- err
		}()
	}
	var err error
	running := len(ls)
	select {
	case err = <-errc:
		running--
	case <-ctx.Done():
	}
	cancel()
	sctx, stop := context.WithTimeout(context.Background(), s.limits.ShutdownTimeout)
	defer stop()
	if serr := s.hs.Shutdown(sctx); serr != nil {
		s.hs.Close()
	}
	// Return only once every listener is closed (a unix socket unlinked),
	// so a caller may listen on the same path again at once.
	for ; running > 0; running-- {
		if e := <-errc; err == nil {
			err = e
		}
	}
	return err
}

// wrap applies the in-flight bound and the body deadline to every request.
func (s *Server) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.acquire(r.Context()) {
			w.Header().Set("Retry-After", "1")
			httpjson.WriteError(w, http.StatusServiceUnavailable, httpjson.CodeBusy,
				"the server is handling as many requests as it takes at once; retry in a moment")
			return
		}
		var once sync.Once
		release := func() { once.Do(func() { <-s.inFlight }) }
		defer release()
		if s.limits.BodyTimeout > 0 {
			// The read deadline covers the body; a handler that goes on to
			// stream or wait lifts it with Streaming.
			http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.limits.BodyTimeout))
		}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), releaseKey{}, release)))
	})
}

func (s *Server) acquire(ctx context.Context) bool {
	select {
	case s.inFlight <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(s.limits.QueueWait)
	defer t.Stop()
	select {
	case s.inFlight <- struct{}{}:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}

type releaseKey struct{}

// Streaming tells the server that the handler has read its request and
// now streams its answer or waits (a live tail, a long poll): the body
// deadline is lifted and the request no longer counts against
// MaxInFlight. Such handlers bound their own number and must end when the
// request's context does.
func Streaming(w http.ResponseWriter, r *http.Request) {
	http.NewResponseController(w).SetReadDeadline(time.Time{})
	if release, ok := r.Context().Value(releaseKey{}).(func()); ok {
		release()
	}
}

// RetryAfter formats a Retry-After header value.
func RetryAfter(d time.Duration) string {
	return strconv.Itoa(max(1, int(d.Round(time.Second)/time.Second)))
}
