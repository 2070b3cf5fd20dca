// Package health is the site's local status API: one JSON document that
// says whether the box is well (uptime, boot id, image, each service's
// state and restarts, memory, /perm, TPM, network), served on a unix
// socket, on loopback TCP, and (when the site config opens it) on the
// network behind a bearer token (see README.md).
package health

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/skerry/skerry/services/api/uplinkapi"
	"github.com/skerry/skerry/services/contract"
	"github.com/skerry/skerry/services/httpjson"
	"github.com/skerry/skerry/services/serve"
	"github.com/skerry/skerry/services/siteconfig"
)

// Status is GET /v1/health.
type Status struct {
	Hostname      string  `json:"hostname"`
	UptimeSeconds float64 `json:"uptimeSeconds"`
	BootID        string  `json:"bootId"`
	// Ready is ServicesReady with nothing in Degraded: a box whose
	// services run but whose /perm is in RAM is not ready.
	Ready         bool `json:"ready"`
	ServicesReady bool `json:"servicesReady"`
	// Degraded lists what keeps a running box from being well, each with
	// what it means and what to do.
	Degraded     []string                 `json:"degraded,omitempty"`
	ReadySeconds float64                  `json:"readySeconds,omitempty"`
	Image        contract.Release         `json:"image"`
	Services     []contract.ServiceStatus `json:"services"`
	Memory       Memory                   `json:"memory"`
	Perm         Perm                     `json:"perm"`
	TPM          TPM                      `json:"tpm"`
	Network      contract.Network         `json:"network"`
	Modules      []string                 `json:"modules,omitempty"`
	// Uplink is the uplink's state towards its parent and per topic lag
	// and counters (its own status API); absent when it does not run.
	Uplink *uplinkapi.Status `json:"uplink,omitempty"`
	Errors []string          `json:"errors,omitempty"` // what could not be read
}

// Server collects and serves the status.
type Server struct {
	initSocket   string
	uplinkSocket string
	bootFile     string
	tpmPath      string
	permDir      string
	debug        bool
	log          *slog.Logger
	client       *http.Client
}

// Option configures a Server.
type Option func(*Server)

// WithInitSocket sets init's control socket (default contract.InitSocket).
func WithInitSocket(p string) Option { return func(s *Server) { s.initSocket = p } }

// WithUplinkSocket sets the uplink's status socket (default
// contract.UplinkSocket).
func WithUplinkSocket(p string) Option { return func(s *Server) { s.uplinkSocket = p } }

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
	s := &Server{initSocket: contract.InitSocket, uplinkSocket: contract.UplinkSocket, bootFile: contract.BootFile, tpmPath: "/dev/tpmrm0", permDir: contract.PermMount, log: slog.Default()}
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
		httpjson.Write(w, http.StatusOK, s.Collect(r.Context()))
	})
	mux.HandleFunc("GET /v1/services/{name}/logs", func(w http.ResponseWriter, r *http.Request) {
		s.proxy(w, r, http.MethodGet, "/v1/services/"+r.PathValue("name")+"/logs")
	})
	mux.HandleFunc("POST /v1/debug/{action}", func(w http.ResponseWriter, r *http.Request) {
		a := r.PathValue("action")
		if !s.debug {
			httpjson.WriteError(w, http.StatusForbidden, httpjson.CodeForbidden, "debug control is off: set debug.control in the site config of a test image to allow "+a)
			return
		}
		if a != "poweroff" && a != "reboot" {
			httpjson.WriteError(w, http.StatusNotFound, httpjson.CodeNotFound, fmt.Sprintf("unknown debug action %q: use poweroff or reboot", a))
			return
		}
		s.proxy(w, r, http.MethodPost, "/v1/"+a)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		httpjson.WriteError(w, http.StatusNotFound, httpjson.CodeNotFound, fmt.Sprintf("no such endpoint %s %s: see GET /v1/health", r.Method, r.URL.Path))
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
	data, err := os.ReadFile(s.bootFile)
	if err != nil {
		st.Errors = append(st.Errors, fmt.Sprintf("boot record: %v", err))
	} else if err = json.Unmarshal(data, &boot); err != nil {
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
		st.Services, st.ServicesReady = is.Services, is.Ready
		st.ReadySeconds = boot.ReadySeconds
	}
	st.Memory = memory(st.Services)
	st.Perm = perm(s.permDir, boot.Perm)
	if err == nil && !boot.Perm.Mounted {
		st.Degraded = append(st.Degraded, fmt.Sprintf("perm: /perm is in RAM (%s): nothing written this boot survives a reboot; see init's console log for the partition's state", boot.Perm.Error))
	}
	st.Ready = st.ServicesReady && len(st.Degraded) == 0
	st.TPM = readTPM(s.tpmPath)
	st.Uplink, err = s.uplink(ctx)
	if err != nil {
		st.Errors = append(st.Errors, fmt.Sprintf("uplink status: %v", err))
	}
	return st
}

// uplink reads the uplink's status from its socket; nil without a socket
// (the uplink does not run: the services list says why).
func (s *Server) uplink(ctx context.Context) (*uplinkapi.Status, error) {
	if _, err := os.Stat(s.uplinkSocket); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	c := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", s.uplinkSocket)
		},
	}}
	defer c.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://uplink"+uplinkapi.StatusPath, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, httpjson.ReadError(resp)
	}
	var st uplinkapi.Status
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxInitAnswer)).Decode(&st); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	return &st, nil
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
		return fmt.Errorf("%s: %w", path, httpjson.ReadError(resp))
	}
	return json.NewDecoder(io.LimitReader(resp.Body, maxInitAnswer)).Decode(v)
}

// proxy forwards a request to init's control socket.
func (s *Server) proxy(w http.ResponseWriter, r *http.Request, method, path string) {
	ctx := r.Context()
	if method == http.MethodPost {
		// A power action stops this service while init answers: the
		// request context ends with the service (its base context is
		// the signal's), so the answer would be lost and the caller told
		// 502 for a reboot under way. The server's shutdown waits for
		// this handler; the timeout bounds the wait.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://init"+path, nil)
	if err != nil {
		httpjson.WriteError(w, http.StatusInternalServerError, httpjson.CodeInternal, err.Error())
		return
	}
	resp, err := s.client.Do(req)
	if err != nil {
		httpjson.WriteError(w, http.StatusBadGateway, "init_unreachable", fmt.Sprintf("init's control socket %s: %v", s.initSocket, err))
		return
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		w.Header().Set("Content-Type", ct)
	}
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
}

// maxInitAnswer bounds what is read of init's status answer.
const maxInitAnswer = 1 << 20

// Serve serves the API on the unix socket and loopback listeners in local
// and, behind the bearer token, on the network listeners in network, under
// serve.SiteLimits, until ctx ends; requests in flight then finish (a
// reboot request's answer must reach the caller before the service exits).
// Network listeners without a token are refused.
func (s *Server) Serve(ctx context.Context, local, network []net.Listener, token string) error {
	if len(network) > 0 && len(token) < MinTokenLen {
		return fmt.Errorf("the status API on the network needs a token of at least %d characters (health.token in the site config)", MinTokenLen)
	}
	g, ctx := errgroup.WithContext(ctx)
	if len(local) > 0 {
		g.Go(func() error { return serve.HTTP(ctx, s.Handler(), serve.SiteLimits, s.log, local...) })
	}
	if len(network) > 0 {
		g.Go(func() error {
			return serve.HTTP(ctx, RequireToken(token, s.Handler()), serve.SiteLimits, s.log, network...)
		})
	}
	return g.Wait()
}

// MinTokenLen is the shortest token the status API takes on the network.
const MinTokenLen = siteconfig.MinHealthTokenLen

// RequireToken lets through only requests that carry
// "Authorization: Bearer <token>".
func RequireToken(token string, h http.Handler) http.Handler {
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("Authorization"))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="skerry status"`)
			httpjson.WriteError(w, http.StatusUnauthorized, httpjson.CodeUnauthenticated,
				"the status API on the network needs Authorization: Bearer <health.token from the site config>")
			return
		}
		h.ServeHTTP(w, r)
	})
}
