// Package kmod loads kernel modules in dependency order, with soft
// dependencies (crc32c before libcrc32c), from the depmod indexes of the
// running kernel's module tree.
package kmod

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/skerry/skerry/image/modindex"
)

// Dir is the running kernel's module directory.
func Dir() (string, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "", err
	}
	return filepath.Join("/lib/modules", unix.ByteSliceToString(u.Release[:])), nil
}

// Load loads the named modules and what they need. It returns the modules
// it loaded; one that fails is reported and the rest still load, so that a
// missing driver for one device does not stop the box from booting.
func Load(dir string, names []string) (loaded []string, err error) {
	ix, err := modindex.Read(dir)
	if err != nil {
		return nil, err
	}
	order, err := ix.LoadOrder(names)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, name := range order {
		if err := loadFile(filepath.Join(dir, ix.Path[name])); err != nil {
			errs = append(errs, fmt.Errorf("load module %s: %w", name, err))
			continue
		}
		loaded = append(loaded, name)
	}
	return loaded, errors.Join(errs...)
}

func loadFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	err = unix.FinitModule(int(f.Fd()), "", 0)
	if errors.Is(err, unix.EEXIST) {
		return nil
	}
	return err
}
