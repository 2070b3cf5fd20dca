package agent

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skerry/skerry/services/api/enrollapi"
	"github.com/skerry/skerry/services/api/workloadapi"
	"github.com/skerry/skerry/services/workload"
)

// TestPutQuotas: the tower's quotas reach the workload service's desired
// state (a real State and Handler on a unix socket; no containers, and a
// runner without cgroup quotas); a desired state without quotas leaves
// them; an empty set removes them; a bad one is refused naming the field.
func TestPutQuotas(t *testing.T) {
	dir := t.TempDir()
	st, err := workload.OpenState(filepath.Join(dir, "desired.json"), workload.New(nil))
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "workload.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: workload.Handler(st)}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	ctx := context.Background()
	wc := newWorkloadClient(sock)

	q := workloadapi.Resources{CPU: "2", Memory: "512Mi", Pids: 256}
	if err := wc.putQuotas(ctx, enrollapi.Desired{Quotas: map[string]workloadapi.Resources{"acme": q}}); err != nil {
		t.Fatal(err)
	}
	if got, ok := st.Quota("acme"); !ok || got != q {
		t.Errorf("acme's quota: %+v %v, want %+v", got, ok, q)
	}
	if err := wc.putQuotas(ctx, enrollapi.Desired{}); err != nil {
		t.Fatal(err)
	}
	if _, ok := st.Quota("acme"); !ok {
		t.Error("a desired state without quotas (an older tower) removed acme's")
	}
	err = wc.putQuotas(ctx, enrollapi.Desired{Quotas: map[string]workloadapi.Resources{"acme": {Memory: "lots"}}})
	if err == nil || !strings.Contains(err.Error(), "memory") {
		t.Errorf("a bad quota: %v, want a refusal naming memory", err)
	}
	if err := wc.putQuotas(ctx, enrollapi.Desired{Quotas: map[string]workloadapi.Resources{}}); err != nil {
		t.Fatal(err)
	}
	if _, ok := st.Quota("acme"); ok {
		t.Error("an empty set of quotas kept acme's")
	}
}
