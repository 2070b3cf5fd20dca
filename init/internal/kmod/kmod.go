// Package kmod loads kernel modules in dependency order, with soft
// dependencies (crc32c before libcrc32c), from the depmod indexes of the
// running kernel's module tree.
package kmod

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

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

// Load loads the named modules and what they need. Modules load
// concurrently, each as soon as the modules it needs are in: most of a
// board's modules are independent, and each load verifies a signature,
// which is slow on small CPUs. It returns the modules it loaded; one that
// fails is reported and the rest still load, so that a missing driver for
// one device does not stop the box from booting.
func Load(dir string, names []string) (loaded []string, err error) {
	ix, err := modindex.Read(dir)
	if err != nil {
		return nil, err
	}
	order, err := ix.LoadOrder(names)
	if err != nil {
		return nil, err
	}
	done := make(map[string]chan struct{}, len(order))
	pos := make(map[string]int, len(order))
	for i, name := range order {
		done[name] = make(chan struct{})
		pos[name] = i
	}
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	for _, name := range order {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(done[name])
			for _, need := range ix.Needs(name) {
				// Only what comes earlier in the order: a soft-dependency
				// cycle must not hang the boot.
				if p, ok := pos[need]; ok && p < pos[name] {
					<-done[need]
				}
			}
			err := loadFile(filepath.Join(dir, ix.Path[name]))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("load module %s: %w", name, err))
				return
			}
			loaded = append(loaded, name)
		}()
	}
	wg.Wait()
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
