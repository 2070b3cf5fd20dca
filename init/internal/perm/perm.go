// Package perm finds, checks, formats (on first boot only) and mounts the
// persistent data partition.
package perm

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// ErrNotBlank is returned when the partition holds something that is not
// an ext4 filesystem: init will not format over data it does not know.
var ErrNotBlank = errors.New("partition holds data that is not an ext4 filesystem")

// ErrNotFound is returned when no partition carries the label.
var ErrNotFound = errors.New("no partition with that GPT label")

// Result says what Mount did.
type Result struct {
	Device    string
	Formatted bool   // true on first boot
	Checked   string // e2fsck's verdict when not formatted
}

// FindByLabel returns /dev/<name> of the partition whose GPT label is
// label, waiting up to timeout for the disk driver to report it.
func FindByLabel(label string, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for {
		ents, _ := filepath.Glob("/sys/class/block/*/uevent")
		for _, ue := range ents {
			data, err := os.ReadFile(ue)
			if err != nil {
				continue
			}
			var name, part string
			for _, line := range strings.Split(string(data), "\n") {
				k, v, _ := strings.Cut(line, "=")
				switch k {
				case "DEVNAME":
					name = v
				case "PARTNAME":
					part = v
				}
			}
			if part == label && name != "" {
				return "/dev/" + name, nil
			}
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("find partition %q: %w (waited %v)", label, ErrNotFound, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Mount mounts dev at target as ext4: it formats a blank partition, checks
// an existing filesystem with e2fsck first, and refuses anything else.
func Mount(dev, target string) (Result, error) {
	r := Result{Device: dev}
	kind, err := probe(dev)
	if err != nil {
		return r, err
	}
	switch kind {
	case "blank":
		out, err := exec.Command("mke2fs", "-t", "ext4", "-q", "-F", "-L", "perm",
			"-E", "lazy_itable_init=1,lazy_journal_init=1", dev).CombinedOutput()
		if err != nil {
			return r, fmt.Errorf("mke2fs %s: %v: %s", dev, err, out)
		}
		r.Formatted = true
	case "ext4":
		r.Checked = fsck(dev)
	default:
		return r, fmt.Errorf("%s: %w; leaving it alone (to start afresh, zero its first MiB)", dev, ErrNotBlank)
	}
	if err := os.MkdirAll(target, 0o755); err != nil {
		return r, err
	}
	if err := unix.Mount(dev, target, "ext4", unix.MS_NOATIME|unix.MS_NODEV|unix.MS_NOSUID, ""); err != nil {
		return r, fmt.Errorf("mount -t ext4 %s %s: %w", dev, target, err)
	}
	return r, nil
}

// probe reads the start of dev: "ext4" (superblock magic), "blank" (all
// zeros, as the image ships it), or "other".
func probe(dev string) (string, error) {
	f, err := os.Open(dev)
	if err != nil {
		return "", err
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	n, err := f.ReadAt(buf, 0)
	if err != nil && n < 2048 {
		return "", fmt.Errorf("read %s: %w", dev, err)
	}
	buf = buf[:n]
	// ext2/3/4 superblock at 1024, magic 0xEF53 at offset 56 in it.
	if buf[1024+56] == 0x53 && buf[1024+57] == 0xEF {
		return "ext4", nil
	}
	if len(bytes.Trim(buf, "\x00")) == 0 {
		return "blank", nil
	}
	return "other", nil
}

// fsck runs e2fsck -p and describes the outcome. Exit status 1 means errors
// were corrected; 4 and above mean it needs a person, but the box still
// tries to mount so it can report that upstream.
func fsck(dev string) string {
	out, err := exec.Command("e2fsck", "-p", dev).CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return "clean"
	case errors.As(err, &ee) && ee.ExitCode() <= 3:
		return "errors corrected"
	}
	return fmt.Sprintf("e2fsck failed (%v): %s", err, strings.TrimSpace(string(out)))
}
