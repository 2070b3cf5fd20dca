package supervisor

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/skerry/skerry/services/contract"
	"github.com/skerry/skerry/services/httpjson"
	"github.com/skerry/skerry/services/serve"
)

func TestControl(t *testing.T) {
	t.Parallel()
	s := startReady(t, "web", "LINES=2")
	waitFor(t, 5*time.Second, "output", func() bool {
		b, _ := s.Logs("web")
		return strings.Count(string(b), "\n") == 2
	})

	poweroff := make(chan struct{}, 1)
	c := &Control{Supervisor: s, BootID: "boot-1", Poweroff: func() { poweroff <- struct{}{} }}
	sock := filepath.Join(t.TempDir(), "init.sock")
	// A stale socket from an earlier boot is replaced.
	if ln, err := net.Listen("unix", sock); err == nil {
		ln.(*net.UnixListener).SetUnlinkOnClose(false)
		ln.Close()
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- c.Serve(ctx, sock) }()
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		},
	}}
	waitFor(t, 5*time.Second, "control socket", func() bool {
		resp, err := client.Get("http://init/v1/status")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket: got %v, %v, want mode 0600", fi.Mode(), err)
	}

	tests := []struct {
		method, path string
		wantCode     int
		wantBody     string // for text; errors are checked as JSON
		wantErr      *httpjson.Error
	}{
		{"GET", "/v1/services/web/logs", 200, "web line 000\nweb line 001\n", nil},
		{"GET", "/v1/services/nosuch/logs", 404, "", &httpjson.Error{Code: "unknown_service", Message: `unknown service "nosuch" (known: web)`}},
		{"POST", "/v1/services/nosuch/restart", 404, "", &httpjson.Error{Code: "unknown_service", Message: `unknown service "nosuch" (known: web)`}},
		{"POST", "/v1/status", 405, "", &httpjson.Error{Code: "method_not_allowed", Message: "POST /v1/status is not supported; use GET"}},
		{"GET", "/v1/poweroff", 405, "", &httpjson.Error{Code: "method_not_allowed", Message: "GET /v1/poweroff is not supported; use POST"}},
		{"GET", "/v2/status", 404, "", &httpjson.Error{Code: "not_found", Message: "no endpoint /v2/status; see /v1/status, /v1/services/{name}/logs, /v1/poweroff, /v1/reboot"}},
		{"POST", "/v1/reboot", 501, "", &httpjson.Error{Code: "not_supported", Message: "reboot is not supported by this init"}},
		{"POST", "/v1/poweroff", 202, "", nil},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, "http://init"+tt.path, nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", tt.method, tt.path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.wantCode {
			t.Errorf("%s %s: got status %d, want %d (body %q)", tt.method, tt.path, resp.StatusCode, tt.wantCode, body)
		}
		if tt.wantErr != nil {
			var got httpjson.Error
			if err := json.Unmarshal(body, &got); err != nil {
				t.Errorf("%s %s: body %q is not a JSON error: %v", tt.method, tt.path, body, err)
			}
			if diff := cmp.Diff(*tt.wantErr, got); diff != "" {
				t.Errorf("%s %s: error (-want +got):\n%s", tt.method, tt.path, diff)
			}
		} else if diff := cmp.Diff(tt.wantBody, string(body)); diff != "" {
			t.Errorf("%s %s: body (-want +got):\n%s", tt.method, tt.path, diff)
		}
	}
	select {
	case <-poweroff:
	case <-time.After(5 * time.Second):
		t.Errorf("POST /v1/poweroff did not call Poweroff")
	}

	resp, err := client.Get("http://init/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	var got contract.Status
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	want := contract.Status{
		BootID: "boot-1", Ready: true, ReadyAt: s.ReadyAt(),
		Services: []contract.ServiceStatus{{Name: "web", State: contract.StateRunning}},
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(contract.ServiceStatus{}, "PID", "StartedAt")); diff != "" {
		t.Errorf("status (-want +got):\n%s", diff)
	}
	if got.Services[0].PID == 0 || got.Services[0].StartedAt.IsZero() {
		t.Errorf("status: got pid %d, started at %v, want both set", got.Services[0].PID, got.Services[0].StartedAt)
	}

	cancel()
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("socket left after Serve returned: %v", err)
	}
}

// TestControlLimits: the control socket is served under
// serve.SiteLimits, so a client cannot make init hold more than the
// limits allow; here, a header block over MaxHeaderBytes is refused
// (net/http's own default would take a megabyte).
func TestControlLimits(t *testing.T) {
	t.Parallel()
	s, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &Control{Supervisor: s, BootID: "boot-1"}
	sock := filepath.Join(t.TempDir(), "init.sock")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.Serve(ctx, sock)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		},
	}}
	get := func(header string) (int, error) {
		req, _ := http.NewRequest("GET", "http://init/v1/status", nil)
		if header != "" {
			req.Header.Set("X-Big", header)
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	waitFor(t, 5*time.Second, "control socket", func() bool { _, err := get(""); return err == nil })
	if code, err := get(strings.Repeat("x", 2*serve.SiteLimits.MaxHeaderBytes)); err != nil || code != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("request with %d bytes of headers: %d, %v; want 431", 2*serve.SiteLimits.MaxHeaderBytes, code, err)
	}
}
