package workload

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"slices"
	"sort"
	"sync"

	"github.com/skerry/skerry/services/api/workloadapi"
	"github.com/skerry/skerry/services/atomicfile"
)

// DesiredVersion is the newest format of the desired-state file.
const DesiredVersion = 1

// Desired is the set of apps the site should run, kept on /perm so that
// the site runs its last desired state after a reboot and while the tower
// is away.
type Desired struct {
	Version int                    `json:"version"`
	Apps    []*workloadapi.AppSpec `json:"apps"`
	// Quotas are tenants' quotas on their parent cgroups; a tenant not
	// here gets the service's default.
	Quotas map[string]workloadapi.Resources `json:"quotas,omitempty"`
}

// State keeps the desired state in a file and applies it to a runner.
type State struct {
	path string
	r    *Runner

	mu     sync.Mutex
	apps   map[string]*workloadapi.AppSpec
	quotas map[string]workloadapi.Resources
}

// OpenState reads the desired state at path (none yet is an empty set).
func OpenState(path string, r *Runner) (*State, error) {
	s := &State{path: path, r: r, apps: map[string]*workloadapi.AppSpec{}, quotas: map[string]workloadapi.Resources{}}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read desired state: %w", err)
	}
	var d Desired
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("desired state %s: %w", path, err)
	}
	if d.Version != DesiredVersion {
		return nil, fmt.Errorf("desired state %s: version %d, this build reads %d", path, d.Version, DesiredVersion)
	}
	for _, a := range d.Apps {
		if err := a.Check(); err != nil {
			return nil, fmt.Errorf("desired state %s: app %s/%s: %w", path, a.Tenant, a.Name, err)
		}
		a.Normalize()
		s.apps[key(a.Tenant, a.Name)] = a
	}
	for t, q := range d.Quotas {
		if err := workloadapi.CheckTenant(t); err != nil {
			return nil, fmt.Errorf("desired state %s: quotas: %w", path, err)
		}
		if err := q.Check(); err != nil {
			return nil, fmt.Errorf("desired state %s: quota of tenant %s: %w", path, t, err)
		}
		s.quotas[t] = q
	}
	return s, nil
}

// Converge applies every desired app: the runner reattaches to what runs
// and starts what does not (after a service restart or a reboot).
func (s *State) Converge(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	// One app refused (a host port the site now keeps) does not keep
	// the others from running.
	var errs []error
	for _, spec := range s.list() {
		if err := s.r.Apply(ctx, spec); err != nil {
			errs = append(errs, fmt.Errorf("converge %s/%s: %w", spec.Tenant, spec.Name, err))
		}
	}
	return errors.Join(errs...)
}

// Put adds or replaces one app: stored first, then applied.
func (s *State) Put(ctx context.Context, spec *workloadapi.AppSpec) error {
	if err := spec.Check(); err != nil {
		return err
	}
	spec.Normalize()
	s.mu.Lock()
	defer s.mu.Unlock()
	// A host port another desired app or the site holds is refused
	// before anything is stored.
	if err := s.r.checkPorts(spec, s.list()); err != nil {
		return err
	}
	k := key(spec.Tenant, spec.Name)
	old := s.apps[k]
	s.apps[k] = spec
	if err := s.save(); err != nil {
		if old == nil {
			delete(s.apps, k)
		} else {
			s.apps[k] = old
		}
		return err
	}
	return s.r.Apply(ctx, spec)
}

// Delete removes one app: forgotten first, then stopped.
func (s *State) Delete(ctx context.Context, tenant, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := key(tenant, name)
	old, ok := s.apps[k]
	if !ok {
		return fmt.Errorf("%w: %s/%s", ErrNotFound, tenant, name)
	}
	delete(s.apps, k)
	if err := s.save(); err != nil {
		s.apps[k] = old
		return err
	}
	return s.r.Remove(ctx, tenant, name)
}

// Apps returns the desired apps, sorted.
func (s *State) Apps() []*workloadapi.AppSpec {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.list()
}

func (s *State) list() []*workloadapi.AppSpec {
	out := make([]*workloadapi.AppSpec, 0, len(s.apps))
	for _, a := range s.apps {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return key(out[i].Tenant, out[i].Name) < key(out[j].Tenant, out[j].Name) })
	return out
}

// Quota returns the tenant's quota from the desired state, and whether
// it has one.
func (s *State) Quota(tenant string) (workloadapi.Resources, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, ok := s.quotas[tenant]
	return q, ok
}

// PutQuota sets a tenant's quota: stored first, then written to its
// cgroup at once (and before each start of one of its apps).
func (s *State) PutQuota(tenant string, q workloadapi.Resources) error {
	if err := workloadapi.CheckTenant(tenant); err != nil {
		return err
	}
	if err := q.Check(); err != nil {
		return err
	}
	s.mu.Lock()
	old, had := s.quotas[tenant]
	s.quotas[tenant] = q
	if err := s.save(); err != nil {
		if had {
			s.quotas[tenant] = old
		} else {
			delete(s.quotas, tenant)
		}
		s.mu.Unlock()
		return err
	}
	s.mu.Unlock()
	return s.r.tenantCgroup(tenant)
}

// SetQuotas replaces every tenant's quota at once with qs (the tower's,
// which the agent hands over whole): a tenant not in qs gets the
// service's default again. Stored first, then written to the cgroups of
// the tenants whose quota was or is set.
func (s *State) SetQuotas(qs map[string]workloadapi.Resources) error {
	for t, q := range qs {
		if err := workloadapi.CheckTenant(t); err != nil {
			return err
		}
		if err := q.Check(); err != nil {
			return fmt.Errorf("quota of tenant %s: %w", t, err)
		}
	}
	s.mu.Lock()
	old := s.quotas
	s.quotas = maps.Clone(qs)
	if s.quotas == nil {
		s.quotas = map[string]workloadapi.Resources{}
	}
	if err := s.save(); err != nil {
		s.quotas = old
		s.mu.Unlock()
		return err
	}
	touched := slices.Sorted(maps.Keys(qs))
	for t := range old {
		if _, ok := qs[t]; !ok {
			touched = append(touched, t)
		}
	}
	s.mu.Unlock()
	var errs []error
	for _, t := range touched {
		errs = append(errs, s.r.tenantCgroup(t))
	}
	return errors.Join(errs...)
}

func (s *State) save() error {
	data, err := json.MarshalIndent(Desired{Version: DesiredVersion, Apps: s.list(), Quotas: s.quotas}, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(s.path, append(data, '\n'), 0o600)
}
