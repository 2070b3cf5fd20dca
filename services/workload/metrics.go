package workload

import (
	"context"
	"net/http"
	"time"

	v1 "github.com/containerd/cgroups/v3/cgroup1/stats"
	v2 "github.com/containerd/cgroups/v3/cgroup2/stats"
	"github.com/containerd/typeurl/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
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

// collector exports every app's state and use as Prometheus metrics.
type collector struct{ r *Runner }

var (
	descCPU      = prometheus.NewDesc("skerry_workload_app_cpu_seconds_total", "CPU time the app's cgroup used.", []string{"tenant", "app"}, nil)
	descMem      = prometheus.NewDesc("skerry_workload_app_memory_bytes", "Memory the app's cgroup uses now.", []string{"tenant", "app"}, nil)
	descRestarts = prometheus.NewDesc("skerry_workload_app_restarts_total", "Restarts of the app by its policy.", []string{"tenant", "app"}, nil)
	descRunning  = prometheus.NewDesc("skerry_workload_app_running", "1 while the app's task runs.", []string{"tenant", "app"}, nil)
)

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descCPU
	ch <- descMem
	ch <- descRestarts
	ch <- descRunning
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.r.StatusUsage(context.Background()) {
		running := 0.0
		if s.State == StateRunning {
			running = 1
			ch <- prometheus.MustNewConstMetric(descCPU, prometheus.CounterValue, s.CPUSeconds, s.Tenant, s.Name)
			ch <- prometheus.MustNewConstMetric(descMem, prometheus.GaugeValue, float64(s.MemoryBytes), s.Tenant, s.Name)
		}
		ch <- prometheus.MustNewConstMetric(descRestarts, prometheus.CounterValue, float64(s.Restarts), s.Tenant, s.Name)
		ch <- prometheus.MustNewConstMetric(descRunning, prometheus.GaugeValue, running, s.Tenant, s.Name)
	}
}

// MetricsHandler serves the runner's metrics in Prometheus' text format.
func MetricsHandler(r *Runner) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collector{r})
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}
