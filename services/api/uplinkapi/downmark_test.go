package uplinkapi

import (
	"testing"
	"time"

	"github.com/skerry/skerry/services/streamlog/wire"
)

// TestDownMark applies batches to a mark at 5 (epoch 7): duplicates are
// dropped, a gap and another epoch answered, and what is taken carries the
// parent's offset in the site headers.
func TestDownMark(t *testing.T) {
	batch := func(from, first uint64, n int, epoch uint64) *Batch {
		b := &Batch{From: from, Epoch: epoch}
		for i := range n {
			b.Records = append(b.Records, wire.Record{Offset: first + uint64(i), Time: time.Unix(1, 0)})
		}
		return b
	}
	for _, tc := range []struct {
		name      string
		b         *Batch
		taken     int
		dups      int
		status    string
		next      uint64
		markAfter uint64
	}{
		{"contiguous", batch(5, 5, 3, 7), 3, 0, StatusStored, 8, 8},
		{"overlap", batch(3, 3, 4, 7), 2, 2, StatusStored, 7, 7},
		{"all seen", batch(2, 2, 3, 7), 0, 3, StatusStored, 5, 5},
		{"gap", batch(6, 6, 2, 7), 0, 0, StatusGap, 5, 5},
		{"other epoch", batch(5, 5, 1, 8), 0, 0, StatusRefused, 5, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := DownMark{Ready: true, Known: true, Next: 5, Epoch: 7}
			out, dups, ack := m.Take(tc.b, "system/downlink")
			if ack == nil {
				a := m.Took(tc.b, len(out), dups)
				ack = &a
			}
			if len(out) != tc.taken || dups != tc.dups || ack.Status != tc.status || ack.Next != tc.next || m.Next != tc.markAfter {
				t.Errorf("got %d taken, %d dups, %s next %d, mark %d; want %d, %d, %s next %d, mark %d",
					len(out), dups, ack.Status, ack.Next, m.Next, tc.taken, tc.dups, tc.status, tc.next, tc.markAfter)
			}
			skip := len(tc.b.Records) - len(out)
			for i, r := range out {
				want := tc.b.Records[skip+i].Offset
				if off, _, ok := SiteOrigin(r.Headers); !ok || off != want {
					t.Errorf("record %d taken: site offset header %d, %v; want %d", i, off, ok, want)
				}
			}
		})
	}
	var m DownMark
	if err := m.Load("system/downlink", 0, 3, &wire.Record{}); err == nil {
		t.Error("Load of a last record without a parent offset: want an error")
	}
	hs := SiteHeaders(9, time.Unix(1, 0), 4)
	if err := m.Load("system/downlink", 0, 3, &wire.Record{Headers: hs[:]}); err != nil || m.Next != 10 || m.Epoch != 4 || !m.Known {
		t.Errorf("Load: %+v, %v; want next 10, epoch 4", m, err)
	}
}
