package rootfs

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// NewRoot is where the tmpfs root is assembled before switching into it.
const NewRoot = "/newroot"

// SwitchToTmpfs moves the initramfs contents into a tmpfs and makes that
// the root. runc cannot pivot_root out of the initramfs (rootfs cannot be
// unmounted), so containers need the root to be a real mount. Each file is
// deleted from the initramfs once copied, so the peak RAM use is one copy
// plus the files in flight, not two copies. Directories, links and devices
// are made first, in walk order; regular files are then copied by workers
// in parallel, as the copy is most of what stage 1 costs.
func SwitchToTmpfs(workers int) (copied int64, err error) {
	if err := (Mount{Source: "tmpfs", Target: NewRoot, FSType: "tmpfs", Data: "mode=0755"}).Do(); err != nil {
		return 0, err
	}
	var files []string
	err = filepath.WalkDir("/", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == "/" {
			return nil
		}
		switch p {
		case NewRoot, "/proc", "/sys", "/dev":
			// Mount points: stage two mounts them afresh. /dev/console
			// is recreated below.
			if err := os.MkdirAll(filepath.Join(NewRoot, p), 0o755); err != nil {
				return err
			}
			return filepath.SkipDir
		}
		if d.Type().IsRegular() {
			files = append(files, p)
			return nil
		}
		_, err = moveEntry(p, filepath.Join(NewRoot, p), d)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("copy initramfs into tmpfs: %w", err)
	}
	if copied, err = copyFiles(files, max(workers, 1)); err != nil {
		return copied, fmt.Errorf("copy initramfs into tmpfs: %w", err)
	}
	if err := unix.Mknod(filepath.Join(NewRoot, "dev/console"), unix.S_IFCHR|0o600, int(unix.Mkdev(5, 1))); err != nil && !os.IsExist(err) {
		return copied, fmt.Errorf("mknod /dev/console: %w", err)
	}
	if err := os.Chdir(NewRoot); err != nil {
		return copied, err
	}
	if err := unix.Mount(".", "/", "", unix.MS_MOVE, ""); err != nil {
		return copied, fmt.Errorf("mount --move %s /: %w", NewRoot, err)
	}
	if err := unix.Chroot("."); err != nil {
		return copied, fmt.Errorf("chroot: %w", err)
	}
	return copied, os.Chdir("/")
}

// copyFiles moves the regular files with n workers.
func copyFiles(files []string, n int) (int64, error) {
	var (
		mu    sync.Mutex
		total int64
		first error
		next  = make(chan string)
		wg    sync.WaitGroup
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range next {
				fi, err := os.Lstat(p)
				var c int64
				if err == nil {
					c, err = moveEntry(p, filepath.Join(NewRoot, p), fs.FileInfoToDirEntry(fi))
				}
				mu.Lock()
				total += c
				if err != nil && first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	for _, p := range files {
		next <- p
	}
	close(next)
	wg.Wait()
	return total, first
}

// moveEntry copies one file, directory, link or device and removes the
// original when it is a file.
func moveEntry(src, dst string, d fs.DirEntry) (int64, error) {
	fi, err := d.Info()
	if err != nil {
		return 0, err
	}
	mode := fi.Mode()
	switch {
	case mode.IsDir():
		return 0, os.MkdirAll(dst, mode.Perm()|(mode&(fs.ModeSticky)))
	case mode&fs.ModeSymlink != 0:
		target, err := os.Readlink(src)
		if err != nil {
			return 0, err
		}
		return 0, os.Symlink(target, dst)
	case mode&fs.ModeDevice != 0:
		st := fi.Sys().(*syscall.Stat_t)
		typ := uint32(unix.S_IFBLK)
		if mode&fs.ModeCharDevice != 0 {
			typ = unix.S_IFCHR
		}
		return 0, unix.Mknod(dst, typ|uint32(mode.Perm()), int(st.Rdev))
	case mode.IsRegular():
		in, err := os.Open(src)
		if err != nil {
			return 0, err
		}
		defer in.Close()
		out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode.Perm())
		if err != nil {
			return 0, err
		}
		n, err := io.Copy(out, in)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return n, err
		}
		if err := os.Chmod(dst, mode.Perm()|mode&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)); err != nil {
			return n, err
		}
		return n, os.Remove(src)
	}
	return 0, nil
}
