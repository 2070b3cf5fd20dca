package wire

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestFrameRoundTrip(t *testing.T) {
	tests := [][]Record{
		nil,
		{{}},
		{{Offset: 7, Time: time.Unix(0, 1234).UTC(), Key: []byte("k"), Value: []byte("v")}},
		{{Headers: []Header{{"a", []byte("1")}, {"", nil}}, Value: bytes.Repeat([]byte("x"), 1000)}, {Offset: 1 << 60}},
	}
	for i, recs := range tests {
		b := AppendFrame(nil, recs)
		b = AppendFrame(b, recs) // two frames in one stream
		r := bytes.NewReader(b)
		for k := 0; k < 2; k++ {
			got, _, err := ReadFrame(r, nil)
			if err != nil {
				t.Fatalf("case %d frame %d: %v", i, k, err)
			}
			if diff := cmp.Diff(recs, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("case %d frame %d (-want +got):\n%s", i, k, diff)
			}
		}
		if _, _, err := ReadFrame(r, nil); err != io.EOF {
			t.Errorf("case %d: after the frames got %v, want io.EOF", i, err)
		}
		all, err := DecodeFrames(b)
		if err != nil || len(all) != 2*len(recs) {
			t.Errorf("case %d DecodeFrames: %d records, %v", i, len(all), err)
		}
	}
}

func TestFrameErrors(t *testing.T) {
	good := AppendFrame(nil, []Record{{Key: []byte("key"), Value: []byte("value")}})
	tests := map[string][]byte{
		"bad magic":     append([]byte("XXXX"), good[4:]...),
		"truncated":     good[:len(good)-2],
		"short header":  good[:5],
		"huge length":   {'S', 'K', 'L', '1', 0xff, 0xff, 0xff, 0xff},
		"huge count":    append([]byte{'S', 'K', 'L', '1', 0, 0, 0, 5}, 0xff, 0xff, 0xff, 0xff, 0x0f),
		"trailing data": func() []byte { b := append([]byte(nil), good...); b[7]++; return append(b, 0) }(),
	}
	for name, b := range tests {
		if _, err := DecodeFrames(b); !errors.Is(err, ErrBadFrame) {
			t.Errorf("%s: got %v, want ErrBadFrame", name, err)
		}
	}
}

// seedCorpus adds the files of testdata/fuzz/<name> to f.
func seedCorpus(f *testing.F, name string) {
	files, _ := filepath.Glob(filepath.Join("testdata", "fuzz", name, "*"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

func FuzzDecodeFrames(f *testing.F) {
	seedCorpus(f, "frames")
	f.Add(AppendFrame(nil, []Record{{Offset: 1, Key: []byte("k"), Headers: []Header{{"h", []byte("v")}}, Value: []byte("v")}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := DecodeFrames(b)
		// The streaming reader agrees with the whole-body decoder.
		streamed, serr := ReadBatch(bytes.NewReader(b), int64(len(b)), nil)
		if (err == nil) != (serr == nil) {
			t.Fatalf("DecodeFrames: %v; ReadBatch: %v", err, serr)
		}
		if err != nil {
			return
		}
		if diff := cmp.Diff(recs, streamed, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("ReadBatch (-DecodeFrames +ReadBatch):\n%s", diff)
		}
		// What decodes re-encodes to something that decodes the same.
		again, err := DecodeFrames(AppendFrame(nil, recs))
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if diff := cmp.Diff(recs, again, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
	})
}

// TestReadBatchCharges: ReadBatch charges every payload byte before reading
// it, in chunks of at most 64 KiB, and a frame that declares more than the
// body holds costs only what arrived.
func TestReadBatchCharges(t *testing.T) {
	big := AppendFrame(nil, []Record{{Value: make([]byte, 200<<10)}})
	body := append(AppendFrame(nil, []Record{{Value: []byte("a")}}), big...)
	var charged, largest int
	charge := func(n int) error {
		charged += n
		largest = max(largest, n)
		return nil
	}
	recs, err := ReadBatch(bytes.NewReader(body), int64(len(body)), charge)
	if err != nil || len(recs) != 2 {
		t.Fatalf("ReadBatch: %d records, %v", len(recs), err)
	}
	if want := len(body) - 2*frameHeaderBytes; charged != want || largest > readChunk {
		t.Errorf("charged %d bytes in chunks up to %d; want %d in chunks up to %d", charged, largest, want, readChunk)
	}
	// A header that declares 16 MiB followed by 100 bytes: charged 64 KiB
	// at most, and a clear error.
	lying := append([]byte{'S', 'K', 'L', '1', 0, 0xff, 0xff, 0xf0}, make([]byte, 100)...)
	charged = 0
	if _, err := ReadBatch(bytes.NewReader(lying), MaxFrameBytes+1024, charge); !errors.Is(err, ErrBadFrame) || charged > readChunk {
		t.Errorf("truncated 16 MiB frame: charged %d, %v; want at most %d and ErrBadFrame", charged, err, readChunk)
	}
	if _, err := ReadBatch(bytes.NewReader(big), int64(len(big)-1), nil); !errors.Is(err, ErrBatchTooLarge) {
		t.Errorf("body over the limit: got %v, want ErrBatchTooLarge", err)
	}
	stop := errors.New("budget spent")
	if _, err := ReadBatch(bytes.NewReader(big), int64(len(big)), func(int) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("charge refused: got %v, want its error", err)
	}
}
