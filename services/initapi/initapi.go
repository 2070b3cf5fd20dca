// Package initapi is the contract between init (PID 1) and the services it
// supervises: the status it reports for each service and the control socket
// that serves it. init implements it; services such as health read it.
package initapi

import "time"

// ReadyFDEnv names the environment variable in which init passes the file
// descriptor a service writes "READY\n" to once it serves requests.
const ReadyFDEnv = "SKERRY_READY_FD"

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

// BootFile is where init records what it found while booting, for the
// status API: the image, /perm, the network, the modules.
const BootFile = "/run/skerry/boot.json"

// Boot is the content of BootFile.
type Boot struct {
	BootID       string   `json:"bootId"`
	Image        Release  `json:"image"`
	Ready        bool     `json:"ready"`
	ReadySeconds float64  `json:"readySeconds,omitempty"` // kernel start to ready
	Perm         Perm     `json:"perm"`
	Network      Network  `json:"network"`
	Modules      []string `json:"modules"`
}

// Release mirrors the image's release file.
type Release struct {
	Version string `json:"version"`
	Board   string `json:"board"`
	Arch    string `json:"arch"`
	Kernel  string `json:"kernel"`
}

// Perm says how the persistent partition was found.
type Perm struct {
	Device    string `json:"device,omitempty"`
	Mounted   bool   `json:"mounted"`
	Formatted bool   `json:"formattedThisBoot"`
	Checked   string `json:"fsck,omitempty"`
	Boots     int    `json:"boots,omitempty"` // boots counted on this partition, this one included
	Error     string `json:"error,omitempty"`
}

// Network is the uplink as init configured it.
type Network struct {
	Interface string `json:"interface,omitempty"`
	Address   string `json:"address,omitempty"`
	Gateway   string `json:"gateway,omitempty"`
	Mode      string `json:"mode,omitempty"`
	Error     string `json:"error,omitempty"`
}
