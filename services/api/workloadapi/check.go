package workloadapi

import (
	"fmt"
	"math"
	"path"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"unicode"
)

// fieldError names the field and the reason.
func fieldError(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalid, field, fmt.Sprintf(format, args...))
}

var (
	// nameRE: tenant, app, volume and secret names end up in paths,
	// containerd namespaces, topic names and DNS labels.
	nameRE     = lazyRE(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	envKeyRE   = lazyRE(`^[A-Za-z_][A-Za-z0-9_]*$`)
	labelKeyRE = lazyRE(`^[A-Za-z0-9]([A-Za-z0-9._/-]{0,62}[A-Za-z0-9])?$`)
	userRE     = lazyRE(`^[0-9]{1,10}(:[0-9]{1,10})?$`)
	// imageRefRE is deliberately loose (registry/path:tag@digest); the
	// resolver gives the precise error when pulling.
	imageRefRE = lazyRE(`^[a-zA-Z0-9][a-zA-Z0-9._\-/:@+]{0,254}$`)
)

// lazyRE compiles expr at its first use, not at package initialisation:
// every process of the multi-call skerry binary initialises this package,
// and the bounded repetitions ({0,254}) compile into large programs (15 ms
// and 350 KB of heap that the vault, which checks no spec, paid for
// nothing; docs/benchmarks.md, "Vault").
func lazyRE(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}

const nameRule = "use 1 to 63 lowercase letters, digits and '-', not starting or ending with '-'"

// Check reports the first thing wrong with the spec, naming its field.
func (s *AppSpec) Check() error {
	if s.Version < 1 || s.Version > Version {
		return fmt.Errorf("%w %d: this build reads versions 1 to %d", ErrVersion, s.Version, Version)
	}
	if !nameRE().MatchString(s.Tenant) {
		return fieldError("tenant", "%q: %s", s.Tenant, nameRule)
	}
	if !nameRE().MatchString(s.Name) {
		return fieldError("name", "%q: %s", s.Name, nameRule)
	}
	if err := s.Image.check(); err != nil {
		return err
	}
	for i, a := range s.Command {
		if err := printable(a); err != nil {
			return fieldError(fmt.Sprintf("command[%d]", i), "%v", err)
		}
	}
	if len(s.Env) > 256 {
		return fieldError("env", "%d variables: at most 256", len(s.Env))
	}
	for k, v := range s.Env {
		if !envKeyRE().MatchString(k) {
			return fieldError("env", "key %q: use letters, digits and '_', not starting with a digit", k)
		}
		if strings.ContainsRune(v, 0) {
			return fieldError("env."+k, "value holds a NUL byte")
		}
	}
	if s.User != "" && !userRE().MatchString(s.User) {
		return fieldError("user", "%q: want a numeric UID or UID:GID, like 1000 or 1000:1000", s.User)
	}
	if err := s.Resources.check(); err != nil {
		return err
	}
	switch s.Restart.Policy {
	case "", RestartAlways, RestartOnFailure, RestartNever:
	default:
		return fieldError("restart.policy", "%q: want %q, %q or %q", s.Restart.Policy, RestartAlways, RestartOnFailure, RestartNever)
	}
	if s.Health != nil {
		if err := s.Health.check(); err != nil {
			return err
		}
	}
	files := map[string]bool{}
	for i, sec := range s.Secrets {
		f := fmt.Sprintf("secrets[%d]", i)
		if !nameRE().MatchString(sec.Name) {
			return fieldError(f+".name", "%q: %s", sec.Name, nameRule)
		}
		file := sec.File
		if file == "" {
			file = sec.Name
		}
		if file != path.Base(file) || file == "." || file == ".." || strings.ContainsAny(file, "/\x00") {
			return fieldError(f+".file", "%q: want a plain file name, no '/'", file)
		}
		if files[file] {
			return fieldError(f+".file", "%q is used by another secret", file)
		}
		files[file] = true
	}
	vols, paths := map[string]bool{}, map[string]bool{}
	for i, v := range s.Volumes {
		f := fmt.Sprintf("volumes[%d]", i)
		if !nameRE().MatchString(v.Name) {
			return fieldError(f+".name", "%q: %s", v.Name, nameRule)
		}
		if vols[v.Name] {
			return fieldError(f+".name", "%q is used by another volume", v.Name)
		}
		if err := containerPath(v.Path); err != nil {
			return fieldError(f+".path", "%v", err)
		}
		if paths[v.Path] {
			return fieldError(f+".path", "%q is used by another volume", v.Path)
		}
		vols[v.Name], paths[v.Path] = true, true
	}
	ports := map[string]bool{}
	for i, p := range s.Ports {
		f := fmt.Sprintf("ports[%d]", i)
		if p.Host < 1 || p.Host > 65535 {
			return fieldError(f+".host", "%d: want a port from 1 to 65535", p.Host)
		}
		if p.Container < 1 || p.Container > 65535 {
			return fieldError(f+".container", "%d: want a port from 1 to 65535", p.Container)
		}
		proto := p.Protocol
		switch proto {
		case "":
			proto = "tcp"
		case "tcp", "udp":
		default:
			return fieldError(f+".protocol", "%q: want \"tcp\" or \"udp\"", p.Protocol)
		}
		key := proto + "/" + strconv.Itoa(p.Host)
		if ports[key] {
			return fieldError(f+".host", "%s is published twice", key)
		}
		ports[key] = true
	}
	if len(s.Labels) > 64 {
		return fieldError("labels", "%d labels: at most 64", len(s.Labels))
	}
	for k, v := range s.Labels {
		if !labelKeyRE().MatchString(k) {
			return fieldError("labels", "key %q: use letters, digits, '.', '_', '/', '-', at most 64", k)
		}
		if len(v) > 256 {
			return fieldError("labels."+k, "value longer than 256 bytes")
		}
		if err := printable(v); err != nil {
			return fieldError("labels."+k, "%v", err)
		}
	}
	return nil
}

func (im Image) check() error {
	switch {
	case im.Ref == "" && im.Archive == "":
		return fieldError("image", "set ref (an OCI registry reference) or archive (an OCI archive on the site)")
	case im.Ref != "" && im.Archive != "":
		return fieldError("image", "set ref or archive, not both")
	case im.Ref != "" && !imageRefRE().MatchString(im.Ref):
		return fieldError("image.ref", "%q is not an image reference like registry.example/acme/web:1.2", im.Ref)
	case im.Archive != "" && (!path.IsAbs(im.Archive) || path.Clean(im.Archive) != im.Archive):
		return fieldError("image.archive", "%q: want an absolute, clean path on the site", im.Archive)
	}
	return nil
}

func (r Resources) check() error {
	if r.CPU != "" {
		if _, err := ParseCPU(r.CPU); err != nil {
			return fieldError("resources.cpu", "%v", err)
		}
	}
	if r.Memory != "" {
		n, err := ParseSize(r.Memory)
		if err != nil {
			return fieldError("resources.memory", "%v", err)
		}
		if n < 4<<20 {
			return fieldError("resources.memory", "%q is below 4Mi, too little to start a process", r.Memory)
		}
	}
	if r.Pids < 0 || r.Pids > 1<<22 {
		return fieldError("resources.pids", "%d: want 1 to %d, or leave it out", r.Pids, 1<<22)
	}
	return nil
}

func (h *Health) check() error {
	switch {
	case len(h.Exec) == 0 && h.HTTP == nil:
		return fieldError("health", "set exec (a command) or http (a port and path)")
	case len(h.Exec) > 0 && h.HTTP != nil:
		return fieldError("health", "set exec or http, not both")
	case h.HTTP != nil && (h.HTTP.Port < 1 || h.HTTP.Port > 65535):
		return fieldError("health.http.port", "%d: want a port from 1 to 65535", h.HTTP.Port)
	case h.HTTP != nil && h.HTTP.Path != "" && !strings.HasPrefix(h.HTTP.Path, "/"):
		return fieldError("health.http.path", "%q: want a path starting with '/'", h.HTTP.Path)
	case h.FailureThreshold < 0 || h.FailureThreshold > 100:
		return fieldError("health.failureThreshold", "%d: want 1 to 100", h.FailureThreshold)
	case h.SuccessThreshold < 0 || h.SuccessThreshold > 100:
		return fieldError("health.successThreshold", "%d: want 1 to 100", h.SuccessThreshold)
	}
	switch h.OnUnhealthy {
	case "", "restart", "mark":
	default:
		return fieldError("health.onUnhealthy", "%q: want \"restart\" or \"mark\"", h.OnUnhealthy)
	}
	if h.Interval.Duration != 0 && h.Timeout.Duration > h.Interval.Duration {
		return fieldError("health.timeout", "%v is longer than the interval %v", h.Timeout.Duration, h.Interval.Duration)
	}
	return nil
}

// containerPath checks a mount point inside the container.
func containerPath(p string) error {
	if !path.IsAbs(p) || path.Clean(p) != p || p == "/" {
		return fmt.Errorf("%q: want an absolute, clean path other than /", p)
	}
	for _, reserved := range []string{"/proc", "/sys", "/dev", "/run/secrets"} {
		if p == reserved || strings.HasPrefix(p, reserved+"/") {
			return fmt.Errorf("%q: %s is the runner's", p, reserved)
		}
	}
	return nil
}

// printable refuses control characters (NUL, ANSI escapes, bidi
// overrides): such text ends up in logs and terminals.
func printable(s string) error {
	for _, r := range s {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
			return fmt.Errorf("holds the control character %U", r)
		}
	}
	return nil
}

// ParseCPU reads cores ("0.5", "2") or millicores ("500m") and returns
// millicores.
func ParseCPU(s string) (int64, error) {
	bad := fmt.Errorf("%q: want cores like 0.5 or 2, or millicores like 500m", s)
	if m, ok := strings.CutSuffix(s, "m"); ok {
		n, err := strconv.ParseInt(m, 10, 64)
		if err != nil || n < 1 || n > 1<<20 {
			return 0, bad
		}
		return n, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f <= 0 || f > 1024 || math.IsNaN(f) {
		return 0, bad
	}
	return int64(math.Round(f * 1000)), nil
}

// ParseSize reads a size: bytes, or a number with Ki, Mi, Gi (powers of
// 1024) or K, M, G (powers of 1000).
func ParseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"K", 1e3}, {"M", 1e6}, {"G", 1e9}}
	num, mult := s, int64(1)
	for _, u := range units {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			num, mult = v, u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 1 || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("%q: want a size like 64Mi, 1Gi or 500M", s)
	}
	return n * mult, nil
}

// Check checks resources given on their own, as a tenant's quota; errors
// name the field as in an app spec (resources.memory, ...).
func (r Resources) Check() error { return r.check() }

// CheckTenant checks a tenant's name with the rule of an app spec's.
func CheckTenant(t string) error {
	if !nameRE().MatchString(t) {
		return fieldError("tenant", "%q: %s", t, nameRule)
	}
	return nil
}
