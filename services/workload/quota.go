package workload

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/containerd/cgroups/v3"
	"github.com/containerd/cgroups/v3/cgroup1"
	"github.com/containerd/cgroups/v3/cgroup2"
	"github.com/opencontainers/runtime-spec/specs-go"

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
	if cgroups.Mode() == cgroups.Unified {
		res := &cgroup2.Resources{Memory: &cgroup2.Memory{Max: mem}}
		if cpu != nil {
			res.CPU = &cgroup2.CPU{Max: cgroup2.NewCPUMax(cpu, ptr(uint64(cpuPeriod)))}
		}
		if q.Pids > 0 {
			res.Pids = &cgroup2.Pids{Max: q.Pids}
		}
		if _, err := cgroup2.NewManager("/sys/fs/cgroup", path, res); err != nil {
			return fmt.Errorf("tenant %s quota on cgroup %s: %w", tenant, path, err)
		}
		return unbound(tenant, q, cgroupFiles{
			mem: "/sys/fs/cgroup" + path + "/memory.max", cpu: "/sys/fs/cgroup" + path + "/cpu.max", pids: "/sys/fs/cgroup" + path + "/pids.max",
			memMax: "max", cpuMax: fmt.Sprintf("max %d", cpuPeriod)})
	}
	res := &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: mem}}
	if cpu != nil {
		res.CPU = &specs.LinuxCPU{Quota: cpu, Period: ptr(uint64(cpuPeriod))}
	}
	if q.Pids > 0 {
		res.Pids = &specs.LinuxPids{Limit: &q.Pids}
	}
	if _, err := cgroup1.New(cgroup1.StaticPath(path), res); err != nil {
		return fmt.Errorf("tenant %s quota on cgroup %s: %w", tenant, path, err)
	}
	return unbound(tenant, q, cgroupFiles{
		mem: "/sys/fs/cgroup/memory" + path + "/memory.limit_in_bytes", cpu: "/sys/fs/cgroup/cpu" + path + "/cpu.cfs_quota_us",
		pids: "/sys/fs/cgroup/pids" + path + "/pids.max", memMax: "-1", cpuMax: "-1"})
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
		// No O_CREATE: a controller the cgroup does not have has no file,
		// and cgroupfs answers a create with EACCES, not ENOENT.
		f, err := os.OpenFile(w.file, os.O_WRONLY|os.O_TRUNC, 0)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err == nil {
			_, err = f.WriteString(w.value)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			return fmt.Errorf("tenant %s quota: lift %s: %w", tenant, w.file, err)
		}
	}
	return nil
}

func ptr[T any](v T) *T { return &v }
