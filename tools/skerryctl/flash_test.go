//go:build linux

package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skerry/skerry/tools/skerryctl/internal/blockdev"
	"github.com/skerry/skerry/tools/skerryctl/internal/blockdev/blockdevtest"
)

const mib = 1 << 20

// flashOut runs "skerryctl flash" with args and returns its output.
func flashOut(ctx context.Context, args ...string) (stdout, stderr string, err error) {
	var o, e bytes.Buffer
	err = runFlash(ctx, &o, &e, args)
	return o.String(), e.String(), err
}

// checkFlashed checks that target starts with the image at img and that
// stdout reports equal digests, the image's.
func checkFlashed(t *testing.T, img, target, stdout string) {
	t.Helper()
	want, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(target)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got[:len(want)], want) {
		t.Errorf("%s does not hold the image", target)
	}
	sum := fmt.Sprintf("%x", sha256.Sum256(want))
	for _, line := range []string{"image  sha256 " + sum, "device sha256 " + sum, "ok: "} {
		if !strings.Contains(stdout, "\n"+line) {
			t.Errorf("stdout lacks a line starting %q:\n%s", line, stdout)
		}
	}
}

func TestFlashFile(t *testing.T) {
	img := blockdevtest.Image(t, 5*mib+512, 512)
	target := blockdevtest.File(t, 8*mib, 0)
	stdout, stderr, err := flashOut(context.Background(), "--image", img, "--device", target)
	if err != nil {
		t.Fatalf("flash: %v\nstderr:\n%s", err, stderr)
	}
	checkFlashed(t, img, target, stdout)
	if !strings.Contains(stdout, "overwriting the first 5.2 MB of "+target) {
		t.Errorf("stdout does not say what it overwrites:\n%s", stdout)
	}
	if !strings.Contains(stderr, "writing ") || !strings.Contains(stderr, "verifying ") {
		t.Errorf("stderr shows no progress:\n%s", stderr)
	}
}

// TestFlashRefuses checks the refusals that regular files can exercise;
// each must leave the target as it was.
func TestFlashRefuses(t *testing.T) {
	img := blockdevtest.Image(t, 4*mib, 512)
	dir := t.TempDir()
	notImage := filepath.Join(dir, "kernel")
	if err := os.WriteFile(notImage, bytes.Repeat([]byte("MZ kernel"), 1000), 0o644); err != nil {
		t.Fatal(err)
	}
	small := blockdevtest.File(t, 4*mib-512, 0)
	big := blockdevtest.File(t, 8*mib, 0)
	tests := []struct {
		name    string
		args    []string
		wantErr error  // checked with errors.Is, when set
		wantMsg string // in the error message
	}{
		{"too small", []string{"--image", img, "--device", small}, blockdev.ErrTooSmall, "truncate -s 4194304 " + small},
		{"too small even with --force", []string{"--force", "--image", img, "--device", small}, blockdev.ErrTooSmall, "image is 4.2 MB"},
		{"not an image", []string{"--image", notImage, "--device", big}, blockdev.ErrNotImage, "make image"},
		{"missing image", []string{"--image", filepath.Join(dir, "none.img"), "--device", big}, fs.ErrNotExist, "make image"},
		{"missing device", []string{"--image", img, "--device", filepath.Join(dir, "sdx")}, fs.ErrNotExist, "lsblk"},
		{"directory", []string{"--image", img, "--device", dir}, blockdev.ErrUnsupported, "whole disk"},
		{"onto itself", []string{"--image", img, "--device", img}, blockdev.ErrSameFile, "image itself"},
		{"no device", []string{"--image", img}, nil, "--device is required"},
		{"no image", []string{"--device", big}, nil, "--image is required"},
		{"stray argument", []string{"--image", img, "--device", big, "now"}, nil, `unexpected argument "now"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := flashOut(context.Background(), tt.args...)
			if err == nil || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("flash %q: got error %v, want %v containing %q", tt.args, err, tt.wantErr, tt.wantMsg)
			}
		})
	}
	for _, f := range []string{small, big} {
		if b, _ := os.ReadFile(f); len(bytes.Trim(b, "\x00")) != 0 {
			t.Errorf("a refused flash changed %s", f)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "sdx")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("flash created the missing device as a file")
	}
}

func TestFlashInterrupted(t *testing.T) {
	img := blockdevtest.Image(t, 4*mib, 512)
	target := blockdevtest.File(t, 4*mib, 0)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err := flashOut(ctx, "--image", img, "--device", target)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "partially written") {
		t.Errorf("flash after Ctrl-C: got error %v, want one saying %s is partially written", err, target)
	}
}

func TestFlashHelp(t *testing.T) {
	_, stderr, err := flashOut(context.Background(), "-h")
	if !errors.Is(err, flag.ErrHelp) || !strings.HasPrefix(stderr, "usage: skerryctl flash") {
		t.Errorf("flash -h: got error %v and stderr\n%s\nwant %v and the usage", err, stderr, flag.ErrHelp)
	}
}
