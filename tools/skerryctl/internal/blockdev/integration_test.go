package blockdev_test

import (
	"errors"
	"io"
	"os"
	"testing"

	"github.com/skerry/skerry/tools/skerryctl/internal/blockdev"
	"github.com/skerry/skerry/tools/skerryctl/internal/blockdev/blockdevtest"
)

// TestIntegrationVerifyReadsDevice changes a loop device's backing file
// behind the device's page cache, which still holds the good bytes, and
// expects Verify to see the change: it must read what the device stores,
// not what the kernel remembers.
func TestIntegrationVerifyReadsDevice(t *testing.T) {
	blockdevtest.Integration(t)
	img := blockdevtest.Image(t, imageSize, 512)
	backing := blockdevtest.File(t, 8*mib, 0)
	dev := blockdevtest.Loop(t, backing)
	flash(t, img, dev)

	// Fill the device's page cache with the good bytes, and keep it open
	// as udev or a desktop's automounter would: the kernel drops a block
	// device's cache when its last user closes it.
	holder, err := os.Open(dev)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	if _, err := io.Copy(io.Discard, holder); err != nil {
		t.Fatal(err)
	}
	const off = 3*mib + 5
	f, err := os.OpenFile(backing, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	f.ReadAt(b, off)
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
	f.Sync()
	f.Close()
	cached := make([]byte, 1)
	if _, err := holder.ReadAt(cached, off); err == nil && cached[0] != b[0] {
		t.Logf("as intended, a buffered read of %s still returns the old byte at %d", dev, off)
	}

	_, err = verify(t, img, dev)
	var m *blockdev.MismatchError
	if !errors.As(err, &m) || m.Offset != off || m.Bytes != 1 {
		t.Errorf("Verify: got error %v, want a mismatch of 1 byte at offset %d", err, off)
	}
}

// TestIntegrationExclusive checks that OpenDevice's exclusive open is
// refused by the kernel while a file system is mounted on the device.
func TestIntegrationExclusive(t *testing.T) {
	blockdevtest.Integration(t)
	dev := blockdevtest.Loop(t, blockdevtest.File(t, 32*mib, 0))
	blockdevtest.Run(t, "mkfs.ext4", "-q", dev)
	blockdevtest.Mount(t, dev)
	if d, err := blockdev.OpenDevice(dev, true); !errors.Is(err, blockdev.ErrInUse) {
		if d != nil {
			d.Close()
		}
		t.Fatalf("OpenDevice(%s, exclusive) while mounted: got error %v, want %v", dev, err, blockdev.ErrInUse)
	}
	d, err := blockdev.OpenDevice(dev, false)
	if err != nil {
		t.Fatalf("OpenDevice(%s) while mounted: %v", dev, err)
	}
	d.Close()
}
