package blockdev_test

import (
	"bytes"
	"errors"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/skerry/skerry/tools/skerryctl/internal/blockdev"
	"github.com/skerry/skerry/tools/skerryctl/internal/blockdev/blockdevtest"
)

const mib = 1 << 20

func readImage(t testing.TB, size int64, sectorSize int) []byte {
	t.Helper()
	b, err := os.ReadFile(blockdevtest.Image(t, size, sectorSize))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReadGPT(t *testing.T) {
	img512, img4k := readImage(t, 4*mib, 512), readImage(t, 8*mib, 4096)
	tests := []struct {
		name    string
		image   []byte
		edit    func([]byte) []byte
		want    blockdev.GPT
		wantErr error
	}{
		{name: "512-byte sectors", image: img512,
			want: blockdev.GPT{SectorSize: 512, DiskSize: 4 * mib, Partitions: 2}},
		{name: "4096-byte sectors", image: img4k,
			want: blockdev.GPT{SectorSize: 4096, DiskSize: 8 * mib, Partitions: 2}},
		{name: "trailing bytes after the disk", image: img512,
			edit: func(b []byte) []byte { return append(b, make([]byte, 4096)...) },
			want: blockdev.GPT{SectorSize: 512, DiskSize: 4 * mib, Partitions: 2}},
		{name: "empty", image: img512, wantErr: blockdev.ErrNotImage,
			edit: func([]byte) []byte { return nil }},
		{name: "xz-compressed", image: img512, wantErr: blockdev.ErrNotImage,
			edit: func(b []byte) []byte { return append([]byte("\xfd7zXZ\x00"), b...) }},
		{name: "no boot signature", image: img512, wantErr: blockdev.ErrNotImage,
			edit: func(b []byte) []byte { b[510] = 0; return b }},
		{name: "MBR-partitioned", image: img512, wantErr: blockdev.ErrNotImage,
			edit: func(b []byte) []byte { b[446+4] = 0x83; return b }},
		{name: "no GPT header", image: img512, wantErr: blockdev.ErrNotImage,
			edit: func(b []byte) []byte { clear(b[512:520]); return b }},
		{name: "corrupt header", image: img512, wantErr: blockdev.ErrNotImage,
			edit: func(b []byte) []byte { b[512+40]++; return b }},
		{name: "corrupt partition entries", image: img512, wantErr: blockdev.ErrNotImage,
			edit: func(b []byte) []byte { b[2*512+56]++; return b }},
		{name: "no backup header", image: img512, wantErr: blockdev.ErrNotImage,
			edit: func(b []byte) []byte { clear(b[len(b)-512:]); return b }},
		{name: "truncated", image: img512, wantErr: blockdev.ErrTruncated,
			edit: func(b []byte) []byte { return b[:len(b)-512] }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := bytes.Clone(tt.image)
			if tt.edit != nil {
				b = tt.edit(b)
			}
			got, err := blockdev.ReadGPT(bytes.NewReader(b), int64(len(b)))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("ReadGPT: got error %v, want %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ReadGPT (-want +got):\n%s", diff)
			}
		})
	}
}

// FuzzReadGPT feeds ReadGPT damaged images: it must return an error or a
// table that fits the bytes it was given, and never panic.
func FuzzReadGPT(f *testing.F) {
	img := readImage(f, 4*mib, 512)
	// The seeds are the image's tables without the partitions: the MBR,
	// header and entries, alone and followed by the backup entries and
	// header (which the primary header places 4 MiB on: a truncated image).
	f.Add(img[:34*512])
	f.Add(append(bytes.Clone(img[:34*512]), img[len(img)-33*512:]...))
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := blockdev.ReadGPT(bytes.NewReader(b), int64(len(b)))
		if err == nil && g.DiskSize > int64(len(b)) {
			t.Errorf("ReadGPT accepted a %d-byte image whose GPT describes %d bytes", len(b), g.DiskSize)
		}
	})
}
