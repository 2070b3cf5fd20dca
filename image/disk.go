package image

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"

	diskfs "github.com/diskfs/go-diskfs"
	"github.com/diskfs/go-diskfs/partition/gpt"

	"github.com/skerry/skerry/services/contract"
)

// Partition labels init looks for.
const (
	ESPLabel  = contract.ESPLabel
	PermLabel = contract.PermLabel
)

// DiskSpec is what goes onto the GPT disk image.
type DiskSpec struct {
	ESPMiB, PermMiB int
	// ESP maps paths on the EFI system partition to files on the host.
	ESP map[string]string
	// Seed makes the disk and partition GUIDs and the FAT serial stable for
	// the same inputs.
	Seed string
}

const mib = 1 << 20

// WriteDisk writes a GPT disk image: partition 1 is the FAT32 EFI system
// partition with the given files, partition 2 the blank perm partition
// that init formats on first boot.
func WriteDisk(ctx context.Context, out string, spec DiskSpec) error {
	esp := out + ".esp"
	defer os.Remove(esp)
	if err := writeESP(ctx, esp, spec); err != nil {
		return fmt.Errorf("write EFI system partition: %w", err)
	}
	// 1 MiB before the first partition, 1 MiB after the last for the
	// backup GPT.
	size := int64(1+spec.ESPMiB+spec.PermMiB+1) * mib
	if err := os.Remove(out); err != nil && !os.IsNotExist(err) {
		return err
	}
	d, err := diskfs.Create(out, size, diskfs.SectorSize512)
	if err != nil {
		return fmt.Errorf("create %s: %w", out, err)
	}
	defer d.Close()
	const sector = 512
	espStart := uint64(mib / sector)
	espEnd := espStart + uint64(spec.ESPMiB*mib/sector) - 1
	permEnd := espEnd + uint64(spec.PermMiB*mib/sector)
	table := &gpt.Table{
		LogicalSectorSize:  sector,
		PhysicalSectorSize: sector,
		ProtectiveMBR:      true,
		GUID:               guid(spec.Seed, "disk"),
		Partitions: []*gpt.Partition{
			{Index: 1, Start: espStart, End: espEnd, Type: gpt.EFISystemPartition, Name: ESPLabel, GUID: guid(spec.Seed, ESPLabel)},
			{Index: 2, Start: espEnd + 1, End: permEnd, Type: gpt.LinuxFilesystem, Name: PermLabel, GUID: guid(spec.Seed, PermLabel)},
		},
	}
	if err := d.Partition(table); err != nil {
		return fmt.Errorf("write partition table: %w", err)
	}
	f, err := os.Open(esp)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := d.WritePartitionContents(1, f); err != nil {
		return fmt.Errorf("copy EFI system partition into the disk image: %w", err)
	}
	return nil
}

// writeESP makes a FAT32 filesystem image with mtools.
func writeESP(ctx context.Context, file string, spec DiskSpec) error {
	if err := os.Truncate(file, 0); err != nil && !os.IsNotExist(err) {
		return err
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if err := f.Truncate(int64(spec.ESPMiB) * mib); err != nil {
		f.Close()
		return err
	}
	f.Close()
	sum := sha256.Sum256([]byte(spec.Seed + "/fat"))
	serial := fmt.Sprintf("%02x%02x%02x%02x", sum[0], sum[1], sum[2], sum[3])
	// Timestamps come from SOURCE_DATE_EPOCH, so the same inputs give the
	// same partition.
	env := append(os.Environ(), "SOURCE_DATE_EPOCH=0", "MTOOLS_SKIP_CHECK=1")
	run := func(args ...string) error {
		cmd := exec.CommandContext(ctx, args[0], args[1:]...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%v: %v\n%s", args, err, out)
		}
		return nil
	}
	if err := run("mformat", "-i", file, "-F", "-N", serial, "-v", "SKERRY", "::"); err != nil {
		return err
	}
	var paths []string
	for p := range spec.ESP {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	made := map[string]bool{}
	for _, p := range paths {
		var dirs []string
		for dir := path.Dir(p); dir != "." && dir != "/" && !made[dir]; dir = path.Dir(dir) {
			dirs = append([]string{dir}, dirs...)
			made[dir] = true
		}
		for _, dir := range dirs {
			if err := run("mmd", "-i", file, "::/"+dir); err != nil {
				return err
			}
		}
		if err := run("mcopy", "-i", file, spec.ESP[p], "::/"+p); err != nil {
			return err
		}
	}
	return nil
}

// guid derives a stable RFC 4122 version 4 style GUID from the seed.
func guid(seed, what string) string {
	s := sha256.Sum256([]byte(seed + "/" + what))
	s[6] = s[6]&0x0f | 0x40
	s[8] = s[8]&0x3f | 0x80
	return fmt.Sprintf("%X-%X-%X-%X-%X", s[0:4], s[4:6], s[6:8], s[8:10], s[10:16])
}

// ESPFiles lays out the EFI system partition: systemd-boot at the
// removable-media path, a loader entry, and the kernel, initramfs and site
// config.
func ESPFiles(workDir, loader, removablePath, vmlinuz, initrd, siteConfig, title, cmdline string) (map[string]string, error) {
	loaderConf := filepath.Join(workDir, "loader.conf")
	entry := filepath.Join(workDir, "skerry.conf")
	if err := os.WriteFile(loaderConf, []byte("default skerry.conf\ntimeout 0\nconsole-mode keep\neditor no\n"), 0o644); err != nil {
		return nil, err
	}
	e := fmt.Sprintf("title %s\nlinux /skerry/vmlinuz\ninitrd /skerry/initrd.zst\noptions %s\n", title, cmdline)
	if err := os.WriteFile(entry, []byte(e), 0o644); err != nil {
		return nil, err
	}
	return map[string]string{
		removablePath:                loader,
		"loader/loader.conf":         loaderConf,
		"loader/entries/skerry.conf": entry,
		"skerry/vmlinuz":             vmlinuz,
		"skerry/initrd.zst":          initrd,
		"skerry/site.json":           siteConfig,
	}, nil
}
