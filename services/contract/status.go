package contract

import "time"

// Service states as init reports them.
const (
	StateStarting = "starting" // process started, not yet ready
	StateRunning  = "running"  // ready
	StateBackoff  = "backoff"  // exited, waiting to restart
	StateStopped  = "stopped"  // stopped on purpose, or exited ExitDoNotRestart
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

// Status is what GET /v1/status on InitSocket returns.
type Status struct {
	BootID   string          `json:"bootId"`
	Ready    bool            `json:"ready"`
	ReadyAt  time.Time       `json:"readyAt,omitzero"`
	Services []ServiceStatus `json:"services"`
}

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
