package workload

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/skerry/skerry/services/api/workloadapi"
)

// WithTenantQuota sets each tenant's quota, put on its parent cgroup
// ROOT/<tenant> before its first app starts: the tenant's apps together
// never get more CPU, memory or pids than that, whatever their own
// limits say. An empty field leaves that resource unbounded.
func WithTenantQuota(fn func(tenant string) workloadapi.Resources) Option {
	return func(o *options) { o.quota = fn }
}

// tenantCgroup creates the tenant's cgroup ROOT/<tenant> with its quota
// (cgroup v2, as on a site; v1 hierarchies as on older test hosts). It is
// written before each start, so a changed quota applies to the next one.
func (r *Runner) tenantCgroup(tenant string) error {
	if r.o.quota == nil {
		return nil
	}
	q := r.o.quota(tenant)
	var cpu, mem *int64
	if q.CPU != "" {
		milli, err := workloadapi.ParseCPU(q.CPU)
		if err != nil {
			return fmt.Errorf("tenant %s quota: cpu: %w", tenant, err)
		}
		cpu = ptr(milli * cpuPeriod / 1000)
	}
	if q.Memory != "" {
		n, err := workloadapi.ParseSize(q.Memory)
		if err != nil {
			return fmt.Errorf("tenant %s quota: memory: %w", tenant, err)
		}
		mem = &n
	}
	path := filepath.Join(r.o.cgroupRoot, tenant)
	// The files are written here rather than with containerd's cgroups
	// library: its managers link cilium/ebpf and D-Bus, 1.55 MB of
	// skerry-workload's pages (docs/benchmarks.md, "What skerry-workload
	// links").
	if unified() {
		f, err := quotaV2("/sys/fs/cgroup", path, mem, cpu, q.Pids)
		if err != nil {
			return fmt.Errorf("tenant %s quota on cgroup %s: %w", tenant, path, err)
		}
		return unbound(tenant, q, f)
	}
	// cgroup v1: the tenant's group in the hierarchies of the three
	// controllers; runc makes the apps' groups below it in the others.
	var ws []cgroupWrite
	for _, c := range []string{"memory", "cpu", "pids"} {
		if err := os.MkdirAll("/sys/fs/cgroup/"+c+path, 0o755); err != nil {
			return fmt.Errorf("tenant %s quota on cgroup %s: %w", tenant, path, err)
		}
	}
	if mem != nil {
		ws = append(ws, cgroupWrite{"/sys/fs/cgroup/memory" + path + "/memory.limit_in_bytes", strconv.FormatInt(*mem, 10)})
	}
	if cpu != nil {
		ws = append(ws, cgroupWrite{"/sys/fs/cgroup/cpu" + path + "/cpu.cfs_period_us", strconv.Itoa(cpuPeriod)},
			cgroupWrite{"/sys/fs/cgroup/cpu" + path + "/cpu.cfs_quota_us", strconv.FormatInt(*cpu, 10)})
	}
	if q.Pids > 0 {
		ws = append(ws, cgroupWrite{"/sys/fs/cgroup/pids" + path + "/pids.max", strconv.FormatInt(q.Pids, 10)})
	}
	if err := writeCgroup(ws); err != nil {
		return fmt.Errorf("tenant %s quota on cgroup %s: %w", tenant, path, err)
	}
	return unbound(tenant, q, cgroupFiles{
		mem: "/sys/fs/cgroup/memory" + path + "/memory.limit_in_bytes", cpu: "/sys/fs/cgroup/cpu" + path + "/cpu.cfs_quota_us",
		pids: "/sys/fs/cgroup/pids" + path + "/pids.max", memMax: "-1", cpuMax: "-1"})
}

// quotaV2 makes the cgroup v2 group mount+path with the controllers
// enabled above it and writes the limits that are set; it returns the
// files for unbound.
func quotaV2(mount, path string, mem, cpu *int64, pids int64) (cgroupFiles, error) {
	dir := mount + path
	f := cgroupFiles{mem: dir + "/memory.max", cpu: dir + "/cpu.max", pids: dir + "/pids.max",
		memMax: "max", cpuMax: fmt.Sprintf("max %d", cpuPeriod)}
	if err := enableControllers(mount, path); err != nil {
		return f, err
	}
	var ws []cgroupWrite
	if mem != nil {
		ws = append(ws, cgroupWrite{f.mem, strconv.FormatInt(*mem, 10)})
	}
	if cpu != nil {
		ws = append(ws, cgroupWrite{f.cpu, fmt.Sprintf("%d %d", *cpu, cpuPeriod)})
	}
	if pids > 0 {
		ws = append(ws, cgroupWrite{f.pids, strconv.FormatInt(pids, 10)})
	}
	return f, writeCgroup(ws)
}

// unified says whether /sys/fs/cgroup is the cgroup v2 hierarchy.
func unified() bool {
	var st unix.Statfs_t
	return unix.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}

// enableControllers makes the cgroup mount+path and enables the memory,
// cpu and pids controllers for the children of each group above it, as
// far as each group has them (cgroup v2).
func enableControllers(mount, path string) error {
	if err := os.MkdirAll(mount+path, 0o755); err != nil {
		return err
	}
	dir := mount
	for _, name := range strings.Split(strings.Trim(path, "/"), "/") {
		have, err := os.ReadFile(dir + "/cgroup.controllers")
		if err != nil {
			return err
		}
		var enable []string
		for _, c := range strings.Fields(string(have)) {
			if c == "memory" || c == "cpu" || c == "pids" {
				enable = append(enable, "+"+c)
			}
		}
		if len(enable) > 0 {
			if err := writeCgroup([]cgroupWrite{{dir + "/cgroup.subtree_control", strings.Join(enable, " ")}}); err != nil {
				return err
			}
		}
		dir += "/" + name
	}
	return nil
}

// cgroupWrite is a value for a cgroup's file.
type cgroupWrite struct{ file, value string }

// writeCgroup writes each value to its file, which must exist: no
// O_CREATE, cgroupfs answers a create with EACCES.
func writeCgroup(ws []cgroupWrite) error {
	for _, w := range ws {
		f, err := os.OpenFile(w.file, os.O_WRONLY|os.O_TRUNC, 0)
		if err == nil {
			_, err = f.WriteString(w.value)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// cgroupFiles are a cgroup's limit files and how each says "no limit".
type cgroupFiles struct {
	mem, cpu, pids string
	memMax, cpuMax string
}

// unbound lifts the limits the quota leaves out: the library writes only
// what is set, so a bound that a new quota drops (the tower removed it)
// would otherwise stay.
func unbound(tenant string, q workloadapi.Resources, f cgroupFiles) error {
	for _, w := range []struct {
		unset       bool
		file, value string
	}{
		{q.Memory == "", f.mem, f.memMax},
		{q.CPU == "", f.cpu, f.cpuMax},
		{q.Pids <= 0, f.pids, "max"},
	} {
		if !w.unset {
			continue
		}
		// A controller the cgroup does not have has no file.
		err := writeCgroup([]cgroupWrite{{w.file, w.value}})
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("tenant %s quota: lift %s: %w", tenant, w.file, err)
		}
	}
	return nil
}

func ptr[T any](v T) *T { return &v }
