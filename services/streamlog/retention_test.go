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
// rotations, writing several times the bound README.md states (2 x (sum of
// maxBytes) + 2 segments + 1 MiB), and checks that segments were dropped
// and the files never exceeded the bound. With retention or segment
// dropping turned off the disk grows with what was written and it fails.
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
	var peak, written int64
	batch := make([]Record, 400)
	for i := range batch {
		batch[i].Value = make([]byte, 200)
	}
	slowN := 0
	for i := 0; written < 4*bound; i++ {
		ack := mustAppend(t, s, "acme/churn", Batch{Records: batch})
		written += int64(len(batch)) * int64(len(encodeStored(nil, 0, &batch[0]))+storedOverhead)
		if ack.Last+1 != uint64(len(batch)*(i+1)) {
			t.Fatalf("append %d: ack %+v", i, ack)
		}
		if i%10 == 0 {
			mustAppend(t, s, "acme/slow", Batch{Records: []Record{{Value: []byte("slow")}}})
			slowN++
		}
		peak = max(peak, dirBytes(t, dir))
	}
	first, files := s.segmentRange()
	dropped := int(s.activeID()) - files
	if peak > bound {
		t.Errorf("disk peaked at %d bytes after writing %d, bound %d (limits %d)", peak, written, bound, limit)
	}
	if dropped < 10 {
		t.Errorf("%d segments dropped (oldest open %d, %d open), want at least 10 after writing %d bytes", dropped, first, files, written)
	}
	slow := readAll(t, s, "acme/slow")
	if len(slow) != slowN || slow[0].Offset != 0 {
		t.Errorf("slow topic: %d records, want all %d", len(slow), slowN)
	}
	checkDense(t, slow)
	churn := readAll(t, s, "acme/churn")
	checkDense(t, churn)
	info, _ := s.Topic("acme/churn")
	if info.Bytes > 1<<20 || len(churn) == 0 || churn[0].Offset != info.Start {
		t.Errorf("churn topic: %d bytes retained from %d, read %d records", info.Bytes, info.Start, len(churn))
	}
	t.Logf("wrote %d bytes; peak %d bytes (bound %d); %d segments dropped, %d open at the end, final %d bytes",
		written, peak, bound, dropped, files, dirBytes(t, dir))
	// Reopen: compaction's copies and dropped files recover consistently.
	s.Close()
	s = openTest(t, dir, WithSegmentBytes(seg))
	if got := readAll(t, s, "acme/slow"); len(got) != slowN {
		t.Errorf("slow topic after reopen: %d records, want %d", len(got), slowN)
	}
}
