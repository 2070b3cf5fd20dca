package health

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/skerry/skerry/qemu/swtpm"
	"github.com/skerry/skerry/services/contract"
)

// fakeInit serves init's side of the initapi contract on a unix socket:
// the status and a reboot request. It stands in for PID 1, which a test
// process cannot be.
func fakeInit(t *testing.T, st contract.Status, rebooted chan<- struct{}) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "init.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) { json.NewEncoder(w).Encode(st) })
	mux.HandleFunc("POST /v1/reboot", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
		rebooted <- struct{}{}
	})
	srv := &httptest.Server{Listener: l, Config: &http.Server{Handler: mux}}
	srv.Start()
	t.Cleanup(srv.Close)
	return sock
}

func TestCollect(t *testing.T) {
	services := []contract.ServiceStatus{{Name: "containerd", State: contract.StateRunning, PID: os.Getpid(), Restarts: 2}}
	sock := fakeInit(t, contract.Status{Ready: true, Services: services}, nil)
	bootFile := filepath.Join(t.TempDir(), "boot.json")
	boot := contract.Boot{BootID: "b00t", Image: contract.Release{Version: "v1", Board: "qemu-x86_64", Arch: "amd64"},
		Perm: contract.Perm{Mounted: true, Boots: 3}, Network: contract.Network{Address: "192.0.2.10/24"}}
	data, _ := json.Marshal(boot)
	if err := os.WriteFile(bootFile, data, 0o644); err != nil {
		t.Fatal(err)
	}
	s := New(WithInitSocket(sock), WithBootFile(bootFile), WithTPM(swtpm.New(t, swtpm.Options{}).Path()), WithPermDir(t.TempDir()))
	st := s.Collect(context.Background())
	if len(st.Errors) > 0 {
		t.Errorf("errors: %v", st.Errors)
	}
	if diff := cmp.Diff(services, st.Services); diff != "" {
		t.Errorf("services (-want +got):\n%s", diff)
	}
	if !st.Ready || st.BootID != "b00t" || st.Image != boot.Image || st.Perm.Boots != 3 || st.Network != boot.Network {
		t.Errorf("status %+v does not carry the boot record %+v", st, boot)
	}
	if st.Perm.TotalBytes == 0 {
		t.Errorf("perm usage not read: %+v", st.Perm)
	}
	// swtpm reports IBM's manufacturer id.
	if !st.TPM.Present || st.TPM.Manufacturer != "IBM" || st.TPM.VendorString == "" {
		t.Errorf("TPM %+v, want present, manufacturer IBM, a vendor string", st.TPM)
	}
	// containerd is third party: its RSS is listed but not Skerry's.
	if st.Memory.RSSBytes["containerd"] == 0 || st.Memory.SkerryRSSBytes != st.Memory.RSSBytes["init"] {
		t.Errorf("memory %+v: want containerd listed and left out of Skerry's RSS", st.Memory)
	}
	if p := st.Memory.PSSBytes["containerd"]; p == 0 || p > st.Memory.RSSBytes["containerd"] {
		t.Errorf("memory %+v: want a PSS for containerd, no larger than its RSS", st.Memory)
	}
	// A Go process has a heap: some anonymous memory, less than its RSS.
	if a := st.Memory.AnonBytes["containerd"]; a == 0 || a > st.Memory.RSSBytes["containerd"] {
		t.Errorf("memory %+v: want anonymous memory for containerd, no more than its RSS", st.Memory)
	}
}

func TestCollectReportsWhatIsMissing(t *testing.T) {
	dir := t.TempDir()
	s := New(WithInitSocket(filepath.Join(dir, "nope.sock")), WithBootFile(filepath.Join(dir, "nope.json")), WithTPM(filepath.Join(dir, "tpmrm0")))
	st := s.Collect(context.Background())
	joined := strings.Join(st.Errors, "\n")
	for _, want := range []string{"boot record", "init status"} {
		if !strings.Contains(joined, want) {
			t.Errorf("errors %q do not mention %q", joined, want)
		}
	}
	if st.TPM.Present || !strings.Contains(st.TPM.Error, "tpmrm0") {
		t.Errorf("TPM %+v: want absent with an error naming the device", st.TPM)
	}
	if st.BootID == "" {
		t.Error("boot id not read from the kernel when the boot record is missing")
	}
}

func TestHandler(t *testing.T) {
	rebooted := make(chan struct{}, 1)
	sock := fakeInit(t, contract.Status{}, rebooted)
	for _, tc := range []struct {
		name         string
		debug        bool
		method, path string
		wantCode     int
		wantBody     string
	}{
		{"debug off", false, "POST", "/v1/debug/reboot", 403, "debug control is off"},
		{"unknown action", true, "POST", "/v1/debug/explode", 404, `unknown debug action \"explode\"`},
		{"unknown path", false, "GET", "/v2/health", 404, "see GET /v1/health"},
		{"reboot", true, "POST", "/v1/debug/reboot", 202, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(New(WithInitSocket(sock), WithDebugControl(tc.debug)).Handler())
			defer srv.Close()
			req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.wantCode || !strings.Contains(string(body), tc.wantBody) {
				t.Errorf("%s %s: got %d %s, want %d containing %q", tc.method, tc.path, resp.StatusCode, body, tc.wantCode, tc.wantBody)
			}
		})
	}
	select {
	case <-rebooted:
	default:
		t.Error("the reboot request did not reach init")
	}
}

// TestPermInRAMIsNotReady: services running on a /perm in RAM (the
// partition could not be mounted) is not a well box.
func TestPermInRAMIsNotReady(t *testing.T) {
	sock := fakeInit(t, contract.Status{Ready: true}, nil)
	bootFile := filepath.Join(t.TempDir(), "boot.json")
	boot := contract.Boot{BootID: "b00t", Perm: contract.Perm{Error: "/dev/vda3: partition holds data that is not an ext4 filesystem"}}
	data, _ := json.Marshal(boot)
	if err := os.WriteFile(bootFile, data, 0o644); err != nil {
		t.Fatal(err)
	}
	st := New(WithInitSocket(sock), WithBootFile(bootFile), WithTPM(filepath.Join(t.TempDir(), "tpm")), WithPermDir(t.TempDir())).Collect(context.Background())
	if st.Ready || !st.ServicesReady {
		t.Errorf("ready=%v servicesReady=%v, want not ready with the services ready", st.Ready, st.ServicesReady)
	}
	if len(st.Degraded) != 1 || !strings.Contains(st.Degraded[0], "/perm is in RAM") || !strings.Contains(st.Degraded[0], boot.Perm.Error) {
		t.Errorf("degraded %q, want /perm in RAM with the partition's error", st.Degraded)
	}
}

// TestServeNetworkNeedsToken serves the API on a local listener and a
// "network" one (on loopback here: tests reach nothing else): the local
// one answers anyone, the network one only the token.
func TestServeNetworkNeedsToken(t *testing.T) {
	sock := fakeInit(t, contract.Status{Ready: true}, nil)
	s := New(WithInitSocket(sock), WithTPM(filepath.Join(t.TempDir(), "tpm")), WithPermDir(t.TempDir()))
	const token = "0123456789abcdef-bench"
	local, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	network, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, []net.Listener{local}, []net.Listener{network}, token) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	for _, tc := range []struct {
		name     string
		addr     string
		auth     string
		wantCode int
	}{
		{"local, no token", local.Addr().String(), "", 200},
		{"network, no token", network.Addr().String(), "", 401},
		{"network, wrong token", network.Addr().String(), "Bearer 0123456789abcdef-wrong", 401},
		{"network, token without Bearer", network.Addr().String(), token, 401},
		{"network, token", network.Addr().String(), "Bearer " + token, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", "http://"+tc.addr+"/v1/health", nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.wantCode {
				t.Errorf("got %d %s, want %d", resp.StatusCode, body, tc.wantCode)
			}
			if tc.wantCode == 401 && !strings.Contains(string(body), `"code":"unauthenticated"`) && !strings.Contains(string(body), `"code": "unauthenticated"`) {
				t.Errorf("401 body %s, want code unauthenticated", body)
			}
		})
	}
}

func TestServeRefusesNetworkWithoutToken(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	err = New().Serve(context.Background(), nil, []net.Listener{l}, "short")
	if err == nil || !strings.Contains(err.Error(), "health.token") {
		t.Errorf("Serve on the network with a short token: %v, want a refusal naming health.token", err)
	}
}
