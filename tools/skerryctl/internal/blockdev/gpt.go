package blockdev

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"slices"
)

// GPT is what ReadGPT learned about an image's partition table.
type GPT struct {
	// SectorSize is the logical sector size the table was laid out for
	// (512 or 4096): firmware finds the header at LBA 1 of the disk, so the
	// target's logical sector size must match.
	SectorSize int
	// DiskSize is the size of the disk the table describes, up to and
	// including the backup header in its last sector.
	DiskSize int64
	// Partitions counts the used partition entries.
	Partitions int
}

const (
	gptSignature  = "EFI PART"
	gptHeaderSize = 92 // the UEFI header's fields; the rest of the sector is reserved
	// maxEntryBytes bounds the partition entry array we read: the usual
	// array is 128 entries of 128 bytes; anything near this is corrupt.
	maxEntryBytes = 1 << 20
)

// compressed lists the magic numbers of the compressors an image is likely
// to be shipped with, so that the error can say "decompress it" rather than
// "not an image".
var compressed = []struct{ name, magic, fix string }{
	{"xz", "\xfd7zXZ\x00", "xz -dk"},
	{"gzip", "\x1f\x8b", "gunzip -k"},
	{"zstd", "\x28\xb5\x2f\xfd", "zstd -d"},
	{"bzip2", "BZh", "bunzip2 -k"},
}

// ReadGPT checks that r, size bytes long, holds a GPT disk image: a
// protective MBR in sector 0, a GPT header with a valid checksum at LBA 1,
// a partition entry array matching its checksum, and a backup header in the
// last sector of the disk the header describes. It is what `make image`
// produces; a partition image, kernel or compressed image fails here, before
// anything is written.
func ReadGPT(r io.ReaderAt, size int64) (GPT, error) {
	mbr := make([]byte, 512)
	if size < 2*512 {
		return GPT{}, fmt.Errorf("%w: only %d bytes, too short to hold an MBR and a GPT header", ErrNotImage, size)
	}
	if err := readAt(r, mbr, 0); err != nil {
		return GPT{}, fmt.Errorf("read MBR: %w", err)
	}
	for _, c := range compressed {
		if bytes.HasPrefix(mbr, []byte(c.magic)) {
			return GPT{}, fmt.Errorf("%w: it is %s-compressed; decompress it first (%s FILE)", ErrNotImage, c.name, c.fix)
		}
	}
	if mbr[510] != 0x55 || mbr[511] != 0xaa {
		return GPT{}, fmt.Errorf("%w: no MBR boot signature (55 aa) in sector 0", ErrNotImage)
	}
	if !protective(mbr) {
		return GPT{}, fmt.Errorf("%w: the MBR has no protective GPT entry (type 0xee); this is an MBR-partitioned disk or a file system image", ErrNotImage)
	}
	// The header sits at LBA 1, whose offset depends on the sector size
	// the image was built for; try the two that exist.
	for _, ss := range []int{512, 4096} {
		hdr := make([]byte, gptHeaderSize)
		if size < int64(2*ss) {
			break
		}
		if err := readAt(r, hdr, int64(ss)); err != nil {
			return GPT{}, fmt.Errorf("read GPT header: %w", err)
		}
		if string(hdr[:8]) == gptSignature {
			return readGPT(r, size, ss)
		}
	}
	return GPT{}, fmt.Errorf("%w: no GPT header (%q) at LBA 1", ErrNotImage, gptSignature)
}

// protective reports whether one of the MBR's four entries has type 0xee.
func protective(mbr []byte) bool {
	for i := range 4 {
		if mbr[446+16*i+4] == 0xee {
			return true
		}
	}
	return false
}

// header holds the GPT header fields ReadGPT checks.
type header struct {
	myLBA, altLBA, entryLBA uint64
	entries, entrySize      uint32
	entryCRC                uint32
}

// readHeader reads and checksums the header in sector lba.
func readHeader(r io.ReaderAt, lba uint64, ss int) (header, error) {
	sector := make([]byte, ss)
	if err := readAt(r, sector, int64(lba)*int64(ss)); err != nil {
		return header{}, fmt.Errorf("read GPT header at LBA %d: %w", lba, err)
	}
	le := binary.LittleEndian
	if string(sector[:8]) != gptSignature {
		return header{}, fmt.Errorf("%w: no GPT header (%q) at LBA %d", ErrNotImage, gptSignature, lba)
	}
	n := le.Uint32(sector[12:])
	if n < gptHeaderSize || n > uint32(ss) {
		return header{}, fmt.Errorf("%w: GPT header at LBA %d claims %d bytes", ErrNotImage, lba, n)
	}
	want := le.Uint32(sector[16:])
	clear(sector[16:20]) // the checksum is computed with its own field zeroed
	if got := crc32.ChecksumIEEE(sector[:n]); got != want {
		return header{}, fmt.Errorf("%w: GPT header at LBA %d is corrupt (checksum %08x, want %08x)", ErrNotImage, lba, got, want)
	}
	h := header{
		myLBA:     le.Uint64(sector[24:]),
		altLBA:    le.Uint64(sector[32:]),
		entryLBA:  le.Uint64(sector[72:]),
		entries:   le.Uint32(sector[80:]),
		entrySize: le.Uint32(sector[84:]),
		entryCRC:  le.Uint32(sector[88:]),
	}
	if h.myLBA != lba {
		return header{}, fmt.Errorf("%w: GPT header at LBA %d says it is at LBA %d", ErrNotImage, lba, h.myLBA)
	}
	return h, nil
}

func readGPT(r io.ReaderAt, size int64, ss int) (GPT, error) {
	h, err := readHeader(r, 1, ss)
	if err != nil {
		return GPT{}, err
	}
	if h.altLBA <= 1 || h.altLBA >= math.MaxInt64/uint64(ss) {
		return GPT{}, fmt.Errorf("%w: GPT header has an impossible backup LBA %d", ErrNotImage, h.altLBA)
	}
	g := GPT{SectorSize: ss, DiskSize: int64(h.altLBA+1) * int64(ss)}
	if g.DiskSize > size {
		return GPT{}, fmt.Errorf("%w: its GPT describes a %d-byte disk but the file has only %d bytes (an interrupted build or copy?); rebuild it", ErrTruncated, g.DiskSize, size)
	}
	entries, err := readEntries(r, h, ss, g.DiskSize)
	if err != nil {
		return GPT{}, err
	}
	for e := range slices.Chunk(entries, int(h.entrySize)) {
		if !allZero(e[:16]) { // an unused entry has the zero type GUID
			g.Partitions++
		}
	}
	// The backup header is what firmware falls back on; an image without
	// one was not finished.
	if _, err := readHeader(r, h.altLBA, ss); err != nil {
		return GPT{}, fmt.Errorf("backup GPT header: %w", err)
	}
	return g, nil
}

// readEntries reads the partition entry array and checks its checksum.
func readEntries(r io.ReaderAt, h header, ss int, disk int64) ([]byte, error) {
	if h.entrySize < 128 || h.entrySize%128 != 0 {
		return nil, fmt.Errorf("%w: GPT partition entries of %d bytes", ErrNotImage, h.entrySize)
	}
	n := uint64(h.entries) * uint64(h.entrySize)
	if n > maxEntryBytes || h.entryLBA < 2 || h.entryLBA >= uint64(disk)/uint64(ss) || h.entryLBA*uint64(ss)+n > uint64(disk) {
		return nil, fmt.Errorf("%w: GPT partition entry array (%d entries at LBA %d) does not fit the disk", ErrNotImage, h.entries, h.entryLBA)
	}
	b := make([]byte, n)
	if err := readAt(r, b, int64(h.entryLBA)*int64(ss)); err != nil {
		return nil, fmt.Errorf("read GPT partition entries: %w", err)
	}
	if got := crc32.ChecksumIEEE(b); got != h.entryCRC {
		return nil, fmt.Errorf("%w: GPT partition entries are corrupt (checksum %08x, want %08x)", ErrNotImage, got, h.entryCRC)
	}
	return b, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// readAt fills b from offset off. io.ReaderAt may report io.EOF along with a
// full read at the end of its data; that is success here.
func readAt(r io.ReaderAt, b []byte, off int64) error {
	n, err := r.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
