// Package initapi is the contract between init (PID 1) and the services it
// supervises: the status it reports for each service and the control socket
// that serves it. init implements it; services such as health read it.
package initapi

import "time"

// SocketPath is init's control socket: HTTP over a unix socket, root only.
const SocketPath = "/run/skerry/init.sock"

// Service states.
const (
	StateStarting = "starting" // process started, not yet ready
	StateRunning  = "running"  // ready
	StateBackoff  = "backoff"  // exited, waiting to restart
	StateStopped  = "stopped"  // stopped on purpose, or exit 125
	StateFailed   = "failed"   // could not be started at all
	StateWaiting  = "waiting"  // waiting for its dependencies
)

// ServiceStatus is one supervised service as init sees it.
type ServiceStatus struct {
	Name      string    `json:"name"`
	State     string    `json:"state"`
	PID       int       `json:"pid,omitempty"`
	Restarts  int       `json:"restarts"`
	StartedAt time.Time `json:"startedAt,omitzero"`
	LastExit  string    `json:"lastExit,omitempty"` // "exit status 1", "signal: killed"
	DependsOn []string  `json:"dependsOn,omitempty"`
	MemoryMax int64     `json:"memoryMaxBytes,omitempty"`
	MemoryNow int64     `json:"memoryBytes,omitempty"` // cgroup memory.current
}

// Status is what GET /v1/status on the control socket returns.
type Status struct {
	BootID   string          `json:"bootId"`
	Ready    bool            `json:"ready"`
	ReadyAt  time.Time       `json:"readyAt,omitzero"`
	Services []ServiceStatus `json:"services"`
}
