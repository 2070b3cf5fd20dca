package qemu

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// disk returns the file QEMU attaches and its format: Disk itself with
// DiskWrite, otherwise a qcow2 overlay backed by Disk, so that whatever
// the guest writes (the /perm partition formatted on first boot, boot
// counters on the ESP) never reaches the built image.
func disk(ctx context.Context, c *Config, dir string) (path, format string, err error) {
	format = c.DiskFormat
	if format == "" {
		format = "raw"
	}
	if _, err := os.Stat(c.Disk); err != nil {
		return "", "", fmt.Errorf("stat disk: %w", err)
	}
	if c.DiskWrite {
		return c.Disk, format, nil
	}
	overlay := c.Overlay
	if overlay == "" {
		overlay = filepath.Join(dir, "disk.qcow2")
	}
	switch _, err := os.Stat(overlay); {
	case err == nil:
		return overlay, "qcow2", nil // a later VM on the same disk
	case !errors.Is(err, fs.ErrNotExist):
		return "", "", fmt.Errorf("stat overlay: %w", err)
	}
	// The overlay records its backing file's path: make it absolute so the
	// overlay works from any directory.
	backing, err := filepath.Abs(c.Disk)
	if err != nil {
		return "", "", fmt.Errorf("create overlay: %w", err)
	}
	cmd := exec.CommandContext(ctx, "qemu-img", "create", "-q", "-f", "qcow2",
		"-b", backing, "-F", format, overlay)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("create overlay: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return overlay, "qcow2", nil
}
