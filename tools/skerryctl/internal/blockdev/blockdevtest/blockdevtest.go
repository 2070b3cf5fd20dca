// Package blockdevtest makes what blockdev's tests need: GPT disk images,
// written with go-diskfs so that the GPT reader under test is checked
// against an implementation other than its own, and, for the integration
// tests that run as root, loop devices and mounts that clean up after
// themselves.
package blockdevtest

import (
	"bytes"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skerry/skerry/qemu/testenv"

	diskfs "github.com/diskfs/go-diskfs"
	"github.com/diskfs/go-diskfs/partition/gpt"
)

// Image writes a GPT disk image of size bytes, laid out for sectorSize-byte
// sectors, to a new file under t.TempDir and returns its path. It has two
// partitions, filled with pseudo-random bytes (the same for the same size)
// so that a misplaced byte in a copy shows. size must be at least 4 MiB.
func Image(t testing.TB, size int64, sectorSize int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "disk.img")
	d, err := diskfs.Create(path, size, diskfs.SectorSize(sectorSize))
	if err != nil {
		t.Fatalf("create image: %v", err)
	}
	defer d.Close()
	ss := uint64(sectorSize)
	total, mib := uint64(size)/ss, uint64(1<<20)/ss
	table := &gpt.Table{
		LogicalSectorSize:  sectorSize,
		PhysicalSectorSize: sectorSize,
		ProtectiveMBR:      true,
		Partitions: []*gpt.Partition{
			{Index: 1, Start: mib, End: total/2 - 1, Type: gpt.EFISystemPartition, Name: "boot"},
			{Index: 2, Start: total / 2, End: total - mib - 1, Type: gpt.LinuxFilesystem, Name: "perm"},
		},
	}
	if err := d.Partition(table); err != nil {
		t.Fatalf("partition image: %v", err)
	}
	fill := make([]byte, (total-2*mib)*ss)
	rand.NewChaCha8([32]byte{byte(size), byte(size >> 8), byte(size >> 16)}).Read(fill)
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(fill, int64(mib*ss)); err != nil {
		t.Fatalf("fill partitions: %v", err)
	}
	return path
}

// File creates a file of size bytes under t.TempDir, every byte b, and
// returns its path: a flash target.
func File(t testing.TB, size int64, b byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "target")
	if err := os.WriteFile(path, bytes.Repeat([]byte{b}, int(size)), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// Integration skips the test unless SKERRY_INTEGRATION=1, and fails it
// when that is set but the machine lacks root (loop devices and mounts) or
// the tools (testenv.Integration).
func Integration(t testing.TB) {
	t.Helper()
	testenv.Integration(t, testenv.Root(), testenv.Tools("losetup", "partx", "mkfs.ext4", "mount", "umount"), testenv.File("/dev/loop-control", "loop devices"))
}

// Loop attaches file to a free loop device and detaches it when the test
// ends.
func Loop(t testing.TB, file string) string {
	t.Helper()
	return loop(t, "--find", "--show", file)
}

// LoopPartitions attaches file, a disk image, to a free loop device with
// its partitions (dev+"p1", ...), and detaches it when the test ends.
// byKernel reports whether the kernel read the partition table itself;
// when it cannot (a kernel without CONFIG_EFI_PARTITION, like some test
// VMs'), partx reads it and adds the partitions with BLKPG.
func LoopPartitions(t testing.TB, file string) (dev string, byKernel bool) {
	t.Helper()
	dev = loop(t, "--find", "--show", "--partscan", file)
	if _, err := os.Stat(dev + "p1"); err == nil {
		return dev, true
	}
	Run(t, "partx", "--add", dev)
	return dev, false
}

func loop(t testing.TB, args ...string) string {
	t.Helper()
	dev := strings.TrimSpace(Run(t, "losetup", args...))
	t.Cleanup(func() {
		if out, err := exec.Command("losetup", "--detach", dev).CombinedOutput(); err != nil {
			t.Errorf("losetup --detach %s: %v: %s", dev, err, out)
		}
	})
	return dev
}

// Mount mounts dev on a new directory under t.TempDir and unmounts it when
// the test ends.
func Mount(t testing.TB, dev string) string {
	t.Helper()
	dir := t.TempDir()
	Run(t, "mount", dev, dir)
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// Run runs a command and returns its output, failing the test if it fails.
func Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}
