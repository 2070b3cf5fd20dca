// Package perm finds, checks, formats (on first boot only) and mounts the
// persistent data partition.
//
// A first-boot format is made restartable by a marker: before mke2fs runs,
// a format-in-progress record is written (and synced) into the 4 KiB that
// start 1 MiB before the partition's end, which mke2fs does not write (it
// zeroes the last 64 KiB, for old RAID metadata, and with lazy inode table
// initialisation leaves the last group's data blocks alone; the tests run
// the real mke2fs to hold it to that); it is cleared once
// mke2fs has written the superblock, before the filesystem is ever
// mounted. mke2fs writes the primary superblock last, so a power cut
// during the format leaves a partition with no ext4 superblock and the
// marker: Mount recognises it and formats again. A partition without the
// marker that is neither blank nor ext4 holds something init did not put
// there, and is never touched.
package perm

import (
	"bytes"
	"errors"
	"fmt"
	"io"
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
	Formatted bool // true on first boot
	// Reformatted says the format was a second attempt: the first was cut
	// (a power loss during the first boot's mke2fs).
	Reformatted bool
	Checked     string // e2fsck's verdict when not formatted
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
	case kindBlank, kindInterrupted:
		if err := format(dev); err != nil {
			return r, err
		}
		r.Formatted, r.Reformatted = true, kind == kindInterrupted
	case kindExt4:
		// A cut between mke2fs's end and the marker's removal leaves both:
		// the filesystem was never mounted, so the marker's block is free.
		if err := clearMarker(dev); err != nil {
			return r, err
		}
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

// What probe finds on a partition.
const (
	kindExt4        = "ext4"        // an ext2/3/4 superblock
	kindBlank       = "blank"       // all zeros, as the image ships it
	kindInterrupted = "interrupted" // our format marker, no superblock
	kindOther       = "other"       // anything else: left alone
)

// probe reads the start of dev (and its marker block) and says what it
// holds.
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
		return kindExt4, nil
	}
	if len(bytes.Trim(buf, "\x00")) == 0 {
		return kindBlank, nil
	}
	marked, err := hasMarker(f)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", dev, err)
	}
	if marked {
		return kindInterrupted, nil
	}
	return kindOther, nil
}

// format makes an ext4 filesystem on dev, with the marker around mke2fs.
// nodiscard: a discard would zero the marker (and, on a loop device or an
// SSD, could make the partition read as blank midway, which is harmless but
// slower).
func format(dev string) error {
	if err := writeMarker(dev); err != nil {
		return err
	}
	if err := mkfs(dev); err != nil {
		return err
	}
	return clearMarker(dev)
}

func mkfs(dev string) error {
	out, err := exec.Command("mke2fs", "-t", "ext4", "-q", "-F", "-L", "perm",
		"-E", "lazy_itable_init=1,lazy_journal_init=1,nodiscard", dev).CombinedOutput()
	if err != nil {
		return fmt.Errorf("mke2fs %s: %v: %s", dev, err, out)
	}
	return nil
}

// The marker is a 4 KiB block 1 MiB before the partition's end (see the
// package comment): the magic, then the
// partition's size, so that a copy of a marked partition onto a larger
// disk is not taken for an interrupted format.
const (
	markerSize  = 4096
	markerTail  = 1 << 20 // the marker's offset from the partition's end
	markerMagic = "SKERRY PERM: FIRST-BOOT FORMAT IN PROGRESS\n"
)

func markerBlock(size int64) []byte {
	b := make([]byte, markerSize)
	copy(b, fmt.Sprintf("%s%d\n", markerMagic, size))
	return b
}

func markerOffset(f *os.File) (off, size int64, err error) {
	size, err = f.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, 0, err
	}
	if size < 8<<20 {
		return 0, 0, fmt.Errorf("%s is %d bytes, too small for /perm", f.Name(), size)
	}
	return size - markerTail, size, nil
}

func hasMarker(f *os.File) (bool, error) {
	off, size, err := markerOffset(f)
	if err != nil {
		return false, err
	}
	got := make([]byte, markerSize)
	if _, err := f.ReadAt(got, off); err != nil {
		return false, err
	}
	return bytes.Equal(got, markerBlock(size)), nil
}

// writeMarker records that a format is starting, durably.
func writeMarker(dev string) error {
	return putMarker(dev, true)
}

// clearMarker zeroes the marker if it is there, durably.
func clearMarker(dev string) error {
	return putMarker(dev, false)
}

func putMarker(dev string, set bool) error {
	f, err := os.OpenFile(dev, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("format marker on %s: %w", dev, err)
	}
	defer f.Close()
	off, size, err := markerOffset(f)
	if err != nil {
		return fmt.Errorf("format marker: %w", err)
	}
	block := make([]byte, markerSize)
	if set {
		block = markerBlock(size)
	} else if ok, err := hasMarker(f); err != nil || !ok {
		return err
	}
	if _, err := f.WriteAt(block, off); err != nil {
		return fmt.Errorf("format marker on %s: %w", dev, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("format marker on %s: sync: %w", dev, err)
	}
	return nil
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
