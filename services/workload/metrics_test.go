package workload

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
)

// checkUsage wants a running app's CPU and memory in its status and in
// the Prometheus metrics.
func checkUsage(t *testing.T, r *Runner, tenant, name string) {
	t.Helper()
	var st Status
	for _, s := range r.StatusUsage(t.Context()) {
		if s.Tenant == tenant && s.Name == name {
			st = s
		}
	}
	if st.MemoryBytes == 0 || st.CPUSeconds <= 0 {
		t.Errorf("usage of %s/%s: cpu %v s, memory %d bytes; want both above 0", tenant, name, st.CPUSeconds, st.MemoryBytes)
	}
	rec := httptest.NewRecorder()
	MetricsHandler(r).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`skerry_workload_app_memory_bytes{app="` + name + `",tenant="` + tenant + `"}`,
		`skerry_workload_app_cpu_seconds_total{app="` + name + `",tenant="` + tenant + `"}`,
		`skerry_workload_app_running{app="` + name + `",tenant="` + tenant + `"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s:\n%s", want, body)
		}
	}
}
