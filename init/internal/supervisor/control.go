package supervisor

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/skerry/skerry/services/contract"
	"github.com/skerry/skerry/services/httpjson"
	"github.com/skerry/skerry/services/serve"
)

// Control serves init's control socket (contract.InitSocket): HTTP over a
// unix socket that only root may connect to.
//
//	GET  /v1/status                   contract.Status as JSON
//	GET  /v1/services/{name}/logs     the service's output ring, as text
//	POST /v1/services/{name}/stop     Supervisor.Stop, 202
//	POST /v1/services/{name}/restart  Supervisor.Restart, 202
//	POST /v1/poweroff, /v1/reboot     call Poweroff or Reboot, 202
//
// Errors are services/httpjson's body: {"code": "...", "message": "..."}.
type Control struct {
	Supervisor *Supervisor
	BootID     string
	// Ready reports whether the site is ready and since when. Nil means
	// when the supervisor's AllReady is closed.
	Ready func() (bool, time.Time)
	// Poweroff and Reboot are called in their own goroutine once the 202
	// was written, so they may shut the server down. Nil answers 501.
	Poweroff, Reboot func()
	Log              *slog.Logger // nil discards
}

// Serve listens on path, mode 0600, until ctx ends, under
// serve.SiteLimits (deadlines for slow clients, a bound on connections and
// requests in flight). A stale socket at path is replaced.
func (c *Control) Serve(ctx context.Context, path string) error {
	ln, err := serve.Unix(path, 0o600)
	if err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	if err := serve.HTTP(ctx, c.Handler(), serve.SiteLimits, c.logger(), ln); err != nil {
		return fmt.Errorf("serve control socket: %w", err)
	}
	return nil
}

// Handler serves the API; Serve uses it, tests may too.
func (c *Control) Handler() http.Handler {
	mux := http.NewServeMux()
	route := func(method, path string, h http.HandlerFunc) {
		mux.HandleFunc(method+" "+path, h)
		// The same path without a method catches the wrong methods.
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", method)
			writeError(w, http.StatusMethodNotAllowed, httpjson.CodeMethodNotAllowed,
				fmt.Sprintf("%s %s is not supported; use %s", r.Method, r.URL.Path, method))
		})
	}
	route("GET", "/v1/status", c.status)
	route("GET", "/v1/services/{name}/logs", c.logs)
	route("POST", "/v1/services/{name}/stop", c.serviceOp(c.Supervisor.Stop))
	route("POST", "/v1/services/{name}/restart", c.serviceOp(c.Supervisor.Restart))
	route("POST", "/v1/poweroff", c.power("poweroff", c.Poweroff))
	route("POST", "/v1/reboot", c.power("reboot", c.Reboot))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, httpjson.CodeNotFound,
			fmt.Sprintf("no endpoint %s; see /v1/status, /v1/services/{name}/logs, /v1/poweroff, /v1/reboot", r.URL.Path))
	})
	return mux
}

func (c *Control) status(w http.ResponseWriter, r *http.Request) {
	st := contract.Status{BootID: c.BootID, Services: c.Supervisor.Status()}
	if c.Ready != nil {
		st.Ready, st.ReadyAt = c.Ready()
	} else {
		st.Ready, st.ReadyAt = closed(c.Supervisor.AllReady()), c.Supervisor.ReadyAt()
	}
	httpjson.Write(w, http.StatusOK, st)
}

func (c *Control) logs(w http.ResponseWriter, r *http.Request) {
	b, err := c.Supervisor.Logs(r.PathValue("name"))
	if err != nil {
		writeError(w, http.StatusNotFound, "unknown_service", err.Error())
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write(b)
}

func (c *Control) serviceOp(op func(string) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := op(r.PathValue("name")); err != nil {
			writeError(w, http.StatusNotFound, "unknown_service", err.Error())
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}
}

func (c *Control) power(what string, f func()) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if f == nil {
			writeError(w, http.StatusNotImplemented, "not_supported", what+" is not supported by this init")
			return
		}
		c.logger().Info("requested over the control socket", "action", what)
		// 202: stopping services takes up to their stop timeouts, and the
		// server itself goes down on the way; the client must not wait.
		// The answer is flushed before the services are stopped, so the
		// caller (the health service, itself stopped on the way) has it.
		w.WriteHeader(http.StatusAccepted)
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
		go f()
	}
}

func (c *Control) logger() *slog.Logger {
	if c.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Log
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	httpjson.WriteError(w, status, code, msg)
}
