package blockdev

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// chunk is how much one read or write moves: large enough that the device
// sees long sequential requests and per-call overhead vanishes, small
// enough that progress stays smooth and Ctrl-C is honoured within a second
// even on a slow SD card (4 MiB at 10 MB/s is 0.4 s).
const chunk = 4 << 20

// dioAlign is the offset and length alignment used with O_DIRECT. Devices
// need their logical sector size (512 or 4096) and file systems their
// block size (usually 4096), so 4096 suits both. Only the end of an image
// can be unaligned; it is written through the page cache.
const dioAlign = 4096

// alignedBuffer returns n bytes of page-aligned memory, as O_DIRECT
// requires of buffers, and the function that releases it.
func alignedBuffer(n int) ([]byte, func(), error) {
	b, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, nil, fmt.Errorf("allocate I/O buffer: %w", err)
	}
	return b, func() { unix.Munmap(b) }, nil
}

// openDirect opens path with O_DIRECT, so that I/O goes to the device and
// not to the page cache: writes then report real progress rather than
// filling memory and stalling in the final fsync, and reads see what the
// device holds. Where the file system has no O_DIRECT (EINVAL: tmpfs
// before Linux 6.6, some FUSE file systems) it falls back to buffered I/O
// and says so.
func openDirect(path string, flag int) (f *os.File, direct bool, err error) {
	f, err = os.OpenFile(path, flag|unix.O_DIRECT, 0)
	if errors.Is(err, unix.EINVAL) {
		f, err = os.OpenFile(path, flag, 0)
		return f, false, err
	}
	return f, err == nil, err
}

// dropCache drops the page cache's copy of f, so that reads that do not
// bypass the cache come from the device. BLKFLSBUF writes back and
// invalidates a block device's whole buffer cache (it needs
// CAP_SYS_ADMIN); POSIX_FADV_DONTNEED drops f's clean pages (for a regular
// file, all of them once it was fsynced). Errors are ignored: this backs up
// O_DIRECT, which does not depend on it, and a cache that could not be
// dropped is no reason to stop.
func dropCache(f *os.File, block bool) {
	fd := int(f.Fd())
	if block {
		unix.IoctlSetInt(fd, unix.BLKFLSBUF, 0)
	}
	unix.Fadvise(fd, 0, 0, unix.FADV_DONTNEED)
}

// RereadPartitions asks the kernel to read the partition table of the
// block device at path again, so that the partitions of the image just
// written appear (/dev/sdb1, ...). It fails with EBUSY while a partition is
// in use, and with EINVAL for devices that are not partitioned (a loop
// device set up without -P).
func RereadPartitions(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("reread partition table: %w", err)
	}
	defer f.Close()
	if err := unix.IoctlSetInt(int(f.Fd()), unix.BLKRRPART, 0); err != nil {
		return fmt.Errorf("reread partition table of %s: %w", path, err)
	}
	return nil
}

// alignUp rounds n up to a multiple of dioAlign.
func alignUp(n int) int { return (n + dioAlign - 1) &^ (dioAlign - 1) }
