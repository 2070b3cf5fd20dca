// Package health is the site's local status API: one JSON document that
// says whether the box is well (uptime, boot id, image, each service's
// state and restarts, memory, /perm, TPM, network), served on a unix
// socket and on a TCP port.
package health

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/skerry/skerry/services/contract"
)

// Status is GET /v1/health.
type Status struct {
	Hostname      string                   `json:"hostname"`
	UptimeSeconds float64                  `json:"uptimeSeconds"`
	BootID        string                   `json:"bootId"`
	Ready         bool                     `json:"ready"`
	ReadySeconds  float64                  `json:"readySeconds,omitempty"`
	Image         contract.Release         `json:"image"`
	Services      []contract.ServiceStatus `json:"services"`
	Memory        Memory                   `json:"memory"`
	Perm          Perm                     `json:"perm"`
	TPM           TPM                      `json:"tpm"`
	Network       contract.Network         `json:"network"`
	Modules       []string                 `json:"modules,omitempty"`
	Errors        []string                 `json:"errors,omitempty"` // what could not be read
}

// Server collects and serves the status.
type Server struct {
	initSocket string
	bootFile   string
	tpmPath    string
	permDir    string
	debug      bool
	log        *slog.Logger
	client     *http.Client
}

// Option configures a Server.
type Option func(*Server)

// WithInitSocket sets init's control socket (default contract.InitSocket).
func WithInitSocket(p string) Option { return func(s *Server) { s.initSocket = p } }

// WithBootFile sets the file init records the boot in.
func WithBootFile(p string) Option { return func(s *Server) { s.bootFile = p } }

// WithTPM sets the TPM: a device (/dev/tpmrm0) or "unix:PATH" for a TPM
// simulator's command socket.
func WithTPM(p string) Option { return func(s *Server) { s.tpmPath = p } }

// WithPermDir sets the persistent directory whose usage is reported.
func WithPermDir(p string) Option { return func(s *Server) { s.permDir = p } }

// WithDebugControl lets POST /v1/debug/{poweroff,reboot} through to init.
// Only test benches turn it on: it is unauthenticated.
func WithDebugControl(on bool) Option { return func(s *Server) { s.debug = on } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// New returns a Server.
func New(opts ...Option) *Server {
	s := &Server{initSocket: contract.InitSocket, bootFile: contract.BootFile, tpmPath: "/dev/tpmrm0", permDir: contract.PermMount, log: slog.Default()}
	for _, o := range opts {
		o(s)
	}
	s.client = &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", s.initSocket)
		},
	}}
	return s
}

// Handler serves the API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/health", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Collect(r.Context()))
	})
	mux.HandleFunc("GET /v1/services/{name}/logs", func(w http.ResponseWriter, r *http.Request) {
		s.proxy(w, r, http.MethodGet, "/v1/services/"+r.PathValue("name")+"/logs")
	})
	mux.HandleFunc("POST /v1/debug/{action}", func(w http.ResponseWriter, r *http.Request) {
		a := r.PathValue("action")
		if !s.debug {
			writeError(w, http.StatusForbidden, "debug_disabled", "debug control is off: set debug.control in the site config of a test image to allow "+a)
			return
		}
		if a != "poweroff" && a != "reboot" {
			writeError(w, http.StatusNotFound, "unknown_action", fmt.Sprintf("unknown debug action %q: use poweroff or reboot", a))
			return
		}
		s.proxy(w, r, http.MethodPost, "/v1/"+a)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("no such endpoint %s %s: see GET /v1/health", r.Method, r.URL.Path))
	})
	return mux
}

// Collect gathers the status. A part that cannot be read is reported in
// Errors; the rest is still returned.
func (s *Server) Collect(ctx context.Context) *Status {
	st := &Status{}
	st.Hostname, _ = os.Hostname()
	st.UptimeSeconds = uptime().Seconds()
	var boot contract.Boot
	if data, err := os.ReadFile(s.bootFile); err != nil {
		st.Errors = append(st.Errors, fmt.Sprintf("boot record: %v", err))
	} else if err := json.Unmarshal(data, &boot); err != nil {
		st.Errors = append(st.Errors, fmt.Sprintf("boot record %s: %v", s.bootFile, err))
	}
	st.BootID, st.Image, st.Network, st.Modules = boot.BootID, boot.Image, boot.Network, boot.Modules
	if st.BootID == "" {
		st.BootID = readTrim("/proc/sys/kernel/random/boot_id")
	}
	var is contract.Status
	if err := s.get(ctx, "/v1/status", &is); err != nil {
		st.Errors = append(st.Errors, fmt.Sprintf("init status: %v", err))
	} else {
		st.Services, st.Ready = is.Services, is.Ready
		st.ReadySeconds = boot.ReadySeconds
	}
	st.Memory = memory(st.Services)
	st.Perm = perm(s.permDir, boot.Perm)
	st.TPM = readTPM(s.tpmPath)
	return st
}

func (s *Server) get(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://init"+path, nil)
	if err != nil {
		return err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("%s: %s: %s", path, resp.Status, strings.TrimSpace(string(b)))
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// proxy forwards a request to init's control socket.
func (s *Server) proxy(w http.ResponseWriter, r *http.Request, method, path string) {
	req, err := http.NewRequestWithContext(r.Context(), method, "http://init"+path, nil)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", err.Error())
		return
	}
	resp, err := s.client.Do(req)
	if err != nil {
		writeError(w, http.StatusBadGateway, "init_unreachable", fmt.Sprintf("init's control socket %s: %v", s.initSocket, err))
		return
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		w.Header().Set("Content-Type", ct)
	}
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
}

// Serve serves the API on l until ctx ends, then lets the requests in
// flight finish (a reboot request's answer must reach the caller before
// the service exits).
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 5 * time.Second}
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	err := srv.Serve(l)
	if errors.Is(err, http.ErrServerClosed) {
		// Serve returns as soon as Shutdown begins; Shutdown returns when
		// the handlers are done.
		<-stopped
		return nil
	}
	return err
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, errCode, msg string) {
	writeJSON(w, code, map[string]string{"code": errCode, "message": msg})
}
