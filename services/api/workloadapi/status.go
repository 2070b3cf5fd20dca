package workloadapi

import (
	"strconv"
	"time"
)

// App states.
const (
	StatePulling  = "pulling"
	StateStarting = "starting"
	StateRunning  = "running"
	StateBackoff  = "backoff" // exited, waiting to restart
	StateExited   = "exited"  // exited, and the policy says not to restart
	StateFailed   = "failed"  // could not be created or started
)

// Status is one app as a site's workload runner sees it.
type Status struct {
	Tenant    string    `json:"tenant"`
	Name      string    `json:"name"`
	State     string    `json:"state"`
	PID       uint32    `json:"pid,omitempty"`
	Restarts  int       `json:"restarts"`
	StartedAt time.Time `json:"startedAt,omitzero"`
	LastExit  string    `json:"lastExit,omitempty"`
	Error     string    `json:"error,omitempty"`
	// Health is "" without a health check, else starting, healthy or
	// unhealthy; HealthFailures counts consecutive failed checks and
	// HealthError says why the last one failed.
	Health         string `json:"health,omitempty"`
	HealthFailures int    `json:"healthFailures,omitempty"`
	HealthError    string `json:"healthError,omitempty"`
	// AppVersion is the tower's version of the spec the app runs, from
	// its LabelAppVersion label (0 without one); the tower's rollouts
	// judge a site by it.
	AppVersion int `json:"appVersion,omitempty"`
	// CPUSeconds and MemoryBytes are what the app's cgroup used (CPU
	// time since the task started) and uses now, while it runs.
	CPUSeconds  float64 `json:"cpuSeconds,omitempty"`
	MemoryBytes uint64  `json:"memoryBytes,omitempty"`
}

// LabelAppVersion is the spec label in which the tower tells a site
// which stored version of the app a spec is; the tower sets it in every
// desired state, over whatever the spec said.
const LabelAppVersion = "skerry/app-version"

// AppVersionOf is the version s carries in LabelAppVersion, or 0.
func AppVersionOf(s *AppSpec) int {
	if s == nil {
		return 0
	}
	v, err := strconv.Atoi(s.Labels[LabelAppVersion])
	if err != nil || v < 0 {
		return 0
	}
	return v
}

// Health states of an app with a health check.
const (
	HealthStarting  = "starting" // within the start period, or no verdict yet
	HealthHealthy   = "healthy"
	HealthUnhealthy = "unhealthy"
)

// App is one app in the answer to GET /v1/apps of the workload service.
type App struct {
	Spec   *AppSpec `json:"spec"`
	Status Status   `json:"status"`
}
