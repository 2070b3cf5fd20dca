package blockdev

import (
	"fmt"
	"os"
	"strings"
)

// Target is a flash destination as the kernel describes it.
type Target struct {
	Path        string // as the operator gave it
	Name        string // the kernel's name for it ("/dev/sdb"); Path for a regular file
	Block       bool   // a block device, not a regular file
	Size        int64
	SectorSize  int    // logical sector size; 512 for a regular file
	Description string // model, serial, backing file, removable; "" when unknown
	ReadOnly    bool
	Disk        string   // for a partition, the whole disk holding it ("/dev/sdb")
	Uses        []Use    // what holds it or its partitions
	System      []string // the running system's mount points (/, /boot) on its disk
	info        os.FileInfo
}

// Use is something that holds a target or one of its partitions.
type Use struct {
	Dev  string // "/dev/sdb1"
	What string // "mounted on /media/usb"
	Fix  string // "umount /media/usb"
}

// Refusal is one reason not to write an image onto a target.
type Refusal struct {
	Err  error  // the sentinel: ErrTooSmall, ErrInUse, ...
	What string // what was found
	Fix  string // what the operator can do about it
}

// Forcible reports whether --force may override r. The checks it may
// override guard against mistakes an operator can mean (writing into a
// partition, over a mounted stick); the others would fail or corrupt.
func (r Refusal) Forcible() bool {
	switch r.Err {
	case ErrInUse, ErrSystemDisk, ErrPartition, ErrSectorSize:
		return true
	}
	return false
}

func (r Refusal) String() string { return r.What + ": " + r.Fix }

// Check returns the reasons not to write img onto t, worst first.
func Check(t *Target, img *Image) []Refusal {
	var rs []Refusal
	if img.info != nil && t.info != nil && os.SameFile(img.info, t.info) {
		rs = append(rs, Refusal{ErrSameFile, t.Path + " is the image itself", "give the device to write it onto"})
	}
	if t.Size < img.Size {
		fix := "use a device of at least " + FormatSize(img.Size)
		switch {
		case !t.Block:
			fix = fmt.Sprintf("grow it (truncate -s %d %s)", img.Size, t.Path)
		case t.Size == 0:
			fix = "insert the card or stick: the reader reports no medium"
		}
		rs = append(rs, Refusal{ErrTooSmall, fmt.Sprintf("%s has %s (%d bytes) but the image is %s (%d bytes)",
			t.Name, FormatSize(t.Size), t.Size, FormatSize(img.Size), img.Size), fix})
	}
	if t.ReadOnly {
		rs = append(rs, Refusal{ErrReadOnly, "the kernel reports " + t.Name + " read-only",
			"check the card's write-protect switch, or run blockdev --setrw " + t.Name})
	}
	if len(t.System) > 0 {
		disk := t.Name
		if t.Disk != "" {
			disk = t.Disk
		}
		rs = append(rs, Refusal{ErrSystemDisk,
			fmt.Sprintf("%s holds the running system's %s", disk, strings.Join(t.System, " and ")),
			"choose another device (lsblk lists them), or pass --force if you mean to overwrite this machine's own disk"})
	}
	for _, u := range t.Uses {
		rs = append(rs, Refusal{ErrInUse, u.Dev + " is " + u.What, u.Fix + ", or pass --force"})
	}
	if t.Disk != "" {
		rs = append(rs, Refusal{ErrPartition,
			fmt.Sprintf("%s is a partition of %s; the image is a whole disk with its own partition table", t.Name, t.Disk),
			"give " + t.Disk + " instead, or pass --force to write it into the partition"})
	}
	if t.Block && t.SectorSize != img.GPT.SectorSize {
		rs = append(rs, Refusal{ErrSectorSize,
			fmt.Sprintf("%s has %d-byte sectors but the image's partition table is laid out for %d-byte sectors; firmware would not find it",
				t.Name, t.SectorSize, img.GPT.SectorSize),
			fmt.Sprintf("build the image for %d-byte sectors, or pass --force", t.SectorSize)})
	}
	return rs
}

// RefusedError lists the reasons a target was refused.
type RefusedError struct {
	Target   string
	Refusals []Refusal
}

func (e *RefusedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "refusing to write onto %s:", e.Target)
	for _, r := range e.Refusals {
		fmt.Fprintf(&b, "\n  - %s", r)
	}
	return b.String()
}

// Unwrap returns the sentinels, so that errors.Is(err, ErrInUse) works.
func (e *RefusedError) Unwrap() []error {
	errs := make([]error, len(e.Refusals))
	for i, r := range e.Refusals {
		errs[i] = r.Err
	}
	return errs
}

// FormatSize formats n bytes in decimal units, as disks are labelled.
func FormatSize(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	f, i := float64(n), 0
	for f >= unit && i < 4 {
		f /= unit
		i++
	}
	return fmt.Sprintf("%.1f %cB", f, "kMGTP"[i-1])
}
