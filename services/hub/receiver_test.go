package hub

import (
	"log/slog"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/skerry/skerry/services/api/uplinkapi"
	"github.com/skerry/skerry/services/streamlog"
	"github.com/skerry/skerry/services/streamlog/wire"
)

func batch(from, first uint64, n int) *uplinkapi.Batch {
	b := &uplinkapi.Batch{Site: "s1", Tenant: "t", Topic: "x", From: from, Epoch: 7}
	for i := range n {
		off := first + uint64(i)
		b.Records = append(b.Records, wire.Record{Offset: off, Time: time.Unix(0, int64(off)), Value: []byte{byte(off)}})
	}
	return b
}

func withEpoch(b *uplinkapi.Batch, e uint64) *uplinkapi.Batch {
	b.Epoch = e
	return b
}

// siteOffsets reads back the site offsets the hub stored, in order.
func siteOffsets(t *testing.T, s *streamlog.Store) []uint64 {
	t.Helper()
	recs, err := s.Read("t/s1.x", 0, streamlog.ReadOptions{MaxRecords: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var out []uint64
	for _, r := range recs {
		off, at, ok := uplinkapi.SiteOrigin(wireHeaders(r.Headers))
		if !ok || at.UnixNano() != int64(off) || r.Value[0] != byte(off) {
			t.Fatalf("hub record %d: site origin %d %v %v, value %v", r.Offset, off, at, ok, r.Value)
		}
		out = append(out, off)
	}
	return out
}

func TestReceiverContiguity(t *testing.T) {
	type step struct {
		b    *uplinkapi.Batch
		want uplinkapi.Ack
	}
	for _, tc := range []struct {
		name   string
		steps  []step
		stored []uint64
	}{
		{"in order", []step{
			{batch(0, 0, 2), uplinkapi.Ack{Status: "stored", Next: 2, Stored: 2}},
			{batch(2, 2, 2), uplinkapi.Ack{Status: "stored", Next: 4, Stored: 2}},
		}, []uint64{0, 1, 2, 3}},
		{"duplicate and overlap", []step{
			{batch(0, 0, 3), uplinkapi.Ack{Status: "stored", Next: 3, Stored: 3}},
			{batch(0, 0, 3), uplinkapi.Ack{Status: "stored", Next: 3, Duplicates: 3}},
			{batch(1, 1, 4), uplinkapi.Ack{Status: "stored", Next: 5, Stored: 2, Duplicates: 2}},
		}, []uint64{0, 1, 2, 3, 4}},
		{"gap answered with the high-water mark", []step{
			{batch(0, 0, 2), uplinkapi.Ack{Status: "stored", Next: 2, Stored: 2}},
			{batch(5, 5, 2), uplinkapi.Ack{Status: "gap", Next: 2}},
			{batch(2, 2, 1), uplinkapi.Ack{Status: "stored", Next: 3, Stored: 1}},
		}, []uint64{0, 1, 2}},
		{"first batch must start at zero", []step{
			{batch(4, 4, 1), uplinkapi.Ack{Status: "gap", Next: 0}},
		}, nil},
		{"site topic reset", []step{
			{batch(0, 0, 3), uplinkapi.Ack{Status: "stored", Next: 3, Stored: 3}},
			{withEpoch(batch(0, 0, 5), 8), uplinkapi.Ack{Status: "refused", Next: 3, Code: uplinkapi.CodeEpoch}},
		}, []uint64{0, 1, 2}},
		{"site retention dropped records", []step{
			{batch(0, 0, 1), uplinkapi.Ack{Status: "stored", Next: 1, Stored: 1}},
			{batch(1, 6, 1), uplinkapi.Ack{Status: "stored", Next: 7, Stored: 1, Lost: 5}},
		}, []uint64{0, 6}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := streamlog.Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			r := NewReceiver(s, streamlog.TopicConfig{}, slog.Default())
			for i, st := range tc.steps {
				got := r.Apply(st.b)
				got.Message = "" // said for people; the code is the contract
				if diff := cmp.Diff(st.want, got); diff != "" {
					t.Errorf("step %d ack (-want +got):\n%s", i, diff)
				}
			}
			if diff := cmp.Diff(tc.stored, siteOffsets(t, s)); diff != "" {
				t.Errorf("stored site offsets (-want +got):\n%s", diff)
			}
		})
	}
}

// TestReceiverRecovers checks the high-water mark survives a restart: it
// comes from the last stored record, not from memory.
func TestReceiverRecovers(t *testing.T) {
	dir := t.TempDir()
	s, err := streamlog.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	NewReceiver(s, streamlog.TopicConfig{}, slog.Default()).Apply(batch(0, 0, 3))
	s.Close()
	if s, err = streamlog.Open(dir); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := NewReceiver(s, streamlog.TopicConfig{}, slog.Default())
	if got := r.Apply(withEpoch(batch(0, 0, 1), 9)); got.Code != uplinkapi.CodeEpoch {
		t.Errorf("another epoch after restart: got %+v, want refused %s", got, uplinkapi.CodeEpoch)
	}
	want := uplinkapi.Ack{Status: "stored", Next: 4, Stored: 1, Duplicates: 2}
	if diff := cmp.Diff(want, r.Apply(batch(1, 1, 3))); diff != "" {
		t.Errorf("after restart (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]uint64{0, 1, 2, 3}, siteOffsets(t, s)); diff != "" {
		t.Errorf("stored (-want +got):\n%s", diff)
	}
}

func TestCollector(t *testing.T) {
	s, err := streamlog.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := NewReceiver(s, streamlog.TopicConfig{}, slog.Default())
	r.Apply(batch(0, 0, 3))
	r.Apply(batch(1, 1, 3))
	r.Apply(batch(9, 9, 1))
	reg := prometheus.NewRegistry()
	reg.MustRegister(r.Collector())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		got[mf.GetName()] = mf.GetMetric()[0].GetCounter().GetValue()
	}
	want := map[string]float64{
		"skerry_hub_records_stored_total":    4,
		"skerry_hub_records_duplicate_total": 2,
		"skerry_hub_batch_gaps_total":        1,
		"skerry_hub_batches_refused_total":   0,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("metrics (-want +got):\n%s", diff)
	}
}
