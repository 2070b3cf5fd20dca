package supervisor

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// cgroups manages <root>/<service> directories on cgroup2. It is small on
// purpose: the host that runs unit tests has cgroup v1, so this code is
// only exercised in the VM tests.
type cgroups struct {
	root string
}

// checkCgroupRoot fails early, in New, when root cannot be a cgroup2
// directory. Nothing is created yet: that is Run's job (setup).
func checkCgroupRoot(root string) (*cgroups, error) {
	if !filepath.IsAbs(root) {
		return nil, fmt.Errorf("check cgroup root %q: %w: path is not absolute", root, ErrNoCgroup2)
	}
	dir := root
	if _, err := os.Stat(root); errors.Is(err, fs.ErrNotExist) {
		dir = filepath.Dir(root) // created by setup; its parent must be cgroup2
	}
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return nil, fmt.Errorf("check cgroup root %s: %w: statfs %s: %w (mount cgroup2 at /sys/fs/cgroup first)", root, ErrNoCgroup2, dir, err)
	}
	if st.Type != unix.CGROUP2_SUPER_MAGIC {
		return nil, fmt.Errorf("check cgroup root %s: %s is %w (mount cgroup2 at /sys/fs/cgroup first)", root, dir, ErrNoCgroup2)
	}
	return &cgroups{root: root}, nil
}

// setup creates the root and one cgroup per service with its limits.
// Controllers are enabled only when a spec sets a limit that needs them, so
// unlimited services run on kernels built without memcg.
func (c *cgroups) setup(specs []Spec) error {
	if err := os.Mkdir(c.root, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("create cgroup %s: %w", c.root, err)
	}
	var need []string
	if slices.ContainsFunc(specs, func(sp Spec) bool { return sp.MemoryMax > 0 }) {
		need = append(need, "memory")
	}
	if slices.ContainsFunc(specs, func(sp Spec) bool { return sp.PidsMax > 0 }) {
		need = append(need, "pids")
	}
	// A cgroup's controllers come from its parent's subtree_control, so
	// they are enabled in the root's parent and then in the root.
	for _, dir := range []string{filepath.Dir(c.root), c.root} {
		for _, ctl := range need {
			if err := write(dir, "cgroup.subtree_control", "+"+ctl); err != nil {
				return fmt.Errorf("enable cgroup controller %s: %w", ctl, err)
			}
		}
	}
	for _, sp := range specs {
		dir := filepath.Join(c.root, sp.Name)
		if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("create cgroup %s: %w", dir, err)
		}
		if sp.MemoryMax > 0 {
			if err := write(dir, "memory.max", strconv.FormatInt(sp.MemoryMax, 10)); err != nil {
				return fmt.Errorf("limit memory of %s: %w", sp.Name, err)
			}
		}
		if sp.PidsMax > 0 {
			if err := write(dir, "pids.max", strconv.FormatInt(sp.PidsMax, 10)); err != nil {
				return fmt.Errorf("limit pids of %s: %w", sp.Name, err)
			}
		}
	}
	return nil
}

func write(dir, file, value string) error {
	// Not os.WriteFile: cgroup files must not be created or truncated.
	f, err := os.OpenFile(filepath.Join(dir, file), os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(value); err != nil {
		f.Close()
		return fmt.Errorf("write %q to %s: %w", value, f.Name(), err)
	}
	return f.Close()
}

// open returns a directory fd for SysProcAttr.CgroupFD; the caller closes it.
func (c *cgroups) open(name string) (int, error) {
	dir := filepath.Join(c.root, name)
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open cgroup %s: %w", dir, err)
	}
	return fd, nil
}

// kill kills every process in the service's cgroup, including those that
// left its process group. It needs Linux 5.14 (cgroup.kill); on older
// kernels the process-group kill has to do.
func (c *cgroups) kill(name string) {
	write(filepath.Join(c.root, name), "cgroup.kill", "1")
}

// memoryCurrent is the service's memory use, or 0 when unknown.
func (c *cgroups) memoryCurrent(name string) int64 {
	b, err := os.ReadFile(filepath.Join(c.root, name, "memory.current"))
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return n
}
