// Command workload measures the workload service against containerd's
// own CLI, in one run, on a real containerd, shim and runc (with seccomp)
// built from go.mod's pins (services/workload/workloadtest):
//
//   - container start for a small image already present, from the desired
//     state received (State.Put: stored, then applied) to the process
//     running, against `ctr run -d` of the same image;
//   - the resident memory of the skerry-workload binary idle with 0 and
//     with N apps running.
//
// As root:
//
//	go build -o /tmp/skerry-workload ./services/cmd/skerry-workload
//	go run ./tools/bench/workload -bin /tmp/skerry-workload
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/skerry/skerry/qemu/ocitest"
	"github.com/skerry/skerry/services/api/workloadapi"
	"github.com/skerry/skerry/services/workload"
	"github.com/skerry/skerry/services/workload/workloadtest"
)

// sleeper is the image's program: it sleeps.
const sleeper = `package main

import "time"

func main() { time.Sleep(time.Hour) }
`

func main() {
	if err := run(os.Stdout, os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "bench workload: %v\n", err)
		os.Exit(1)
	}
}

func run(stdout io.Writer, args []string) error {
	fs := flag.NewFlagSet("workload", flag.ContinueOnError)
	bin := fs.String("bin", "", "skerry-workload binary, for the RSS figure (optional)")
	n := fs.Int("n", 20, "container starts per side; 0: none")
	apps := fs.Int("apps", 10, "apps running for the RSS figure")
	settle := fs.Duration("settle", 10*time.Second, "idle time before RSS is read")
	binArgs := fs.String("bin-args", "", "more arguments for the skerry-workload binary, space-separated (\"-memory-limit 0\")")
	if err := fs.Parse(args); err != nil {
		return err
	}
	d, err := workloadtest.Start()
	if err != nil {
		return err
	}
	defer d.Close()
	dir, err := os.MkdirTemp("", "bench-workload")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	archive := filepath.Join(dir, "sleeper.tar")
	if err := ocitest.Build(ocitest.Image{Name: "skerry.test/sleeper:1", Arch: runtime.GOARCH, Source: sleeper}, archive); err != nil {
		return err
	}
	ctx := namespaces.WithNamespace(context.Background(), "bench")
	ref, err := importImage(ctx, d.Client, archive)
	if err != nil {
		return err
	}
	if *n > 0 {
		if err := starts(ctx, stdout, d, dir, ref, *n); err != nil {
			return err
		}
	}
	if *bin != "" {
		if err := rss(stdout, d, *bin, strings.Fields(*binArgs), dir, ref, *apps, *settle); err != nil {
			return err
		}
	}
	return nil
}

// starts prints the container start figures of both sides.
func starts(ctx context.Context, stdout io.Writer, d *workloadtest.Daemon, dir, ref string, n int) error {
	skerry, err := startSkerry(ctx, d, dir, ref, n)
	if err != nil {
		return err
	}
	ctr, err := startCtr(ctx, d, ref, n)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "container start, image present, %d runs each (%s/%s, %d CPUs)\n\n", n, runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
	fmt.Fprintln(stdout, "| | median | p90 | min |")
	fmt.Fprintln(stdout, "|---|---:|---:|---:|")
	for _, r := range []struct {
		name string
		ds   []time.Duration
	}{{"`ctr run -d` (process start to exit)", ctr}, {"skerry: State.Put to running", skerry}} {
		fmt.Fprintf(stdout, "| %s | %s | %s | %s |\n", r.name, ms(pct(r.ds, 50)), ms(pct(r.ds, 90)), ms(pct(r.ds, 0)))
	}
	fmt.Fprintf(stdout, "\nratio of medians skerry / ctr run: %.2f\n", float64(pct(skerry, 50))/float64(pct(ctr, 50)))
	return nil
}

// importImage imports and unpacks the archive into the bench namespace and
// keeps a container on it, so that no image collection removes it.
func importImage(ctx context.Context, c *containerd.Client, archive string) (string, error) {
	f, err := os.Open(archive)
	if err != nil {
		return "", err
	}
	defer f.Close()
	imgs, err := c.Import(ctx, f)
	if err != nil || len(imgs) != 1 {
		return "", fmt.Errorf("import: %v (%d images)", err, len(imgs))
	}
	img := containerd.NewImage(c, imgs[0])
	// native for both sides of the start figure; containerd's default
	// (overlayfs) for the binary of the RSS figure.
	for _, sn := range []string{"native", ""} {
		if err := img.Unpack(ctx, sn); err != nil {
			return "", fmt.Errorf("unpack for %q: %w", sn, err)
		}
	}
	if _, err := c.NewContainer(ctx, "keep", containerd.WithImage(img)); err != nil {
		return "", err
	}
	return imgs[0].Name, nil
}

func spec(name, ref string) *workloadapi.AppSpec {
	s := &workloadapi.AppSpec{Version: 1, Tenant: "bench", Name: name, Image: workloadapi.Image{Ref: ref},
		Command: []string{"/app"}, Resources: workloadapi.Resources{Memory: "32Mi", Pids: 32}}
	s.Normalize()
	return s
}

// startSkerry times State.Put of a new app until its status says
// running (the task started), n times.
func startSkerry(ctx context.Context, d *workloadtest.Daemon, dir, ref string, n int) ([]time.Duration, error) {
	r := workload.New(d.Client, workload.WithSnapshotter("native"), workload.WithLogger(slog.New(slog.DiscardHandler)),
		workload.WithCgroupRoot("/skerry-bench"), workload.WithVolumeRoot(filepath.Join(dir, "volumes")), workload.WithLogRoot(filepath.Join(dir, "logs")))
	defer r.Close()
	st, err := workload.OpenState(filepath.Join(dir, "desired.json"), r)
	if err != nil {
		return nil, err
	}
	var out []time.Duration
	for i := range n + 1 {
		name := fmt.Sprintf("s%d", i)
		t0 := time.Now()
		if err := st.Put(ctx, spec(name, ref)); err != nil {
			return nil, err
		}
		for {
			s := status(r, name)
			if s.State == workload.StateRunning {
				break
			}
			if s.State == workload.StateFailed {
				return nil, fmt.Errorf("app %s: %s", name, s.Error)
			}
			time.Sleep(200 * time.Microsecond)
		}
		if i > 0 { // the first one warms caches up
			out = append(out, time.Since(t0))
		}
		if err := st.Delete(ctx, "bench", name); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func status(r *workload.Runner, name string) workload.Status {
	for _, s := range r.Status() {
		if s.Name == name {
			return s
		}
	}
	return workload.Status{}
}

// startCtr times `ctr run -d` of the same image, n times.
func startCtr(ctx context.Context, d *workloadtest.Daemon, ref string, n int) ([]time.Duration, error) {
	var out []time.Duration
	for i := range n + 1 {
		id := fmt.Sprintf("c%d", i)
		cmd := exec.Command(filepath.Join(d.Bin, "ctr"), "-a", d.Socket, "-n", "bench", "run", "-d", "--null-io",
			"--snapshotter", "native", "--memory-limit", fmt.Sprint(32<<20), ref, id, "/app")
		t0 := time.Now()
		if b, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("ctr run: %v: %s", err, b)
		}
		if i > 0 {
			out = append(out, time.Since(t0))
		}
		c, err := d.Client.LoadContainer(ctx, id)
		if err != nil {
			return nil, err
		}
		if t, err := c.Task(ctx, nil); err == nil {
			t.Kill(ctx, syscall.SIGKILL)
			if ch, err := t.Wait(ctx); err == nil {
				<-ch
			}
			t.Delete(ctx)
		}
		if err := c.Delete(ctx, containerd.WithSnapshotCleanup); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// rss runs the skerry-workload binary, reads its RSS idle, puts apps
// through its API, and reads its RSS idle with them running.
func rss(stdout io.Writer, d *workloadtest.Daemon, bin string, binArgs []string, dir, ref string, apps int, settle time.Duration) error {
	home := filepath.Join(dir, "home")
	sock := filepath.Join(dir, "workload.sock")
	cmd := exec.Command(bin, "-home", home, "-socket", sock, "-containerd", d.Socket, "-cgroup-root", "/skerry-bench-rss", "-streamlog", "")
	cmd.Args = append(cmd.Args, binArgs...)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	api := func(method, path string, body []byte) ([]byte, error) {
		req, _ := http.NewRequest(method, "http://workload"+path, bytes.NewReader(body))
		resp, err := hc.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode/100 != 2 {
			return nil, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, b)
		}
		return b, nil
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if _, err := api("GET", "/v1/apps", nil); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("skerry-workload did not answer:\n%s", logs.String())
		}
	}
	time.Sleep(settle)
	idle := memory(cmd.Process.Pid)
	for i := range apps {
		s := spec(fmt.Sprintf("a%d", i), ref)
		b, _ := s.Marshal()
		if _, err := api("PUT", "/v1/apps/bench/"+s.Name, b); err != nil {
			return err
		}
	}
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		b, err := api("GET", "/v1/apps", nil)
		if err == nil && strings.Count(strings.ReplaceAll(string(b), " ", ""), `"state":"running"`) == apps {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d apps not running after 2 min: %s\n%s", apps, b, logs.String())
		}
	}
	cpu0 := cpuTicks(cmd.Process.Pid)
	time.Sleep(settle)
	busy := memory(cmd.Process.Pid)
	cpu := cpuTicks(cmd.Process.Pid) - cpu0
	fmt.Fprintf(stdout, "\n| skerry-workload %s, idle %s after | RSS MiB | anonymous | file (the binary) |\n|---|---:|---:|---:|\n| no app | %.1f | %.1f | %.1f |\n| %d apps running | %.1f | %.1f | %.1f |\n",
		strings.Join(binArgs, " "), settle, idle[0], idle[1], idle[2], apps, busy[0], busy[1], busy[2])
	fmt.Fprintf(stdout, "\nCPU of skerry-workload over the %s idle with %d apps: %d ms\n", settle, apps, cpu*10)
	for i := range apps {
		api("DELETE", fmt.Sprintf("/v1/apps/bench/a%d", i), nil)
	}
	return nil
}

// cpuTicks is the user+system time of pid in clock ticks (10 ms).
func cpuTicks(pid int) int {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	_, after, _ := strings.Cut(string(b), ") ")
	f := strings.Fields(after)
	if len(f) < 13 {
		return 0
	}
	var u, s int
	fmt.Sscan(f[11], &u)
	fmt.Sscan(f[12], &s)
	return u + s
}

// memory reads VmRSS, RssAnon and RssFile of pid from /proc/pid/status,
// in MiB: the binary's pages (file) apart from heaps and stacks (anon).
func memory(pid int) [3]float64 {
	var out [3]float64
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(b), "\n") {
		for i, field := range []string{"VmRSS:", "RssAnon:", "RssFile:"} {
			if v, ok := strings.CutPrefix(l, field); ok {
				fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(v), " kB"), &out[i])
				out[i] /= 1024
			}
		}
	}
	return out
}

func pct(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
