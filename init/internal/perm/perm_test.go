package perm

import (
	"bytes"
	"crypto/rand"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/skerry/skerry/qemu/testenv"
)

// loopDev makes a sparse partition image of size bytes, lets prepare
// write into it (through the loop device), and returns the device.
func loopDev(t *testing.T, size int64) string {
	t.Helper()
	testenv.Integration(t, testenv.Root(), testenv.Tools("losetup", "mke2fs", "e2fsck"))
	img := filepath.Join(t.TempDir(), "perm.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, size); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("losetup", "--find", "--show", img).Output()
	if err != nil {
		t.Fatalf("losetup %s: %v", img, err)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() { exec.Command("losetup", "-d", dev).Run() })
	return dev
}

func mountIt(t *testing.T, dev string) (Result, string, error) {
	t.Helper()
	target := filepath.Join(t.TempDir(), "perm")
	r, err := Mount(dev, target)
	if err == nil {
		t.Cleanup(func() { unix.Unmount(target, 0) })
	}
	return r, target, err
}

func readAll(t *testing.T, dev string) []byte {
	t.Helper()
	data, err := os.ReadFile(dev)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func zeroSuperblock(t *testing.T, dev string) {
	t.Helper()
	f, err := os.OpenFile(dev, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(make([]byte, 1024), 1024); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
}

const size = 96 << 20

// TestInterruptedFormat builds a partition as a power cut during the first
// boot's mke2fs leaves it (marker written, mke2fs's group descriptors,
// bitmaps, inode tables and backup superblocks on disk, no primary
// superblock: mke2fs writes that last) and checks that Mount formats it
// again and mounts it.
func TestInterruptedFormat(t *testing.T) {
	dev := loopDev(t, size)
	if err := writeMarker(dev); err != nil {
		t.Fatal(err)
	}
	if err := mkfs(dev); err != nil {
		t.Fatal(err)
	}
	zeroSuperblock(t, dev)
	if kind, err := probe(dev); err != nil || kind != kindInterrupted {
		t.Fatalf("probe of an interrupted format: %q, %v; want %q", kind, err, kindInterrupted)
	}

	r, target, err := mountIt(t, dev)
	if err != nil {
		t.Fatalf("Mount of an interrupted format: %v; want it formatted again", err)
	}
	if !r.Formatted || !r.Reformatted {
		t.Errorf("result %+v, want formatted and reformatted", r)
	}
	if err := os.WriteFile(filepath.Join(target, "x"), []byte("x"), 0o644); err != nil {
		t.Errorf("write on the new /perm: %v", err)
	}
	// The marker is gone once the filesystem exists: a later loss of the
	// superblock must never lead to a format over data.
	f, err := os.Open(dev)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if marked, err := hasMarker(f); err != nil || marked {
		t.Errorf("marker after a completed format: %v, %v; want cleared", marked, err)
	}
}

// TestNeverFormatsData formats a blank partition, writes data, and then
// damages its superblock: with no marker, Mount must leave it alone, as it
// must any partition holding something it did not write.
func TestNeverFormatsData(t *testing.T) {
	dev := loopDev(t, size)
	r, target, err := mountIt(t, dev)
	if err != nil || !r.Formatted || r.Reformatted {
		t.Fatalf("first boot: %+v, %v; want a fresh format", r, err)
	}
	if err := os.WriteFile(filepath.Join(target, "data"), []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := unix.Unmount(target, 0); err != nil {
		t.Fatal(err)
	}

	// Second boot: the same filesystem, checked, not formatted.
	r, target, err = mountIt(t, dev)
	if err != nil || r.Formatted || r.Checked != "clean" {
		t.Fatalf("second boot: %+v, %v; want checked clean, not formatted", r, err)
	}
	if got, err := os.ReadFile(filepath.Join(target, "data")); err != nil || string(got) != "precious" {
		t.Fatalf("data after the second boot: %q, %v", got, err)
	}
	if err := unix.Unmount(target, 0); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, dev string)
	}{
		{"ext4 with its superblock lost", zeroSuperblock},
		{"foreign data", func(t *testing.T, dev string) {
			f, err := os.OpenFile(dev, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			junk := make([]byte, 1<<20)
			rand.Read(junk)
			if _, err := f.WriteAt(junk, 0); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.damage(t, dev)
			before := readAll(t, dev)
			_, _, err := mountIt(t, dev)
			if !errors.Is(err, ErrNotBlank) {
				t.Errorf("Mount: %v, want ErrNotBlank", err)
			}
			if !bytes.Equal(readAll(t, dev), before) {
				t.Errorf("Mount changed a partition that holds data")
			}
		})
	}
}
