package blockdev

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// Verified is what Verify read.
type Verified struct {
	Image  [sha256.Size]byte // digest of the image's bytes
	Device [sha256.Size]byte // digest of the same range of the device
	// Direct reports whether reads bypassed the page cache. When false the
	// file system has no O_DIRECT and reads came from the cache after it
	// was dropped.
	Direct bool
}

// Verify reads the first size bytes of the target at path and compares
// them with img. It reads with O_DIRECT where it can, after dropping the
// page cache, so that it checks what the device stores rather than what
// the kernel remembers writing. It reads to the end even after a
// difference, so that both digests are whole and the error can say how
// much differs: one bad block reads differently from a fake-capacity stick.
// A difference returns the digests and a *MismatchError; progress, if not
// nil, is called after each chunk with the bytes compared so far.
func Verify(ctx context.Context, path string, img io.ReaderAt, size int64, progress func(done int64)) (Verified, error) {
	var v Verified
	f, direct, err := openDirect(path, os.O_RDONLY)
	if err != nil {
		return v, fmt.Errorf("open device for verifying: %w", err)
	}
	defer f.Close()
	v.Direct = direct
	fi, err := f.Stat()
	if err != nil {
		return v, fmt.Errorf("stat device: %w", err)
	}
	dropCache(f, fi.Mode()&fs.ModeDevice != 0)

	dbuf, free, err := alignedBuffer(chunk)
	if err != nil {
		return v, err
	}
	defer free()
	ibuf := make([]byte, chunk)
	hi, hd := sha256.New(), sha256.New()
	var bad *MismatchError
	for off := int64(0); off < size; {
		if err := ctx.Err(); err != nil {
			return v, err
		}
		n := int(min(chunk, size-off))
		if err := readAt(img, ibuf[:n], off); err != nil {
			return v, fmt.Errorf("read image at offset %d: %w", off, err)
		}
		want := n
		if direct { // O_DIRECT reads whole sectors; use the first n bytes
			want = alignUp(n)
		}
		got, err := f.ReadAt(dbuf[:want], off)
		if got < n {
			if err == nil || errors.Is(err, io.EOF) {
				return v, fmt.Errorf("%s ends at offset %d, before the image's end at %d", path, off+int64(got), size)
			}
			return v, fmt.Errorf("read %s at offset %d: %w", path, off+int64(got), err)
		}
		hi.Write(ibuf[:n])
		hd.Write(dbuf[:n])
		if !bytes.Equal(ibuf[:n], dbuf[:n]) {
			bad = diff(bad, path, ibuf[:n], dbuf[:n], off)
		}
		off += int64(n)
		if progress != nil {
			progress(off)
		}
	}
	hi.Sum(v.Image[:0])
	hd.Sum(v.Device[:0])
	if bad != nil {
		return v, bad
	}
	return v, nil
}

// diff adds the bytes that differ between a and b, read at offset off, to
// the mismatch so far (nil when there was none).
func diff(e *MismatchError, path string, a, b []byte, off int64) *MismatchError {
	for i := range a {
		if a[i] == b[i] {
			continue
		}
		if e == nil {
			e = &MismatchError{Path: path, Offset: off + int64(i)}
		}
		e.Bytes++
	}
	return e
}
