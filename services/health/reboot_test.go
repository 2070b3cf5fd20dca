package health

import (
	"context"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"testing"
)

// TestRebootAnswerOutlivesTheService: a reboot stops the health service
// while init answers the request the service relayed. The caller must
// still get init's 202, not a 502 for a request cut by the service's own
// shutdown (seen in the VM test under load).
func TestRebootAnswerOutlivesTheService(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "init.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	stopping := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/reboot", func(w http.ResponseWriter, r *http.Request) {
		// Init stops the services before its answer leaves.
		cancel()
		<-stopping
		w.WriteHeader(http.StatusAccepted)
	})
	initSrv := &http.Server{Handler: mux}
	go initSrv.Serve(l)
	t.Cleanup(func() { initSrv.Close() })

	s := New(WithInitSocket(sock), WithDebugControl(true), WithTPM(filepath.Join(t.TempDir(), "tpm")), WithPermDir(t.TempDir()))
	local, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, []net.Listener{local}, nil, "") }()
	go func() {
		<-ctx.Done()
		close(stopping)
	}()
	resp, err := http.Post("http://"+local.Addr().String()+"/v1/debug/reboot", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Errorf("POST /v1/debug/reboot while the service stops: %s %s, want init's 202", resp.Status, body)
	}
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
}
