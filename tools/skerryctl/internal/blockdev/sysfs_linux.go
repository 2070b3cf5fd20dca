package blockdev

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// majmin formats a device number the way sysfs and mountinfo do ("8:17").
func majmin(dev uint64) string {
	return fmt.Sprintf("%d:%d", unix.Major(dev), unix.Minor(dev))
}

// sysDir returns the sysfs directory of the block device numbered mm
// ("8:17"), such as /sys/devices/.../block/sdb/sdb1: a partition's
// directory sits inside its disk's.
func sysDir(mm string) (string, error) {
	return filepath.EvalSymlinks(filepath.Join("/sys/dev/block", mm))
}

// sysRead returns the trimmed contents of dir/name, or "" when it cannot
// be read: most attributes are optional (a loop device has no model).
func sysRead(dir, name string) string {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// isPartition reports whether the sysfs directory dir is a partition's.
func isPartition(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "partition"))
	return err == nil
}

// partitions returns the sysfs directories of disk's partitions.
func partitions(disk string) []string {
	ents, _ := os.ReadDir(disk)
	var dirs []string
	for _, e := range ents {
		if d := filepath.Join(disk, e.Name()); e.IsDir() && isPartition(d) {
			dirs = append(dirs, d)
		}
	}
	return dirs
}

// list returns the names in dir/sub, such as the holders of a device.
func list(dir, sub string) []string {
	ents, _ := os.ReadDir(filepath.Join(dir, sub))
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// wholeDisks returns the names of the whole disks under the device at dir:
// the disk holding a partition, and for device-mapper and RAID devices
// (LVM, dm-crypt, md) the disks under their slaves, recursively.
func wholeDisks(dir string, depth int) []string {
	if isPartition(dir) {
		dir = filepath.Dir(dir)
	}
	names := []string{filepath.Base(dir)}
	if depth > 8 { // stacks are a few levels deep; this only stops a cycle
		return names
	}
	for _, s := range list(dir, "slaves") {
		if d, err := filepath.EvalSymlinks(filepath.Join("/sys/class/block", s)); err == nil {
			names = append(names, wholeDisks(d, depth+1)...)
		}
	}
	return names
}

// describe says what the disk at sysfs directory disk is, as far as sysfs
// knows: "SanDisk Ultra, removable", "loop device backed by /tmp/x.img".
func describe(disk string) string {
	var parts []string
	vendor := sysRead(disk, "device/vendor")
	if strings.HasPrefix(vendor, "0x") { // a PCI vendor ID (virtio), not a name
		vendor = ""
	}
	model := strings.Join(strings.Fields(vendor+" "+sysRead(disk, "device/model")), " ")
	if model == "" {
		model = sysRead(disk, "device/name") // SD and eMMC cards
	}
	if model != "" {
		parts = append(parts, model)
	}
	if s := sysRead(disk, "device/serial"); s != "" {
		parts = append(parts, "serial "+s)
	}
	if b := sysRead(disk, "loop/backing_file"); b != "" {
		parts = append(parts, "loop device backed by "+b)
	}
	if sysRead(disk, "removable") == "1" {
		parts = append(parts, "removable")
	}
	return strings.Join(parts, ", ")
}
