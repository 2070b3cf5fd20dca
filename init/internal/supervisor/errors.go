package supervisor

import "errors"

// Sentinel errors; callers check them with errors.Is.
var (
	// ErrInvalidSpec is returned by New when a Spec lacks a name or path, or
	// has a name that cannot be a directory or cgroup name.
	ErrInvalidSpec = errors.New("invalid service spec")

	// ErrDuplicateService is returned by New when two specs share a name.
	ErrDuplicateService = errors.New("duplicate service")

	// ErrUnknownDependency is returned by New when a spec depends on a
	// service that no spec defines.
	ErrUnknownDependency = errors.New("unknown dependency")

	// ErrDependencyCycle is returned by New when services depend on each
	// other in a loop, so none of them could ever start.
	ErrDependencyCycle = errors.New("dependency cycle")

	// ErrUnknownService is returned by Logs, Stop and Restart for a name that
	// is not supervised.
	ErrUnknownService = errors.New("unknown service")

	// ErrNoCgroup2 is returned by New when the cgroup root given with
	// WithCgroupRoot is not on a cgroup2 filesystem.
	ErrNoCgroup2 = errors.New("not on a cgroup2 filesystem")

	// ErrReaperClosed is returned when a process is started through a Reaper
	// after Close.
	ErrReaperClosed = errors.New("reaper closed")
)
