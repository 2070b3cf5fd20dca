package image

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/skerry/skerry/image/modindex"
)

// Kernel is a board's Debian kernel, extracted into the cache.
type Kernel struct {
	Package Package
	Release string // uname -r, e.g. 6.1.0-56-amd64
	Dir     string // extracted package root
}

// Vmlinuz is the path of the kernel image.
func (k *Kernel) Vmlinuz() string { return filepath.Join(k.Dir, "boot", "vmlinuz-"+k.Release) }

// ModulesDir is the full module tree of the package.
func (k *Kernel) ModulesDir() string { return filepath.Join(k.Dir, "lib", "modules", k.Release) }

// kernelRelease derives uname -r from the image package's name.
func kernelRelease(pkg string) string {
	r := strings.TrimPrefix(pkg, "linux-image-")
	return strings.TrimSuffix(r, "-unsigned")
}

// FetchKernel downloads and extracts the versioned kernel package.
func FetchKernel(ctx context.Context, apt *Apt, p Package) (*Kernel, error) {
	deb, err := apt.Download(ctx, p)
	if err != nil {
		return nil, err
	}
	k := &Kernel{Package: p, Release: kernelRelease(p.Name), Dir: filepath.Join(apt.CacheDir, "kernel", p.Name+"_"+p.Version)}
	if err := Extract(ctx, deb, k.Dir); err != nil {
		return nil, err
	}
	if _, err := os.Stat(k.Vmlinuz()); err != nil {
		return nil, fmt.Errorf("kernel package %s has no %s: %w", p, "boot/vmlinuz-"+k.Release, err)
	}
	return k, nil
}

// AddModule places an extra built module into the full tree (extra/), so
// the dependency resolution below treats it like any other.
func (k *Kernel) AddModule(name, ko string) error {
	data, err := os.ReadFile(ko)
	if err != nil {
		return err
	}
	dst := filepath.Join(k.ModulesDir(), "extra", name+".ko")
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, data, 0o644)
}

// depmod runs depmod over a module tree rooted at base (base/lib/modules/R).
func depmod(ctx context.Context, base, release string) error {
	out, err := exec.CommandContext(ctx, "depmod", "-b", base, release).CombinedOutput()
	if err != nil {
		return fmt.Errorf("depmod -b %s %s: %v\n%s", base, release, err, out)
	}
	return nil
}

// TrimModules writes the closure of the named modules into
// dst/lib/modules/<release> with its own depmod indexes, and returns the
// modules it kept.
func (k *Kernel) TrimModules(ctx context.Context, names []string, dst string) ([]string, error) {
	if err := depmod(ctx, k.Dir, k.Release); err != nil {
		return nil, err
	}
	ix, err := modindex.Read(k.ModulesDir())
	if err != nil {
		return nil, err
	}
	keep, err := ix.Closure(names)
	if err != nil {
		return nil, fmt.Errorf("%w: check the board's kernel.modules", err)
	}
	out := filepath.Join(dst, "lib", "modules", k.Release)
	if err := os.RemoveAll(dst); err != nil {
		return nil, err
	}
	for _, n := range keep {
		if err := copyFile(filepath.Join(k.ModulesDir(), ix.Path[n]), filepath.Join(out, ix.Path[n]), 0o644); err != nil {
			return nil, err
		}
	}
	for _, f := range []string{"modules.builtin", "modules.builtin.modinfo", "modules.order"} {
		if err := copyFile(filepath.Join(k.ModulesDir(), f), filepath.Join(out, f), 0o644); err != nil && !os.IsNotExist(err) {
			return nil, err
		}
	}
	if err := depmod(ctx, dst, k.Release); err != nil {
		return nil, err
	}
	return keep, nil
}

// AddDir adds every file below root to the tree under prefix.
func (t *Tree) AddDir(root, prefix string) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			t.Add(Entry{Path: filepath.Join(prefix, rel), Mode: fs.ModeSymlink | 0o777, Link: link})
			return nil
		}
		t.Add(Entry{Path: filepath.Join(prefix, rel), Mode: fi.Mode().Perm(), Source: p})
		return nil
	})
}

func copyFile(src, dst string, mode fs.FileMode) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, data, mode)
}
