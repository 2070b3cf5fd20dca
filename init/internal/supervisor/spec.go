package supervisor

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"
)

// ReadyMode says how the supervisor learns that a service is ready.
type ReadyMode int

const (
	// ReadyNone: the service is ready as soon as its process started.
	ReadyNone ReadyMode = iota
	// ReadyNotify: the service writes "READY\n" to the file descriptor named
	// by SKERRY_READY_FD (see services/internal/daemon.Ready).
	ReadyNotify
	// ReadyPath: the service is ready when Spec.ReadyPath exists, typically
	// the unix socket it listens on.
	ReadyPath
)

func (m ReadyMode) String() string {
	switch m {
	case ReadyNone:
		return "none"
	case ReadyNotify:
		return "notify"
	case ReadyPath:
		return "path"
	}
	return fmt.Sprintf("ReadyMode(%d)", int(m))
}

// DefaultStopTimeout is how long a service has between SIGTERM and SIGKILL
// when its Spec does not say.
const DefaultStopTimeout = 10 * time.Second

// Spec describes one supervised service.
type Spec struct {
	Name string   // unique; also names the cgroup
	Path string   // absolute path of the executable
	Args []string // arguments after argv[0], e.g. {"streamlog"}
	// Env is the whole environment: init's own is not inherited, so what a
	// service sees is exactly what its Spec says.
	Env []string
	// Dir is the service's home and working directory, created (0700) before
	// each start when missing. Empty means init's working directory.
	Dir       string
	DependsOn []string // services that must be ready before this one starts

	MemoryMax int64 // cgroup memory.max in bytes; 0 means no limit
	PidsMax   int64 // cgroup pids.max; 0 means no limit

	Ready     ReadyMode
	ReadyPath string // for ReadyPath: the path that must appear

	// StopTimeout is how long the service may take to exit after SIGTERM
	// before its process group is killed; 0 means DefaultStopTimeout.
	StopTimeout time.Duration
}

func (sp Spec) stopTimeout() time.Duration {
	if sp.StopTimeout <= 0 {
		return DefaultStopTimeout
	}
	return sp.StopTimeout
}

// check validates one spec on its own; order checks how specs relate.
func (sp Spec) check() error {
	switch {
	case sp.Name == "":
		return fmt.Errorf("%w: empty name (path %q)", ErrInvalidSpec, sp.Path)
	case sp.Name == "." || sp.Name == ".." || strings.ContainsAny(sp.Name, "/\x00") || strings.TrimSpace(sp.Name) != sp.Name:
		// The name becomes a cgroup directory and appears in URLs.
		return fmt.Errorf("%w: name %q must be usable as a file name", ErrInvalidSpec, sp.Name)
	case !filepath.IsAbs(sp.Path):
		// No PATH lookup: init has no PATH worth trusting.
		return fmt.Errorf("%w: service %q: path %q is not absolute", ErrInvalidSpec, sp.Name, sp.Path)
	case sp.Ready == ReadyPath && !filepath.IsAbs(sp.ReadyPath):
		return fmt.Errorf("%w: service %q: ready mode path needs an absolute ReadyPath, got %q", ErrInvalidSpec, sp.Name, sp.ReadyPath)
	case sp.Ready != ReadyPath && sp.ReadyPath != "":
		return fmt.Errorf("%w: service %q: ReadyPath %q is set but ready mode is %v", ErrInvalidSpec, sp.Name, sp.ReadyPath, sp.Ready)
	case sp.Ready < ReadyNone || sp.Ready > ReadyPath:
		return fmt.Errorf("%w: service %q: unknown ready mode %v", ErrInvalidSpec, sp.Name, sp.Ready)
	case sp.MemoryMax < 0 || sp.PidsMax < 0:
		return fmt.Errorf("%w: service %q: negative MemoryMax or PidsMax", ErrInvalidSpec, sp.Name)
	}
	return nil
}
