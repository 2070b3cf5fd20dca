//go:build !linux

package main

import (
	"context"
	"errors"
	"io"
)

// runFlash is Linux-only: it finds mounts, partitions and device models in
// /proc and sysfs, and uses O_DIRECT and Linux's block device ioctls.
func runFlash(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	return errors.New("flash runs on Linux only; write the image with dd or a Linux machine")
}
