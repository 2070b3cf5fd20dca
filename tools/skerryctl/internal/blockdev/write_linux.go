package blockdev

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// Device is a target opened for writing an image onto it.
type Device struct {
	path   string
	f      *os.File // opened O_DIRECT when direct
	direct bool
	block  bool
	tail   *os.File // buffered, for an image's unaligned end; opened when needed
}

// Written is what WriteImage wrote.
type Written struct {
	Bytes  int64
	SHA256 [sha256.Size]byte // of the image bytes, as they were written
}

// OpenDevice opens the target at path for writing. With exclusive, a block
// device is opened O_EXCL: the kernel then refuses it while it or one of
// its partitions is mounted or claimed, and nobody can mount it while we
// write. That is the race-free form of Inspect's checks; --force turns it
// off along with them.
func OpenDevice(path string, exclusive bool) (*Device, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("open device: %w", err)
	}
	d := &Device{path: path, block: fi.Mode()&fs.ModeDevice != 0}
	flag := os.O_WRONLY
	if exclusive && d.block {
		flag |= unix.O_EXCL
	}
	d.f, d.direct, err = openDirect(path, flag)
	if errors.Is(err, unix.EBUSY) && flag&unix.O_EXCL != 0 {
		return nil, fmt.Errorf("%w: the kernel reports %s busy (mounted, part of LVM, RAID or dm-crypt, or opened exclusively by another program); free it, or pass --force", ErrInUse, path)
	}
	if errors.Is(err, unix.EBUSY) {
		return nil, fmt.Errorf("%w: this kernel refuses writes to a mounted device even with --force (CONFIG_BLK_DEV_WRITE_MOUNTED is off); unmount %s first", ErrInUse, path)
	}
	if err != nil {
		return nil, fmt.Errorf("open device: %w", err)
	}
	return d, nil
}

// Direct reports whether writes bypass the page cache.
func (d *Device) Direct() bool { return d.direct }

// WriteImage writes size bytes of src onto d from offset 0, then fsyncs
// and drops the page cache's copy so that a later Verify reads what the
// device holds. progress, if not nil, is called after each chunk with the
// bytes written so far. When ctx is cancelled it stops after the current
// chunk and returns ctx's error; the device then holds part of the image.
func (d *Device) WriteImage(ctx context.Context, src io.ReaderAt, size int64, progress func(done int64)) (Written, error) {
	buf, free, err := alignedBuffer(chunk)
	if err != nil {
		return Written{}, err
	}
	defer free()
	h := sha256.New()
	var w Written
	for w.Bytes < size {
		if err := ctx.Err(); err != nil {
			return w, err
		}
		n := int(min(chunk, size-w.Bytes))
		if err := readAt(src, buf[:n], w.Bytes); err != nil {
			return w, fmt.Errorf("read image at offset %d: %w", w.Bytes, err)
		}
		h.Write(buf[:n])
		if err := d.writeAt(buf[:n], w.Bytes); err != nil {
			return w, err
		}
		w.Bytes += int64(n)
		if progress != nil {
			progress(w.Bytes)
		}
	}
	h.Sum(w.SHA256[:0])
	// fsync on a block device also flushes the device's volatile write
	// cache; without it a stick pulled right away may lose the last writes.
	for _, f := range []*os.File{d.tail, d.f} {
		if f == nil {
			continue
		}
		if err := f.Sync(); err != nil {
			return w, fmt.Errorf("sync %s: %w", d.path, err)
		}
	}
	dropCache(d.f, d.block)
	return w, nil
}

// writeAt writes b at offset off: the aligned part through d.f, and any
// unaligned rest (only ever at the image's end) through the page cache.
func (d *Device) writeAt(b []byte, off int64) error {
	n := len(b)
	if d.direct {
		n &^= dioAlign - 1
	}
	if _, err := d.f.WriteAt(b[:n], off); err != nil {
		return fmt.Errorf("write %s at offset %d: %w", d.path, off, err)
	}
	if n == len(b) {
		return nil
	}
	if d.tail == nil {
		// Not O_EXCL: d.f holds the claim, and a second exclusive open
		// from this process would conflict with it.
		f, err := os.OpenFile(d.path, os.O_WRONLY, 0)
		if err != nil {
			return fmt.Errorf("open device: %w", err)
		}
		d.tail = f
	}
	if _, err := d.tail.WriteAt(b[n:], off+int64(n)); err != nil {
		return fmt.Errorf("write %s at offset %d: %w", d.path, off+int64(n), err)
	}
	return nil
}

// Close closes the device.
func (d *Device) Close() error {
	if d.tail != nil {
		d.tail.Close()
	}
	return d.f.Close()
}
