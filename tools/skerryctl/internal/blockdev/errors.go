package blockdev

import (
	"errors"
	"fmt"
)

// The errors this package returns wrap one of these, with what was found and
// what to do about it; callers check them with errors.Is.
var (
	// ErrNotImage is returned when a file is not a GPT disk image: no
	// protective MBR, no "EFI PART" header at LBA 1, or a corrupt header.
	ErrNotImage = errors.New("not a GPT disk image")
	// ErrTruncated is returned when an image is shorter than the disk its
	// own GPT describes (an interrupted build or copy).
	ErrTruncated = errors.New("image truncated")
	// ErrUnsupported is returned when a target is neither a block device
	// nor a regular file.
	ErrUnsupported = errors.New("not a block device or regular file")
	// ErrTooSmall is returned when a target has fewer bytes than the image.
	ErrTooSmall = errors.New("target too small")
	// ErrReadOnly is returned when the kernel reports a target read-only.
	ErrReadOnly = errors.New("target read-only")
	// ErrSameFile is returned when the target is the image itself.
	ErrSameFile = errors.New("target is the image")
	// ErrInUse is returned when a target, or one of its partitions, is
	// mounted, used as swap, held by device-mapper or RAID, or claimed
	// exclusively by another program.
	ErrInUse = errors.New("target in use")
	// ErrSystemDisk is returned when a target is the disk that holds the
	// running system's / or /boot.
	ErrSystemDisk = errors.New("target holds the running system")
	// ErrPartition is returned when a target is a partition, not a whole
	// disk: a disk image carries its own partition table.
	ErrPartition = errors.New("target is a partition")
	// ErrSectorSize is returned when a target's logical sector size differs
	// from the one the image's GPT was laid out for.
	ErrSectorSize = errors.New("sector size mismatch")
	// ErrMismatch is returned (as a *MismatchError) when what was read back
	// differs from the image.
	ErrMismatch = errors.New("verification failed")
)

// MismatchError is returned when what was read back from a target differs
// from the image. errors.Is(err, ErrMismatch) reports true for it.
type MismatchError struct {
	Path   string
	Offset int64 // of the first byte that differs
	Bytes  int64 // how many bytes differ in all
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("%s differs from the image at offset %d (%#x); %d bytes differ in all",
		e.Path, e.Offset, e.Offset, e.Bytes)
}

func (e *MismatchError) Is(target error) bool { return target == ErrMismatch }
