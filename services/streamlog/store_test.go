package streamlog

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var ignoreTime = cmpopts.IgnoreFields(Record{}, "Time")

func TestAppendRead(t *testing.T) {
	for _, volatile := range []bool{false, true} {
		s := openTest(t, t.TempDir())
		mustCreate(t, s, "acme/events", TopicConfig{Volatile: volatile})
		in := []Record{
			{Key: []byte("k"), Value: []byte("v")},
			{Value: []byte("no key")},
			{Key: []byte("h"), Headers: []Header{{Key: "a", Value: []byte("1")}, {Key: "b"}}, Value: []byte{}},
		}
		ack := mustAppend(t, s, "acme/events", Batch{Records: in})
		if diff := cmp.Diff(Ack{First: 0, Last: 2}, ack); diff != "" {
			t.Errorf("volatile=%v ack (-want +got):\n%s", volatile, diff)
		}
		mustAppend(t, s, "acme/events", Batch{Records: in[:1]})
		want := []Record{
			{Offset: 0, Key: []byte("k"), Value: []byte("v")},
			{Offset: 1, Key: []byte{}, Value: []byte("no key")},
			{Offset: 2, Key: []byte("h"), Headers: []Header{{Key: "a", Value: []byte("1")}, {Key: "b", Value: []byte{}}}, Value: []byte{}},
			{Offset: 3, Key: []byte("k"), Value: []byte("v")},
		}
		got := readAll(t, s, "acme/events")
		if diff := cmp.Diff(want, got, ignoreTime, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("volatile=%v records (-want +got):\n%s", volatile, diff)
		}
		for i := 1; i < len(got); i++ {
			if got[i].Time.Before(got[i-1].Time) {
				t.Errorf("volatile=%v: time of offset %d before its predecessor", volatile, i)
			}
		}
	}
}

func TestBadInput(t *testing.T) {
	s := openTest(t, t.TempDir())
	mustCreate(t, s, "acme/small", TopicConfig{MaxRecordBytes: 10})
	tests := []struct {
		name  string
		topic string
		b     Batch
		want  error
	}{
		{"no slash", "acme", Batch{Records: values("x", 1)}, ErrInvalidName},
		{"upper case", "Acme/x", Batch{Records: values("x", 1)}, ErrInvalidName},
		{"dot in tenant", "ac.me/x", Batch{Records: values("x", 1)}, ErrInvalidName},
		{"unknown", "acme/nope", Batch{Records: values("x", 1)}, ErrTopicNotFound},
		{"empty", "acme/small", Batch{}, ErrBadBatch},
		{"too large", "acme/small", Batch{Records: []Record{{Value: make([]byte, 11)}}}, ErrRecordTooLarge},
		{"long producer", "acme/small", Batch{Producer: string(make([]byte, 65)), Records: values("x", 1)}, ErrBadBatch},
	}
	for _, tt := range tests {
		_, err := s.Append(context.Background(), tt.topic, tt.b)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, err, tt.want)
		}
	}
	for _, cfg := range []TopicConfig{
		{MaxBytes: -1},
		{OnFull: "explode"},
		{MaxRecordBytes: HardMaxRecordBytes + 1},
		{Volatile: true, MaxBytes: HardMaxVolatileBytes + 1},
	} {
		if _, err := s.CreateTopic("acme/bad", cfg); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("CreateTopic(%+v): got %v, want ErrInvalidConfig", cfg, err)
		}
	}
	if _, err := s.CreateTopic("acme/small", TopicConfig{MaxRecordBytes: 11}); !errors.Is(err, ErrTopicExists) {
		t.Errorf("CreateTopic with another config: got %v, want ErrTopicExists", err)
	}
	if _, err := s.CreateTopic("acme/small", TopicConfig{MaxRecordBytes: 10}); err != nil {
		t.Errorf("CreateTopic with the same config: %v", err)
	}
	if _, err := s.Read("acme/small", 5, ReadOptions{}); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Errorf("Read beyond end: got %v, want ErrOffsetOutOfRange", err)
	}
}

func TestReopen(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, WithSegmentBytes(64<<10))
	mustCreate(t, s, "acme/a", TopicConfig{})
	mustCreate(t, s, "acme/v", TopicConfig{Volatile: true})
	for i := 0; i < 50; i++ {
		mustAppend(t, s, "acme/a", Batch{Producer: "p", Seq: uint64(i * 20), Records: values("a", 20)})
	}
	mustAppend(t, s, "acme/v", Batch{Records: values("v", 3)})
	if err := s.CommitCursor("acme/a", "reader", 7); err != nil {
		t.Fatal(err)
	}
	if s.segmentCount() < 2 {
		t.Fatalf("want several segments, got %d", s.segmentCount())
	}
	s.Close()

	s = openTest(t, dir, WithSegmentBytes(64<<10))
	got := readAll(t, s, "acme/a")
	if len(got) != 1000 || got[0].Offset != 0 {
		t.Fatalf("after reopen: %d records from %d, want 1000 from 0", len(got), got[0].Offset)
	}
	checkDense(t, got)
	// The producer state survived: a retry of the last batch is a duplicate.
	ack := mustAppend(t, s, "acme/a", Batch{Producer: "p", Seq: 980, Records: values("a", 20)})
	if diff := cmp.Diff(Ack{First: 980, Last: 999, Duplicate: true}, ack); diff != "" {
		t.Errorf("retry after reopen (-want +got):\n%s", diff)
	}
	ack = mustAppend(t, s, "acme/a", Batch{Records: values("a", 1)})
	if ack.First != 1000 {
		t.Errorf("next offset after reopen: got %d, want 1000", ack.First)
	}
	if c, err := s.GetCursor("acme/a", "reader"); err != nil || c.Offset != 7 {
		t.Errorf("cursor after reopen: got %+v, %v; want offset 7", c, err)
	}
	if got := readAll(t, s, "acme/v"); len(got) != 0 {
		t.Errorf("volatile topic after reopen: got %d records, want 0", len(got))
	}
	// Restarts without writes, then with: nothing lost, no files pile up.
	for i := 0; i < 5; i++ {
		s.Close()
		s = openTest(t, dir, WithSegmentBytes(64<<10))
	}
	mustAppend(t, s, "acme/a", Batch{Producer: "p", Seq: 1000, Records: values("a", 20)})
	s.Close()
	s = openTest(t, dir, WithSegmentBytes(64<<10))
	got = readAll(t, s, "acme/a")
	if len(got) != 1021 {
		t.Errorf("after restarts: %d records, want 1021", len(got))
	}
	checkDense(t, got)
	if ack := mustAppend(t, s, "acme/a", Batch{Producer: "p", Seq: 1000, Records: values("a", 20)}); !ack.Duplicate {
		t.Errorf("producer state lost over restarts: %+v", ack)
	}
}

func TestIdempotentProducer(t *testing.T) {
	s := openTest(t, t.TempDir())
	for _, name := range []string{"acme/p", "acme/vol"} {
		mustCreate(t, s, name, TopicConfig{Volatile: name == "acme/vol"})
		steps := []struct {
			seq     uint64
			n       int
			want    Ack
			wantErr error
		}{
			{seq: 10, n: 2, want: Ack{First: 0, Last: 1}},                  // new producer: any start
			{seq: 12, n: 3, want: Ack{First: 2, Last: 4}},                  // in order
			{seq: 12, n: 3, want: Ack{First: 2, Last: 4, Duplicate: true}}, // retry of the last
			{seq: 10, n: 2, want: Ack{First: 0, Last: 1, Duplicate: true}}, // retry of an older one
			{seq: 20, n: 1, wantErr: ErrSequenceGap},
			{seq: 11, n: 1, wantErr: ErrStaleSequence},
			{seq: 15, n: 1, want: Ack{First: 5, Last: 5}},
		}
		for i, st := range steps {
			ack, err := s.Append(context.Background(), name, Batch{Producer: "prod-1", Seq: st.seq, Records: values("x", st.n)})
			if !errors.Is(err, st.wantErr) {
				t.Errorf("%s step %d: got error %v, want %v", name, i, err, st.wantErr)
			}
			if diff := cmp.Diff(st.want, ack); err == nil && diff != "" {
				t.Errorf("%s step %d ack (-want +got):\n%s", name, i, diff)
			}
		}
		if got := readAll(t, s, name); len(got) != 6 {
			t.Errorf("%s: %d records stored, want 6", name, len(got))
		}
	}
}

func TestGroupCommit(t *testing.T) {
	var commits int
	var mu sync.Mutex
	s := openTest(t, t.TempDir(), withBeforeCommit(func() error { mu.Lock(); commits++; mu.Unlock(); return nil }))
	mustCreate(t, s, "acme/g", TopicConfig{})
	mustCreate(t, s, "acme/h", TopicConfig{})
	const producers, batches = 8, 25
	var wg sync.WaitGroup
	acks := make(chan Ack, producers*batches)
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			topic := []string{"acme/g", "acme/h"}[p%2]
			for i := 0; i < batches; i++ {
				ack, err := s.Append(context.Background(), topic, Batch{Records: values("g", 4)})
				if err != nil {
					t.Error(err)
					return
				}
				acks <- ack
			}
		}()
	}
	wg.Wait()
	close(acks)
	seen := map[uint64]int{}
	for a := range acks {
		for o := a.First; o <= a.Last; o++ {
			seen[o]++
		}
	}
	for _, topic := range []string{"acme/g", "acme/h"} {
		got := readAll(t, s, topic)
		if len(got) != producers/2*batches*4 {
			t.Errorf("%s: %d records, want %d", topic, len(got), producers/2*batches*4)
		}
		checkDense(t, got)
	}
	if commits >= producers*batches {
		t.Errorf("%d commits for %d appends: no grouping", commits, producers*batches)
	}
	t.Logf("%d appends in %d commits", producers*batches, commits)
}

func TestCommitFailure(t *testing.T) {
	fail := false
	var mu sync.Mutex
	s := openTest(t, t.TempDir(), withBeforeCommit(func() error {
		mu.Lock()
		defer mu.Unlock()
		if fail {
			return errors.New("injected: no space left on device")
		}
		return nil
	}))
	mustCreate(t, s, "acme/f", TopicConfig{})
	mustAppend(t, s, "acme/f", Batch{Producer: "p", Seq: 0, Records: values("a", 3)})
	mu.Lock()
	fail = true
	mu.Unlock()
	_, err := s.Append(context.Background(), "acme/f", Batch{Producer: "p", Seq: 3, Records: values("b", 3)})
	if !errors.Is(err, ErrDiskFull) {
		t.Fatalf("append during failure: got %v, want ErrDiskFull", err)
	}
	if got := readAll(t, s, "acme/f"); len(got) != 3 {
		t.Errorf("reads during failure: got %d records, want 3", len(got))
	}
	mu.Lock()
	fail = false
	mu.Unlock()
	// The retry with the same sequence is stored once, right after.
	ack := mustAppend(t, s, "acme/f", Batch{Producer: "p", Seq: 3, Records: values("b", 3)})
	if diff := cmp.Diff(Ack{First: 3, Last: 5}, ack); diff != "" {
		t.Errorf("retry after failure (-want +got):\n%s", diff)
	}
	got := readAll(t, s, "acme/f")
	checkDense(t, got)
	if len(got) != 6 {
		t.Errorf("after recovery: %d records, want 6", len(got))
	}
}

func TestTailWait(t *testing.T) {
	for _, volatile := range []bool{false, true} {
		s := openTest(t, t.TempDir())
		mustCreate(t, s, "acme/t", TopicConfig{Volatile: volatile})
		got := make(chan error, 1)
		go func() { got <- s.Wait(context.Background(), "acme/t", 0) }()
		select {
		case err := <-got:
			t.Fatalf("Wait returned before any append: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
		mustAppend(t, s, "acme/t", Batch{Records: values("t", 1)})
		select {
		case err := <-got:
			if err != nil {
				t.Errorf("Wait: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("volatile=%v: Wait did not wake on append", volatile)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		if err := s.Wait(ctx, "acme/t", 1); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Wait with nothing new: got %v, want deadline", err)
		}
		cancel()
	}
}

func TestCursors(t *testing.T) {
	s := openTest(t, t.TempDir())
	mustCreate(t, s, "acme/c", TopicConfig{})
	mustAppend(t, s, "acme/c", Batch{Records: values("c", 10)})
	if _, err := s.GetCursor("acme/c", "x"); !errors.Is(err, ErrCursorNotFound) {
		t.Errorf("GetCursor before commit: got %v, want ErrCursorNotFound", err)
	}
	if err := s.CommitCursor("acme/c", "x", 11); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Errorf("CommitCursor beyond end: got %v, want ErrOffsetOutOfRange", err)
	}
	if err := s.CommitCursor("acme/c", "Bad Name", 1); !errors.Is(err, ErrInvalidName) {
		t.Errorf("CommitCursor bad name: got %v, want ErrInvalidName", err)
	}
	for _, c := range []struct {
		name string
		off  uint64
	}{{"x", 4}, {"y", 10}, {"x", 6}} {
		if err := s.CommitCursor("acme/c", c.name, c.off); err != nil {
			t.Fatal(err)
		}
	}
	st, err := s.Stats("acme")
	if err != nil {
		t.Fatal(err)
	}
	want := []CursorLag{{"x", 6, 4}, {"y", 10, 0}}
	if diff := cmp.Diff(want, st.Topics[0].Cursors); diff != "" {
		t.Errorf("cursor lag (-want +got):\n%s", diff)
	}
	if err := s.DeleteTopic("acme/c"); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, "acme/c", TopicConfig{})
	if cs, _ := s.Cursors("acme/c"); len(cs) != 0 {
		t.Errorf("cursors survived topic deletion: %v", cs)
	}
}

func TestOffsetAt(t *testing.T) {
	for _, volatile := range []bool{false, true} {
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		var mu sync.Mutex
		clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		s := openTest(t, t.TempDir(), WithClock(clock))
		mustCreate(t, s, "acme/time", TopicConfig{Volatile: volatile})
		for i := 0; i < 10; i++ {
			mustAppend(t, s, "acme/time", Batch{Records: values("t", 3)})
			mu.Lock()
			now = now.Add(time.Minute)
			mu.Unlock()
		}
		base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		for _, tt := range []struct {
			at   time.Time
			want uint64
		}{
			{base.Add(-time.Hour), 0},
			{base, 0},
			{base.Add(time.Second), 3},
			{base.Add(5 * time.Minute), 15},
			{base.Add(time.Hour), 30},
		} {
			got, err := s.OffsetAt("acme/time", tt.at)
			if err != nil || got != tt.want {
				t.Errorf("volatile=%v OffsetAt(%v): got %d, %v; want %d", volatile, tt.at, got, err, tt.want)
			}
		}
	}
}
