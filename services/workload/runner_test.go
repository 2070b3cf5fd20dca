package workload

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"

	"github.com/skerry/skerry/qemu/ocitest"
	"github.com/skerry/skerry/services/api/workloadapi"
)

// newRunner returns a runner on a real containerd, with the probe image
// as an OCI archive and every directory private to the test.
func newRunner(t *testing.T, extra ...Option) (*Runner, func() *Runner, string, string) {
	t.Helper()
	c := startContainerd(t)
	src, err := os.ReadFile("testdata/probe.go.txt")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	archive := filepath.Join(dir, "probe.tar")
	if err := ocitest.Build(ocitest.Image{Name: "skerry.test/probe:1", Arch: hostArch, Source: string(src)}, archive); err != nil {
		t.Fatal(err)
	}
	logs := filepath.Join(dir, "logs")
	mk := func() *Runner {
		opts := append([]Option{WithSnapshotter("native"), WithVolumeRoot(filepath.Join(dir, "volumes")), WithLogRoot(logs),
			WithBackoff(100 * time.Millisecond), WithStopGrace(2 * time.Second),
			WithCgroupRoot(fmt.Sprintf("/skerry-test-%d", time.Now().UnixNano()))}, extra...)
		return New(c, opts...)
	}
	r := mk()
	t.Cleanup(func() {
		for _, st := range r.Status() {
			r.Remove(context.Background(), st.Tenant, st.Name)
		}
	})
	return r, mk, archive, dir
}

func probeSpec(tenant, name, archive string, env map[string]string) *workloadapi.AppSpec {
	s := &workloadapi.AppSpec{Version: 1, Tenant: tenant, Name: name, Image: workloadapi.Image{Archive: archive},
		Env: env, ReadOnlyRoot: true, User: "65534:65534",
		Restart:   workloadapi.Restart{Policy: workloadapi.RestartOnFailure, MaxBackoff: workloadapi.Duration{Duration: time.Second}},
		Resources: workloadapi.Resources{Memory: "32Mi", Pids: 32, CPU: "500m"},
		Volumes:   []workloadapi.Volume{{Name: "data", Path: "/data"}}}
	return s
}

func statusOf(r *Runner, tenant, name string) Status {
	for _, s := range r.Status() {
		if s.Tenant == tenant && s.Name == name {
			return s
		}
	}
	return Status{}
}

// TestUnprivilegedAndRestarted runs an app that fails: it must run as
// nobody with no capabilities and a read-only root, write its volume, and
// be restarted with backoff per its on-failure policy.
func TestUnprivilegedAndRestarted(t *testing.T) {
	r, _, archive, dir := newRunner(t)
	spec := probeSpec("acme", "probe", archive, map[string]string{"RUN": "fail", "EXIT": "3", "VOLUME": "/data"})
	if err := r.Apply(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "two restarts", 2*time.Minute, func() bool { return statusOf(r, "acme", "probe").Restarts >= 2 })
	st := statusOf(r, "acme", "probe")
	if st.LastExit != "exit status 3" {
		t.Errorf("last exit %q, want exit status 3", st.LastExit)
	}
	out := readLog(filepath.Join(dir, "logs", "acme", "probe.log"))
	for _, want := range []string{"uid=65534 gid=65534", "capeff=0000000000000000", "capbnd=0000000000000000", "rootwrite=false", "hostname=probe", "volumewrite=true",
		// The default seccomp profile: blocked syscalls fail with EPERM.
		"keyctl=operation not permitted", "unshare=operation not permitted"} {
		if !strings.Contains(out, want) {
			t.Errorf("the app's output lacks %q:\n%s", want, out)
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "volumes", "acme", "probe", "data", "marker")); err != nil || string(b) != "fail" {
		t.Errorf("volume marker: %q, %v; want the app's write on the host", b, err)
	}
}

// TestExitZeroStaysExited: on-failure keeps an app that exited 0 stopped.
func TestExitZeroStaysExited(t *testing.T) {
	r, _, archive, _ := newRunner(t)
	if err := r.Apply(context.Background(), probeSpec("acme", "once", archive, map[string]string{"RUN": "ok"})); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the app to exit", 2*time.Minute, func() bool { return statusOf(r, "acme", "once").State == StateExited })
	time.Sleep(500 * time.Millisecond) // longer than the backoff: no restart may follow
	if st := statusOf(r, "acme", "once"); st.Restarts != 0 || st.State != StateExited || st.LastExit != "exit status 0" {
		t.Errorf("status %+v, want exited with status 0 and no restart", st)
	}
}

// TestReattachAndTenants: a runner that stops (the service restarting)
// leaves the app running, and a new runner takes it over without
// restarting it; another tenant's namespace does not see it.
func TestReattachAndTenants(t *testing.T) {
	r, mk, archive, _ := newRunner(t)
	spec := probeSpec("acme", "server", archive, map[string]string{"RUN": "long", "SLEEP": "1h"})
	ctx := context.Background()
	if err := r.Apply(ctx, spec); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the app to run", 2*time.Minute, func() bool { return statusOf(r, "acme", "server").State == StateRunning })
	pid := statusOf(r, "acme", "server").PID
	checkUsage(t, r, "acme", "server")

	if _, err := r.client.LoadContainer(nsCtx(ctx, "bravo"), "server"); !errdefs.IsNotFound(err) {
		t.Errorf("tenant bravo's namespace: load acme's container: got %v, want not found", err)
	}

	r.Close()
	if err := syscallKill0(int(pid)); err != nil {
		t.Fatalf("the app's process %d is gone after the runner stopped: %v", pid, err)
	}
	r2 := mk()
	if err := r2.Apply(ctx, spec); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the new runner to take the app over", time.Minute, func() bool { return statusOf(r2, "acme", "server").State == StateRunning })
	if st := statusOf(r2, "acme", "server"); st.PID != pid || st.Restarts != 0 {
		t.Errorf("after reattach: %+v, want pid %d and no restart", st, pid)
	}
	if err := r2.Remove(ctx, "acme", "server"); err != nil {
		t.Fatal(err)
	}
	if _, err := r2.client.LoadContainer(nsCtx(ctx, "acme"), "server"); !errdefs.IsNotFound(err) {
		t.Errorf("after Remove: load container: got %v, want not found", err)
	}
	if err := syscallKill0(int(pid)); err == nil {
		t.Errorf("the app's process %d still runs after Remove", pid)
	}
	checkImagesCollected(t, r2, "acme")
}

// TestMemoryHogKilledInItsCgroup: an app that allocates past its memory
// limit is killed by the kernel inside its own cgroup; the runner (this
// process) and containerd are untouched.
func TestMemoryHogKilledInItsCgroup(t *testing.T) {
	r, _, archive, dir := newRunner(t)
	spec := probeSpec("acme", "hog", archive, map[string]string{"RUN": "hog", "HOG": "1"})
	spec.Restart.Policy = workloadapi.RestartNever
	if err := r.Apply(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the hog to end", 2*time.Minute, func() bool { return statusOf(r, "acme", "hog").State == StateExited })
	if st := statusOf(r, "acme", "hog"); st.LastExit != "exit status 137" {
		t.Errorf("hog: %+v, want killed (exit status 137) by its 32Mi limit", st)
	}
	if out := readLog(filepath.Join(dir, "logs", "acme", "hog.log")); strings.Contains(out, "hoarded=") {
		t.Errorf("the hog allocated 1 GiB past its 32Mi limit:\n%s", out)
	}
	if _, err := r.client.Version(context.Background()); err != nil {
		t.Errorf("containerd after the hog: %v", err)
	}
}

// TestHealthChecks runs four apps at once: an HTTP check and an exec check
// that pass (healthy), an HTTP check that fails with onUnhealthy "mark"
// (unhealthy, still running, not restarted), and an exec check that fails
// with "restart" (killed and restarted).
func TestHealthChecks(t *testing.T) {
	r, _, archive, _ := newRunner(t)
	ms := func(d time.Duration) workloadapi.Duration { return workloadapi.Duration{Duration: d} }
	check := func(name string, env map[string]string, h workloadapi.Health) {
		s := probeSpec("acme", name, archive, env)
		s.Restart.Policy = workloadapi.RestartAlways
		h.Interval, h.Timeout, h.FailureThreshold = ms(300*time.Millisecond), ms(2*time.Second), 2
		if h.Timeout.Duration > h.Interval.Duration {
			h.Interval = h.Timeout
		}
		s.Health = &h
		s.Normalize()
		if err := r.Apply(context.Background(), s); err != nil {
			t.Fatal(err)
		}
	}
	check("http-ok", map[string]string{"SERVE": ":8080", "SLEEP": "1h"}, workloadapi.Health{HTTP: &workloadapi.HTTPHealth{Port: 8080, Path: "/healthz"}})
	check("exec-ok", map[string]string{"SLEEP": "1h"}, workloadapi.Health{Exec: []string{"/app", "check"}})
	check("http-sick", map[string]string{"SERVE": ":8080", "SLEEP": "1h", "HTTP_FAIL": "1"}, workloadapi.Health{HTTP: &workloadapi.HTTPHealth{Port: 8080}, OnUnhealthy: "mark"})
	check("exec-sick", map[string]string{"SLEEP": "1h", "CHECK_FAIL": "1"}, workloadapi.Health{Exec: []string{"/app", "check"}, OnUnhealthy: "restart"})

	waitFor(t, "http-ok and exec-ok healthy", 2*time.Minute, func() bool {
		return statusOf(r, "acme", "http-ok").Health == HealthHealthy && statusOf(r, "acme", "exec-ok").Health == HealthHealthy
	})
	waitFor(t, "http-sick unhealthy", 2*time.Minute, func() bool { return statusOf(r, "acme", "http-sick").Health == HealthUnhealthy })
	if st := statusOf(r, "acme", "http-sick"); st.State != StateRunning || st.Restarts != 0 || !strings.Contains(st.HealthError, "500") {
		t.Errorf("http-sick: %+v, want running, not restarted, failing with 500", st)
	}
	waitFor(t, "exec-sick restarted", 2*time.Minute, func() bool { return statusOf(r, "acme", "exec-sick").Restarts >= 1 })
	if st := statusOf(r, "acme", "exec-sick"); st.LastExit != "exit status 137" {
		t.Errorf("exec-sick: %+v, want killed (137) by the health check", st)
	}
}

// TestTenantQuotaKillsHog: an app whose own memory limit is large is
// still bounded by its tenant's quota on the parent cgroup: the hog is
// killed there, while the runner (this process) and containerd go on.
func TestTenantQuotaKillsHog(t *testing.T) {
	quota := func(tenant string) workloadapi.Resources {
		return workloadapi.Resources{Memory: "48Mi", Pids: 64, CPU: "1"}
	}
	r, _, archive, dir := newRunner(t, WithTenantQuota(quota))
	spec := probeSpec("acme", "bighog", archive, map[string]string{"RUN": "hog", "HOG": "1"})
	spec.Resources.Memory = "2Gi"
	spec.Restart.Policy = workloadapi.RestartNever
	if err := r.Apply(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the hog to end", 2*time.Minute, func() bool { return statusOf(r, "acme", "bighog").State == StateExited })
	if st := statusOf(r, "acme", "bighog"); st.LastExit != "exit status 137" {
		t.Errorf("hog: %+v, want killed (exit status 137) by the tenant's 48Mi quota", st)
	}
	if out := readLog(filepath.Join(dir, "logs", "acme", "bighog.log")); strings.Contains(out, "hoarded=") {
		t.Errorf("the hog allocated 1 GiB past its tenant's 48Mi quota:\n%s", out)
	}
	if _, err := r.client.Version(context.Background()); err != nil {
		t.Errorf("containerd after the hog: %v", err)
	}
}

// TestLeftoverRootSnapshot: a root snapshot no container holds (the box
// lost power between the snapshot and the container: seen on arm64 after
// a reboot in the VM test, every restart failing with "already exists")
// does not stop the app from starting.
func TestLeftoverRootSnapshot(t *testing.T) {
	r, _, archive, _ := newRunner(t)
	// Under a lease that is never ended, as containerd's NewContainer
	// holds one while it makes the snapshot (containerd's garbage
	// collection would take a snapshot nothing references).
	ctx, _, err := r.client.WithLease(nsCtx(context.Background(), "acme"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.client.SnapshotService("native").Prepare(ctx, "leftover-root", ""); err != nil {
		t.Fatal(err)
	}
	if err := r.Apply(context.Background(), probeSpec("acme", "leftover", archive, map[string]string{"RUN": "ok"})); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the app to run and exit", 2*time.Minute, func() bool { return statusOf(r, "acme", "leftover").State == StateExited })
	if st := statusOf(r, "acme", "leftover"); st.LastExit != "exit status 0" {
		t.Errorf("status %+v, want the app run to exit status 0", st)
	}
}
