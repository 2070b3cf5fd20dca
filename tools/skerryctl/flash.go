//go:build linux

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/skerry/skerry/services/contract"
	"github.com/skerry/skerry/tools/skerryctl/internal/blockdev"
	"golang.org/x/sys/unix"
)

const flashUsage = `usage: skerryctl flash --image IMG --device DEV [--site-config FILE] [--force]

Write the disk image IMG (the GPT image ` + "`make image`" + ` builds) onto DEV, then
read it back and compare its SHA-256 digest with the image's. With
--site-config, then put FILE on DEV's EFI system partition as
skerry/site.json (it wins over the config baked into the image) and read it
back. Progress goes to stderr; what is overwritten, the digests and the result
go to stdout. Ctrl-C stops between chunks and leaves DEV partially written.

DEV is a whole disk: /dev/sdb, /dev/mmcblk0, /dev/disk/by-id/usb-... (lsblk
lists them). A regular file that already exists and is at least as large as
the image is accepted too, for testing (create one: truncate -s 1G disk.img).

flash refuses, saying why, when IMG is not a GPT disk image, or DEV
  - is smaller than the image or read-only,
  - is mounted, or one of its partitions is, or is in use (swap, LVM, RAID),
  - holds the running system (/ or /boot),
  - is a partition rather than a whole disk,
  - has a logical sector size the image was not built for.
--force overrides the last four checks, never the first.

flags:
  --image IMG          the disk image to write
  --device DEV         the disk (or file) to overwrite
  --site-config FILE   this box's site config (checked before anything is
                       written; see services/siteconfig for its fields)
  --force              write even onto a mounted, in-use, system or partition
                       device, or one whose sector size differs from the image's
`

// flashArgs are the parsed flags of "skerryctl flash".
type flashArgs struct {
	image, device, siteConfig string
	force                     bool
}

func parseFlash(stderr io.Writer, args []string) (flashArgs, error) {
	var a flashArgs
	fs := flag.NewFlagSet("flash", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, flashUsage) }
	fs.StringVar(&a.image, "image", "", "")
	fs.StringVar(&a.device, "device", "", "")
	fs.StringVar(&a.siteConfig, "site-config", "", "")
	fs.BoolVar(&a.force, "force", false, "")
	if err := fs.Parse(args); err != nil {
		return a, err
	}
	switch {
	case fs.NArg() > 0:
		return a, fmt.Errorf("flash: unexpected argument %q: give the image with --image and the device with --device", fs.Arg(0))
	case a.image == "":
		return a, errors.New("flash: --image is required: the disk image `make image` builds")
	case a.device == "":
		return a, errors.New("flash: --device is required: the disk to overwrite, such as /dev/sdb (lsblk lists them)")
	}
	return a, nil
}

// runFlash implements "skerryctl flash": check, write, verify. It asks no
// questions (scripts run it); instead it refuses what looks like a mistake
// and prints what it is about to overwrite before it does. Progress goes to
// stderr, the record (what, digests, result) to stdout.
func runFlash(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	a, err := parseFlash(stderr, args)
	if err != nil {
		return err
	}
	img, err := blockdev.OpenImage(a.image)
	if err != nil {
		return err
	}
	defer img.Close()
	t, err := blockdev.Inspect(a.device)
	if err != nil {
		return err
	}
	if err := check(stderr, t, img, a.force); err != nil {
		return err
	}
	var site *siteConfig
	if a.siteConfig != "" {
		if site, err = loadSiteConfig(a.siteConfig, img.Path, img.GPT.SectorSize); err != nil {
			return err
		}
	}
	announce(stdout, img, t)

	sum, err := write(ctx, stdout, stderr, img, t, a.force)
	if err != nil {
		return err
	}
	if err := verify(ctx, stdout, stderr, img, t, sum); err != nil {
		return err
	}
	if site != nil {
		if err := site.writeTo(t.Path); err != nil {
			return fmt.Errorf("%s holds the image, but its site config could not be written (%w); the box would boot with the image's baked-in config: run the same command again", t.Name, err)
		}
		fmt.Fprintf(stdout, "site config: %s (%d bytes) written to %s's EFI system partition as %s and read back\n", site.source, len(site.data), t.Name, contract.ESPSiteConfig)
	}
	if t.Block && t.Disk == "" {
		// So that /dev/sdb1... match the new table at once. EINVAL means
		// the device is not partitionable (a loop device without -P).
		if err := blockdev.RereadPartitions(t.Path); err != nil && !errors.Is(err, unix.EINVAL) {
			fmt.Fprintf(stderr, "skerryctl: warning: the kernel still shows the old partitions (%v); replug %s or run partprobe\n", err, t.Name)
		}
	}
	fmt.Fprintf(stdout, "ok: %s holds the image\n", t.Name)
	return nil
}

// check refuses t unless every reason not to write img onto it is one that
// force overrides; those it names on stderr.
func check(stderr io.Writer, t *blockdev.Target, img *blockdev.Image, force bool) error {
	rs := blockdev.Check(t, img)
	var refused []blockdev.Refusal
	for _, r := range rs {
		if !force || !r.Forcible() {
			refused = append(refused, r)
		}
	}
	if len(refused) > 0 {
		return &blockdev.RefusedError{Target: t.Path, Refusals: refused}
	}
	for _, r := range rs {
		fmt.Fprintf(stderr, "skerryctl: warning: --force: %s\n", r.What)
	}
	return nil
}

// announce says what is about to be overwritten, before anything is.
func announce(stdout io.Writer, img *blockdev.Image, t *blockdev.Target) {
	fmt.Fprintf(stdout, "image:  %s: %s (%d bytes), GPT with %d partitions, %d-byte sectors\n",
		img.Path, blockdev.FormatSize(img.Size), img.Size, img.GPT.Partitions, img.GPT.SectorSize)
	name := t.Name
	if t.Path != t.Name {
		name = t.Path + " (" + t.Name + ")"
	}
	desc := ""
	if t.Description != "" {
		desc = t.Description + "; "
	}
	fmt.Fprintf(stdout, "device: %s: %s%s (%d bytes)\n", name, desc, blockdev.FormatSize(t.Size), t.Size)
	fmt.Fprintf(stdout, "overwriting the first %s of %s; what it held there is lost\n", blockdev.FormatSize(img.Size), t.Name)
}

// write writes img onto t and returns the digest of what it wrote.
func write(ctx context.Context, stdout, stderr io.Writer, img *blockdev.Image, t *blockdev.Target, force bool) ([32]byte, error) {
	// Without --force the kernel re-checks the mounts at open (O_EXCL),
	// closing the gap between Inspect and now.
	dev, err := blockdev.OpenDevice(t.Path, t.Block && !force)
	if err != nil {
		return [32]byte{}, err
	}
	m := startMeter(stderr, "writing", img.Size)
	w, err := dev.WriteImage(ctx, img, img.Size, m.set)
	took := m.finish()
	if cerr := dev.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close %s: %w", t.Name, cerr)
	}
	if err != nil {
		// Whatever stopped the write, the old contents are gone and the
		// new ones incomplete: say so, and how to recover.
		if ctx.Err() != nil {
			err = fmt.Errorf("interrupted: %w", err)
		}
		return w.SHA256, fmt.Errorf("%s is now partially written (%s of %s) and will not boot; run the same command again to flash it: %w",
			t.Name, blockdev.FormatSize(w.Bytes), blockdev.FormatSize(img.Size), err)
	}
	how := "bypassing the page cache (O_DIRECT)"
	if !dev.Direct() {
		how = "through the page cache (this file system has no O_DIRECT)"
	}
	fmt.Fprintf(stdout, "wrote %s in %s (%s), %s, and synced\n", blockdev.FormatSize(w.Bytes), took.Round(time.Millisecond), rate(w.Bytes, took), how)
	return w.SHA256, nil
}

// verify reads t back, compares it with img and prints both digests.
// written is the digest of what write wrote, to catch an image that
// changed in between.
func verify(ctx context.Context, stdout, stderr io.Writer, img *blockdev.Image, t *blockdev.Target, written [32]byte) error {
	m := startMeter(stderr, "verifying", img.Size)
	v, err := blockdev.Verify(ctx, t.Path, img, img.Size, m.set)
	took := m.finish()
	if ctx.Err() != nil {
		return fmt.Errorf("%s holds the whole image but verifying it was interrupted (%w); run flash again, or compare by hand: cmp -n %d %s %s",
			t.Name, ctx.Err(), img.Size, img.Path, t.Path)
	}
	if err != nil && !errors.Is(err, blockdev.ErrMismatch) {
		return fmt.Errorf("verify %s: %w", t.Name, err)
	}
	how := "bypassing the page cache (O_DIRECT)"
	if !v.Direct {
		how = "from the page cache after dropping it (this file system has no O_DIRECT)"
	}
	fmt.Fprintf(stdout, "read back %s in %s (%s), %s\n", blockdev.FormatSize(img.Size), took.Round(time.Millisecond), rate(img.Size, took), how)
	fmt.Fprintf(stdout, "image  sha256 %x  %s\n", v.Image, img.Path)
	fmt.Fprintf(stdout, "device sha256 %x  %s, first %d bytes\n", v.Device, t.Name, img.Size)
	// Verify re-reads the image: if it changed since it was written (a
	// rebuild in another terminal), a match or mismatch would mean nothing.
	if v.Image != written {
		return fmt.Errorf("the image changed while it was being flashed (sha256 %x when written); flash it again once nothing writes to %s", written, img.Path)
	}
	if err != nil {
		return fmt.Errorf("verification failed: %w; the device may be failing, or report more capacity than it has: try another one", err)
	}
	return nil
}
