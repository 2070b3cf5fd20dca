//go:build linux

package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skerry/skerry/tools/skerryctl/internal/blockdev"
	"github.com/skerry/skerry/tools/skerryctl/internal/blockdev/blockdevtest"
)

// These tests flash loop devices; they need root and SKERRY_INTEGRATION=1.

func TestIntegrationFlashLoop(t *testing.T) {
	blockdevtest.Integration(t)
	img := blockdevtest.Image(t, 8*mib, 512)
	// The device starts with another table: a 32 MiB disk whose first
	// partition spans 1 to 16 MiB.
	dev, byKernel := blockdevtest.LoopPartitions(t, blockdevtest.Image(t, 32*mib, 512))
	stdout, stderr, err := flashOut(context.Background(), "--image", img, "--device", dev)
	if err != nil {
		t.Fatalf("flash %s: %v\nstderr:\n%s", dev, err, stderr)
	}
	checkFlashed(t, img, dev, stdout)
	if !strings.Contains(stdout, "read back 8.4 MB") || !strings.Contains(stdout, "(O_DIRECT)") {
		t.Errorf("stdout does not say the verify bypassed the page cache:\n%s", stdout)
	}
	if !byKernel {
		t.Log("this kernel does not read GPTs; not checking that it reread the new one")
		return
	}
	// flash asked the kernel to reread the partition table: the first
	// partition is now the image's, 1 to 4 MiB.
	size, err := os.ReadFile("/sys/class/block/" + filepath.Base(dev) + "p1/size")
	if got, want := strings.TrimSpace(string(size)), "6144"; err != nil || got != want {
		t.Errorf("%sp1 after flashing: got %s sectors (%v), want %s", dev, got, err, want)
	}
}

// TestIntegrationRefusesMounted mounts a file system on a loop device, or
// on its first partition, and expects flash to refuse it until --force.
func TestIntegrationRefusesMounted(t *testing.T) {
	blockdevtest.Integration(t)
	img := blockdevtest.Image(t, 8*mib, 512)
	for _, partitioned := range []bool{true, false} {
		name := map[bool]string{true: "partition mounted", false: "whole device mounted"}[partitioned]
		t.Run(name, func(t *testing.T) {
			var dev, fsdev string
			if partitioned {
				dev, _ = blockdevtest.LoopPartitions(t, blockdevtest.Image(t, 32*mib, 512))
				fsdev = dev + "p1"
			} else {
				dev = blockdevtest.Loop(t, blockdevtest.File(t, 32*mib, 0))
				fsdev = dev
			}
			blockdevtest.Run(t, "mkfs.ext4", "-q", fsdev)
			dir := blockdevtest.Mount(t, fsdev)
			// Read-only: a read-write ext4 may write its metadata back after
			// --force has overwritten the device, and then the image check
			// below would fail for a reason that is not flash's.
			blockdevtest.Run(t, "mount", "-o", "remount,ro", dir)

			_, _, err := flashOut(context.Background(), "--image", img, "--device", dev)
			if !errors.Is(err, blockdev.ErrInUse) || !strings.Contains(err.Error(), fsdev+" is mounted on "+dir) {
				t.Fatalf("flash onto mounted %s: got error %v, want %v naming %s and %s", dev, err, blockdev.ErrInUse, fsdev, dir)
			}
			stdout, stderr, err := flashOut(context.Background(), "--force", "--image", img, "--device", dev)
			if err != nil {
				t.Fatalf("flash --force: %v\nstderr:\n%s", err, stderr)
			}
			checkFlashed(t, img, dev, stdout)
			if !strings.Contains(stderr, "warning: --force: "+fsdev+" is mounted on "+dir) {
				t.Errorf("flash --force did not warn what it overrode:\n%s", stderr)
			}
		})
	}
}

func TestIntegrationRefusesPartition(t *testing.T) {
	blockdevtest.Integration(t)
	img := blockdevtest.Image(t, 4*mib, 512)
	dev, _ := blockdevtest.LoopPartitions(t, blockdevtest.Image(t, 32*mib, 512))
	part := dev + "p1"
	_, _, err := flashOut(context.Background(), "--image", img, "--device", part)
	if !errors.Is(err, blockdev.ErrPartition) || !strings.Contains(err.Error(), "give "+dev+" instead") {
		t.Fatalf("flash onto %s: got error %v, want %v suggesting %s", part, err, blockdev.ErrPartition, dev)
	}
	stdout, stderr, err := flashOut(context.Background(), "--force", "--image", img, "--device", part)
	if err != nil {
		t.Fatalf("flash --force onto %s: %v\nstderr:\n%s", part, err, stderr)
	}
	checkFlashed(t, img, part, stdout)
}
