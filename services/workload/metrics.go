package workload

import (
	"context"
	"net/http"
	"time"

	v1 "github.com/containerd/cgroups/v3/cgroup1/stats"
	v2 "github.com/containerd/cgroups/v3/cgroup2/stats"
	"github.com/containerd/typeurl/v2"

	"github.com/skerry/skerry/services/internal/promtext"
)

// StatusUsage is Status with each running app's CPU and memory use, read
// from its cgroup through containerd (cgroup v2 on a site, v1 too).
func (r *Runner) StatusUsage(ctx context.Context) []Status {
	r.mu.Lock()
	apps := make(map[string]*app, len(r.apps))
	for k, a := range r.apps {
		apps[k] = a
	}
	r.mu.Unlock()
	out := r.Status()
	for i := range out {
		a := apps[key(out[i].Tenant, out[i].Name)]
		if a == nil {
			continue
		}
		a.mu.Lock()
		task := a.task
		a.mu.Unlock()
		if task == nil {
			continue
		}
		mctx, cancel := context.WithTimeout(nsCtx(ctx, out[i].Tenant), 5*time.Second)
		m, err := task.Metrics(mctx)
		cancel()
		if err != nil || m == nil || m.Data == nil {
			continue
		}
		v, err := typeurl.UnmarshalAny(m.Data)
		if err != nil {
			continue
		}
		switch s := v.(type) {
		case *v2.Metrics:
			out[i].CPUSeconds = float64(s.GetCPU().GetUsageUsec()) / 1e6
			out[i].MemoryBytes = s.GetMemory().GetUsage()
		case *v1.Metrics:
			out[i].CPUSeconds = float64(s.GetCPU().GetUsage().GetTotal()) / 1e9
			out[i].MemoryBytes = s.GetMemory().GetUsage().GetUsage()
		}
	}
	return out
}

var (
	descCPU      = promtext.NewDesc("skerry_workload_app_cpu_seconds_total", "CPU time the app's cgroup used.", promtext.Counter, "tenant", "app")
	descMem      = promtext.NewDesc("skerry_workload_app_memory_bytes", "Memory the app's cgroup uses now.", promtext.Gauge, "tenant", "app")
	descRestarts = promtext.NewDesc("skerry_workload_app_restarts_total", "Restarts of the app by its policy.", promtext.Counter, "tenant", "app")
	descRunning  = promtext.NewDesc("skerry_workload_app_running", "1 while the app's task runs.", promtext.Gauge, "tenant", "app")
)

// MetricsHandler serves every app's state and use in Prometheus' text
// format (services/internal/promtext: Prometheus' client library and the
// protobuf runtime it brings cost the skerry-workload binary's pages; see
// docs/benchmarks.md, "Idle memory of the skerry services").
func MetricsHandler(r *Runner) http.Handler {
	return promtext.Handler(func(f *promtext.Family) {
		for _, s := range r.StatusUsage(context.Background()) {
			running := 0.0
			if s.State == StateRunning {
				running = 1
				f.Set(descCPU, s.CPUSeconds, s.Tenant, s.Name)
				f.Set(descMem, float64(s.MemoryBytes), s.Tenant, s.Name)
			}
			f.Set(descRestarts, float64(s.Restarts), s.Tenant, s.Name)
			f.Set(descRunning, running, s.Tenant, s.Name)
		}
	})
}
