package streamlog

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestRetention(t *testing.T) {
	rec := Record{Value: make([]byte, 100)} // 100 + 8 time + 3 varints + overhead
	size := int64(len(encodeStored(nil, 0, &rec)) + storedOverhead)
	tests := []struct {
		name      string
		cfg       TopicConfig
		appends   int
		age       time.Duration // clock advance before the last append
		wantStart uint64
		wantErr   error // of the last append
	}{
		{name: "count", cfg: TopicConfig{MaxRecords: 10}, appends: 25, wantStart: 15},
		{name: "bytes", cfg: TopicConfig{MaxBytes: 10 * size}, appends: 25, wantStart: 15},
		{name: "age", cfg: TopicConfig{MaxAge: time.Minute}, appends: 25, age: 2 * time.Minute, wantStart: 24},
		{name: "reject count", cfg: TopicConfig{MaxRecords: 10, OnFull: RejectNew}, appends: 11, wantStart: 0, wantErr: ErrTopicFull},
		{name: "reject bytes", cfg: TopicConfig{MaxBytes: 10 * size, OnFull: RejectNew}, appends: 11, wantStart: 0, wantErr: ErrTopicFull},
		{name: "reject but expired", cfg: TopicConfig{MaxRecords: 10, MaxAge: time.Minute, OnFull: RejectNew}, appends: 11, age: 2 * time.Minute, wantStart: 10},
	}
	for _, volatile := range []bool{false, true} {
		for _, tt := range tests {
			now := time.Unix(1_800_000_000, 0)
			var mu sync.Mutex
			clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
			s := openTest(t, t.TempDir(), WithClock(clock), WithTick(time.Hour))
			cfg := tt.cfg
			cfg.Volatile = volatile
			mustCreate(t, s, "acme/r", cfg)
			var err error
			for i := 0; i < tt.appends; i++ {
				if i == tt.appends-1 {
					mu.Lock()
					now = now.Add(tt.age)
					mu.Unlock()
				}
				_, err = s.Append(context.Background(), "acme/r", Batch{Records: []Record{rec}})
				if err != nil && i < tt.appends-1 {
					t.Fatalf("%s: append %d: %v", tt.name, i, err)
				}
			}
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("%s volatile=%v: last append: got %v, want %v", tt.name, volatile, err, tt.wantErr)
			}
			info, _ := s.Topic("acme/r")
			if info.Start != tt.wantStart {
				t.Errorf("%s volatile=%v: start: got %d, want %d", tt.name, volatile, info.Start, tt.wantStart)
			}
			recs := readAll(t, s, "acme/r")
			if len(recs) == 0 || recs[0].Offset != tt.wantStart || uint64(len(recs)) != info.Next-info.Start {
				t.Errorf("%s volatile=%v: read %d records from %v, want %d from %d", tt.name, volatile, len(recs), recs[0].Offset, info.Next-info.Start, tt.wantStart)
			}
		}
	}
}

// TestDiskBound churns topics at their byte limits through many segment
// rotations and checks that the files stay within the bound README.md
// states: 2 x (sum of max_bytes) + 2 segments + 1 MiB.
func TestDiskBound(t *testing.T) {
	const seg = 256 << 10
	dir := t.TempDir()
	s := openTest(t, dir, WithSegmentBytes(seg))
	// A churning topic, and a slow one with long retention whose few
	// records would pin every segment without compaction.
	mustCreate(t, s, "acme/churn", TopicConfig{MaxBytes: 1 << 20})
	mustCreate(t, s, "acme/slow", TopicConfig{MaxBytes: 1 << 20})
	limit := int64(2 << 20)
	bound := 2*limit + 2*seg + 1<<20
	var peak int64
	val := make([]byte, 200)
	for i := 0; i < 400; i++ {
		mustAppend(t, s, "acme/churn", Batch{Records: []Record{{Value: val}, {Value: val}, {Value: val}, {Value: val}, {Value: val}, {Value: val}, {Value: val}, {Value: val}, {Value: val}, {Value: val}, {Value: val}, {Value: val}, {Value: val}, {Value: val}, {Value: val}, {Value: val}, {Value: val}, {Value: val}, {Value: val}, {Value: val}}})
		if i%10 == 0 {
			mustAppend(t, s, "acme/slow", Batch{Records: []Record{{Value: []byte("slow")}}})
		}
		peak = max(peak, dirBytes(t, dir))
	}
	// Let compaction finish: it runs in chunks between appends.
	for i := 0; i < 50; i++ {
		time.Sleep(5 * time.Millisecond)
	}
	if peak > bound {
		t.Errorf("disk peaked at %d bytes, bound %d (limits %d)", peak, bound, limit)
	}
	slow := readAll(t, s, "acme/slow")
	if len(slow) != 40 || slow[0].Offset != 0 {
		t.Errorf("slow topic: %d records, want all 40", len(slow))
	}
	checkDense(t, slow)
	churn := readAll(t, s, "acme/churn")
	checkDense(t, churn)
	info, _ := s.Topic("acme/churn")
	if info.Bytes > 1<<20 || len(churn) == 0 || churn[0].Offset != info.Start {
		t.Errorf("churn topic: %d bytes retained from %d, read %d records", info.Bytes, info.Start, len(churn))
	}
	t.Logf("peak %d bytes (bound %d), %d segments at the end, final %d bytes", peak, bound, s.segmentCount(), dirBytes(t, dir))
	// Reopen: compaction's copies and dropped files recover consistently.
	s.Close()
	s = openTest(t, dir, WithSegmentBytes(seg))
	if got := readAll(t, s, "acme/slow"); len(got) != 40 {
		t.Errorf("slow topic after reopen: %d records, want 40", len(got))
	}
}
