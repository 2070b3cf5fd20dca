package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/skerry/skerry/services/contract"
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
// Errors are JSON: {"code": "...", "message": "..."}.
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

// Serve listens on path, mode 0600, until ctx ends. A stale socket at path
// is replaced.
func (c *Control) Serve(ctx context.Context, path string) error {
	ln, err := listenUnix(path)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: c.Handler(), ReadHeaderTimeout: 5 * time.Second}
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	err = srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		<-stopped // Serve returns as soon as Shutdown starts
		err = nil
	} else {
		err = fmt.Errorf("serve control socket: %w", err)
	}
	os.Remove(path)
	return err
}

// listenUnix binds under a temporary name, sets the mode and renames the
// socket into place, so that it is never reachable with a wider mode and
// clients never see the path missing while a stale one is replaced.
func listenUnix(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("create control socket directory: %w", err)
	}
	tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid())
	os.Remove(tmp)
	ln, err := net.Listen("unix", tmp)
	if err != nil {
		return nil, fmt.Errorf("listen on control socket: %w", err)
	}
	// Close would unlink the temporary name, not path; Serve removes path.
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	if err := os.Chmod(tmp, 0o600); err != nil {
		ln.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("set control socket mode: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		ln.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("install control socket: %w", err)
	}
	return ln, nil
}

// Handler serves the API; Serve uses it, tests may too.
func (c *Control) Handler() http.Handler {
	mux := http.NewServeMux()
	route := func(method, path string, h http.HandlerFunc) {
		mux.HandleFunc(method+" "+path, h)
		// The same path without a method catches the wrong methods.
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", method)
			writeError(w, http.StatusMethodNotAllowed, "method_not_allowed",
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
		writeError(w, http.StatusNotFound, "not_found",
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
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(st)
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
		w.WriteHeader(http.StatusAccepted)
		go f()
	}
}

func (c *Control) logger() *slog.Logger {
	if c.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Log
}

// apiError is the body of every error response.
type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(apiError{Code: code, Message: msg})
}
