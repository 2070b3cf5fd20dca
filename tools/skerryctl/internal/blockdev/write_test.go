package blockdev_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/skerry/skerry/tools/skerryctl/internal/blockdev"
	"github.com/skerry/skerry/tools/skerryctl/internal/blockdev/blockdevtest"
)

// imageSize is over one 4 MiB chunk and not a multiple of 4096, so that
// writes cross a chunk boundary and end in an unaligned tail.
const imageSize = 5*mib + 512

// flash writes the image at img onto the file target and fails the test
// on error.
func flash(t *testing.T, img, target string) blockdev.Written {
	t.Helper()
	src, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dev, err := blockdev.OpenDevice(target, true)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	w, err := dev.WriteImage(context.Background(), src, imageSize, nil)
	if err != nil {
		t.Fatalf("WriteImage: %v", err)
	}
	return w
}

func verify(t *testing.T, img, target string) (blockdev.Verified, error) {
	t.Helper()
	src, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	return blockdev.Verify(context.Background(), target, src, imageSize, nil)
}

func TestWriteVerify(t *testing.T) {
	img := blockdevtest.Image(t, imageSize, 512)
	target := blockdevtest.File(t, 8*mib, 0xaa)
	w := flash(t, img, target)

	want, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(target)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got[:imageSize], want) {
		t.Errorf("target does not start with the image")
	}
	if rest := got[imageSize:]; !bytes.Equal(rest, bytes.Repeat([]byte{0xaa}, 8*mib-imageSize)) {
		t.Errorf("the %d bytes past the image changed", len(rest))
	}
	sum := sha256.Sum256(want)
	if w.Bytes != imageSize || w.SHA256 != sum {
		t.Errorf("WriteImage: got %d bytes sha256 %x, want %d bytes sha256 %x", w.Bytes, w.SHA256, imageSize, sum)
	}

	v, err := verify(t, img, target)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if v.Image != sum || v.Device != sum {
		t.Errorf("Verify: got image %x device %x, want both %x", v.Image, v.Device, sum)
	}
}

// TestVerifyDetectsCorruption changes the target between writing and
// verifying, as a failing or fake device would, and expects Verify to name
// the first byte that differs and count them all.
func TestVerifyDetectsCorruption(t *testing.T) {
	img := blockdevtest.Image(t, imageSize, 512)
	tests := []struct {
		name    string
		corrupt []int64 // offsets to flip
		want    blockdev.MismatchError
	}{
		{"first byte", []int64{0}, blockdev.MismatchError{Offset: 0, Bytes: 1}},
		{"inside a sector", []int64{3*4096 + 7}, blockdev.MismatchError{Offset: 3*4096 + 7, Bytes: 1}},
		{"across the chunk boundary", []int64{4*mib - 1, 4 * mib}, blockdev.MismatchError{Offset: 4*mib - 1, Bytes: 2}},
		{"in the unaligned tail", []int64{imageSize - 1}, blockdev.MismatchError{Offset: imageSize - 1, Bytes: 1}},
		{"two places", []int64{5 * mib, 100}, blockdev.MismatchError{Offset: 100, Bytes: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := blockdevtest.File(t, 6*mib, 0)
			flash(t, img, target)
			f, err := os.OpenFile(target, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, off := range tt.corrupt {
				b := make([]byte, 1)
				f.ReadAt(b, off)
				b[0] ^= 0x40
				if _, err := f.WriteAt(b, off); err != nil {
					t.Fatal(err)
				}
			}
			f.Close()

			v, err := verify(t, img, target)
			var got *blockdev.MismatchError
			if !errors.As(err, &got) || !errors.Is(err, blockdev.ErrMismatch) {
				t.Fatalf("Verify: got error %v, want a *MismatchError", err)
			}
			tt.want.Path = target
			if diff := cmp.Diff(&tt.want, got); diff != "" {
				t.Errorf("Verify mismatch (-want +got):\n%s", diff)
			}
			if v.Image == v.Device {
				t.Errorf("Verify: digests are equal (%x) despite the mismatch", v.Image)
			}
		})
	}
}

func TestVerifyShortTarget(t *testing.T) {
	img := blockdevtest.Image(t, imageSize, 512)
	target := blockdevtest.File(t, 5*mib, 0)
	if _, err := verify(t, img, target); err == nil || errors.Is(err, blockdev.ErrMismatch) {
		t.Errorf("Verify onto a %d-byte target: got error %v, want one saying where it ends", 5*mib, err)
	}
}

// TestWriteCancelled cancels after the first chunk: WriteImage must stop
// there and say how much it wrote.
func TestWriteCancelled(t *testing.T) {
	img := blockdevtest.Image(t, imageSize, 512)
	src, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dev, err := blockdev.OpenDevice(blockdevtest.File(t, 6*mib, 0), true)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := dev.WriteImage(ctx, src, imageSize, func(int64) { cancel() })
	if !errors.Is(err, context.Canceled) || w.Bytes != 4*mib {
		t.Errorf("WriteImage: got %d bytes, error %v; want %d bytes, %v", w.Bytes, err, 4*mib, context.Canceled)
	}
}
