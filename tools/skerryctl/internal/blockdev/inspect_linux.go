package blockdev

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// systemMounts are the mount points whose disk is the running system's.
var systemMounts = []string{"/", "/boot", "/boot/efi", "/efi"}

// Inspect describes the target at path: a block device, or a regular file
// that already exists (a missing path is refused rather than created, so a
// mistyped /dev/sdx does not become a file in /dev).
func Inspect(path string) (*Target, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("device %s does not exist (lsblk lists the disks; to flash into a file, create it first: truncate -s 1G FILE): %w", path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("inspect device: %w", err)
	}
	t := &Target{Path: path, Name: path, Size: fi.Size(), SectorSize: 512, Description: "regular file", info: fi}
	switch m := fi.Mode(); {
	case m.IsRegular():
		return t, nil
	case m&fs.ModeDevice != 0 && m&fs.ModeCharDevice == 0:
		return t, inspectBlock(t, uint64(fi.Sys().(*syscall.Stat_t).Rdev))
	default:
		return nil, fmt.Errorf("device %s is a %s: %w; give a whole disk such as /dev/sdb", path, kind(m), ErrUnsupported)
	}
}

func inspectBlock(t *Target, rdev uint64) error {
	dir, err := sysDir(majmin(rdev))
	if err != nil {
		return fmt.Errorf("find %s in sysfs: %w", t.Path, err)
	}
	t.Block = true
	t.Name = "/dev/" + filepath.Base(dir)
	disk := dir
	if isPartition(dir) {
		disk = filepath.Dir(dir)
		t.Disk = "/dev/" + filepath.Base(disk)
	}
	// sysfs counts 512-byte units whatever the device's sector size.
	sectors, err := strconv.ParseInt(sysRead(dir, "size"), 10, 64)
	if err != nil {
		return fmt.Errorf("read size of %s from sysfs: %w", t.Name, err)
	}
	t.Size = sectors * 512
	if ss, err := strconv.Atoi(sysRead(disk, "queue/logical_block_size")); err == nil {
		t.SectorSize = ss
	}
	t.ReadOnly = sysRead(dir, "ro") == "1"
	t.Description = describe(disk)

	mounts, err := readMounts()
	if err != nil {
		return err
	}
	// A whole disk is in use when any of its partitions is.
	members := map[string]string{sysRead(dir, "dev"): t.Name}
	dirs := []string{dir}
	if t.Disk == "" {
		for _, p := range partitions(dir) {
			members[sysRead(p, "dev")] = "/dev/" + filepath.Base(p)
			dirs = append(dirs, p)
		}
	}
	delete(members, "") // so that a mount or swap file with no device matches nothing
	for _, m := range mounts {
		if dev, ok := members[mountDev(m)]; ok {
			t.Uses = append(t.Uses, Use{dev, "mounted on " + m.point, "unmount it (umount " + m.point + ")"})
		}
		if slices.Contains(systemMounts, m.point) && slices.Contains(mountDisks(m), filepath.Base(disk)) {
			t.System = append(t.System, m.point)
		}
	}
	for _, d := range dirs {
		for _, h := range list(d, "holders") {
			t.Uses = append(t.Uses, Use{"/dev/" + filepath.Base(d), "held by " + h + " (device-mapper, LVM, RAID or dm-crypt)",
				"stop it (vgchange -an, mdadm --stop, cryptsetup close or dmsetup remove)"})
		}
	}
	swaps, err := readSwaps()
	if err != nil {
		return err
	}
	for _, s := range swaps {
		if dev, ok := members[blockDev(s)]; ok {
			t.Uses = append(t.Uses, Use{dev, "in use as swap", "turn it off (swapoff " + dev + ")"})
		}
	}
	return nil
}

// mountDev returns the device number of a mount's block device. It is the
// mountinfo field, unless that is an anonymous device (btrfs, overlays):
// then the source, when it is a device node.
func mountDev(m mount) string {
	if !strings.HasPrefix(m.dev, "0:") {
		return m.dev
	}
	return blockDev(m.source)
}

// mountDisks returns the whole disks a mount's file system lives on.
func mountDisks(m mount) []string {
	mm := mountDev(m)
	if mm == "" {
		return nil
	}
	dir, err := sysDir(mm)
	if err != nil {
		return nil
	}
	return wholeDisks(dir, 0)
}

// blockDev returns the device number of the block device node at path, or
// "" when it is not one.
func blockDev(path string) string {
	var st syscall.Stat_t
	if !strings.HasPrefix(path, "/") || syscall.Stat(path, &st) != nil || st.Mode&syscall.S_IFMT != syscall.S_IFBLK {
		return ""
	}
	return majmin(uint64(st.Rdev))
}

func readMounts() ([]mount, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("list mounts: %w", err)
	}
	defer f.Close()
	return parseMountinfo(f)
}

func readSwaps() ([]string, error) {
	f, err := os.Open("/proc/swaps")
	if errors.Is(err, fs.ErrNotExist) { // a kernel without swap support
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list swaps: %w", err)
	}
	defer f.Close()
	return parseSwaps(f)
}
