// Package workloadapi holds the app spec: what an operator declares once
// at the tower and every matching site runs. The tower stores and checks
// specs with it, the site's workload runner parses them with it, so both
// refuse the same bad spec with the same words.
//
// A spec is versioned, strict JSON, like the site config: an unknown field
// or version is an error, and every error names the field and the reason.
//
//	{
//	  "version": 1,
//	  "tenant": "acme",
//	  "name": "web",
//	  "image": {"ref": "registry.example/acme/web:1.2"},
//	  "command": ["/web", "-listen", ":8080"],
//	  "env": {"MODE": "edge"},
//	  "resources": {"cpu": "500m", "memory": "64Mi", "pids": 128},
//	  "restart": {"policy": "always"},
//	  "health": {"http": {"port": 8080, "path": "/healthz"}, "startPeriod": "30s"},
//	  "secrets": [{"name": "db-password"}],
//	  "volumes": [{"name": "data", "path": "/data"}],
//	  "ports": [{"host": 8080, "container": 8080}],
//	  "readOnlyRoot": true,
//	  "labels": {"tier": "frontend"}
//	}
package workloadapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Version is the newest spec format this build reads.
const Version = 1

// MaxSpecBytes bounds a spec's encoded size.
const MaxSpecBytes = 64 << 10

// ErrVersion is returned for a spec version this build does not know.
var ErrVersion = errors.New("unsupported app spec version")

// ErrInvalid is wrapped by every error about a spec's content.
var ErrInvalid = errors.New("invalid app spec")

// AppSpec is one application.
type AppSpec struct {
	Version int `json:"version"`
	// Tenant owns the app: its containerd namespace, cgroup subtree,
	// stream log topics and secrets are the tenant's.
	Tenant string `json:"tenant"`
	// Name is unique within the tenant; it names the container, the log
	// topic (apps/NAME) and the volumes' directory.
	Name string `json:"name"`
	// Image is where the root filesystem comes from.
	Image Image `json:"image"`
	// Command replaces the image's entrypoint and command when set.
	Command []string          `json:"command,omitempty"`
	Env     map[string]string `json:"env,omitempty"`
	// User runs the process as "UID" or "UID:GID" (numeric); default
	// 65534:65534 (nobody), never root unless the spec says "0".
	User         string            `json:"user,omitempty"`
	Resources    Resources         `json:"resources,omitzero"`
	Restart      Restart           `json:"restart,omitzero"`
	Health       *Health           `json:"health,omitempty"`
	Secrets      []Secret          `json:"secrets,omitempty"`
	Volumes      []Volume          `json:"volumes,omitempty"`
	Ports        []Port            `json:"ports,omitempty"`
	ReadOnlyRoot bool              `json:"readOnlyRoot,omitempty"`
	Labels       map[string]string `json:"labels,omitempty"`
}

// Image is an OCI image: a reference pulled from a registry, or an OCI
// archive (for air-gapped sites) at a path on the site.
type Image struct {
	Ref     string `json:"ref,omitempty"`
	Archive string `json:"archive,omitempty"`
}

// Resources are the container's limits.
type Resources struct {
	// CPU is in cores ("0.5", "2") or millicores ("500m").
	CPU string `json:"cpu,omitempty"`
	// Memory is a size: "64Mi", "1Gi", "500M", or bytes.
	Memory string `json:"memory,omitempty"`
	Pids   int64  `json:"pids,omitempty"`
}

// Restart policies.
const (
	RestartAlways    = "always"
	RestartOnFailure = "on-failure"
	RestartNever     = "never"
)

// Restart says when the runner starts the app again after it exits.
type Restart struct {
	Policy string `json:"policy,omitempty"` // default "always"
	// MaxBackoff caps the wait between restarts (default "5m").
	MaxBackoff Duration `json:"maxBackoff,omitzero"`
}

// Health checks the app while it runs: exec a command in the container,
// or GET a path on a container port (2xx and 3xx are healthy).
type Health struct {
	Exec []string    `json:"exec,omitempty"`
	HTTP *HTTPHealth `json:"http,omitempty"`
	// StartPeriod is the time after start in which failures do not count.
	StartPeriod Duration `json:"startPeriod,omitzero"`
	Interval    Duration `json:"interval,omitzero"` // default 10s
	Timeout     Duration `json:"timeout,omitzero"`  // default 2s
	// FailureThreshold consecutive failures make the app unhealthy
	// (default 3); SuccessThreshold successes make it healthy again
	// (default 1).
	FailureThreshold int `json:"failureThreshold,omitempty"`
	SuccessThreshold int `json:"successThreshold,omitempty"`
	// OnUnhealthy is "restart" (default) or "mark" (report only).
	OnUnhealthy string `json:"onUnhealthy,omitempty"`
}

// HTTPHealth is an HTTP GET health check.
type HTTPHealth struct {
	Port int    `json:"port"`
	Path string `json:"path,omitempty"` // default "/"
}

// Secret is one of the tenant's secrets, given to the app as a read-only
// file /run/secrets/FILE (FILE defaults to the secret's name).
type Secret struct {
	Name string `json:"name"`
	File string `json:"file,omitempty"`
}

// Volume is a directory of the app's on the persistent partition,
// mounted at Path; it survives restarts, updates and reboots.
type Volume struct {
	Name     string `json:"name"`
	Path     string `json:"path"`
	ReadOnly bool   `json:"readOnly,omitempty"`
}

// Port publishes a container port on the site: the workload service
// listens on Host on every address of the site and forwards each TCP
// connection, or each UDP client's datagrams, to Container on the app's
// own loopback (services/workload README, "Host ports"). The app listens
// on 127.0.0.1 or on every address; it sees its clients as 127.0.0.1. A
// host port is the app's alone on a site: a port another app publishes
// or a service of the site holds is refused.
type Port struct {
	Host      int    `json:"host"`
	Container int    `json:"container"`
	Protocol  string `json:"protocol,omitempty"` // "tcp" (default) or "udp"
}

// String reads like Docker's: "8080->80/tcp" (host port, container
// port, protocol).
func (p Port) String() string {
	proto := p.Protocol
	if proto == "" {
		proto = "tcp"
	}
	return fmt.Sprintf("%d->%d/%s", p.Host, p.Container, proto)
}

// Duration is a time.Duration written as a string ("30s", "5m").
type Duration struct{ time.Duration }

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a duration string like \"30s\" or \"5m\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return fmt.Errorf("duration %q: want a positive duration like \"30s\" or \"5m\"", s)
	}
	d.Duration = v
	return nil
}

// IsZero lets omitzero leave an unset duration out.
func (d Duration) IsZero() bool { return d.Duration == 0 }

// Parse decodes and checks a spec, filling defaults.
func Parse(data []byte) (*AppSpec, error) {
	if len(data) > MaxSpecBytes {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrInvalid, len(data), MaxSpecBytes)
	}
	var probe struct {
		Version int `json:"version"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, fmt.Errorf("%w: not valid JSON: %v", ErrInvalid, err)
	}
	if probe.Version < 1 || probe.Version > Version {
		return nil, fmt.Errorf("%w %d: this build reads versions 1 to %d", ErrVersion, probe.Version, Version)
	}
	var s AppSpec
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("%w: %v (see services/api/workloadapi for the fields)", ErrInvalid, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: data after the spec", ErrInvalid)
	}
	if err := s.Check(); err != nil {
		return nil, err
	}
	s.Normalize()
	return &s, nil
}

// Marshal encodes the spec, indented.
func (s *AppSpec) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(s, "", "  ")
	return append(b, '\n'), err
}

// Normalize fills the defaults and gives empty lists and maps one form.
// Parse does it; a spec decoded another way must be Checked and
// Normalized before use.
func (s *AppSpec) Normalize() {
	// Empty and absent are the same spec: one form, so a spec and its
	// re-encoding compare equal.
	if len(s.Env) == 0 {
		s.Env = nil
	}
	if len(s.Labels) == 0 {
		s.Labels = nil
	}
	if len(s.Command) == 0 {
		s.Command = nil
	}
	if len(s.Secrets) == 0 {
		s.Secrets = nil
	}
	if len(s.Volumes) == 0 {
		s.Volumes = nil
	}
	if len(s.Ports) == 0 {
		s.Ports = nil
	}
	if h := s.Health; h != nil && len(h.Exec) == 0 {
		h.Exec = nil
	}
	if s.Restart.Policy == "" {
		s.Restart.Policy = RestartAlways
	}
	if s.Restart.MaxBackoff.Duration == 0 {
		s.Restart.MaxBackoff.Duration = 5 * time.Minute
	}
	if h := s.Health; h != nil {
		if h.Interval.Duration == 0 {
			h.Interval.Duration = 10 * time.Second
		}
		if h.Timeout.Duration == 0 {
			h.Timeout.Duration = 2 * time.Second
		}
		if h.FailureThreshold == 0 {
			h.FailureThreshold = 3
		}
		if h.SuccessThreshold == 0 {
			h.SuccessThreshold = 1
		}
		if h.OnUnhealthy == "" {
			h.OnUnhealthy = "restart"
		}
		if h.HTTP != nil && h.HTTP.Path == "" {
			h.HTTP.Path = "/"
		}
	}
	for i := range s.Secrets {
		if s.Secrets[i].File == "" {
			s.Secrets[i].File = s.Secrets[i].Name
		}
	}
	for i := range s.Ports {
		if s.Ports[i].Protocol == "" {
			s.Ports[i].Protocol = "tcp"
		}
	}
	if s.User == "" {
		s.User = "65534:65534"
	}
}
