package streamlog

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

func quietLog() Option { return WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))) }

func openTest(t *testing.T, dir string, opts ...Option) *Store {
	t.Helper()
	s, err := Open(dir, append([]Option{quietLog()}, opts...)...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustCreate(t *testing.T, s *Store, name string, cfg TopicConfig) {
	t.Helper()
	if _, err := s.CreateTopic(name, cfg); err != nil {
		t.Fatalf("CreateTopic(%s): %v", name, err)
	}
}

func values(prefix string, n int) []Record {
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = Record{Key: []byte(fmt.Sprint(i)), Value: []byte(fmt.Sprintf("%s-%d", prefix, i))}
	}
	return recs
}

func mustAppend(t *testing.T, s *Store, name string, b Batch) Ack {
	t.Helper()
	ack, err := s.Append(context.Background(), name, b)
	if err != nil {
		t.Fatalf("Append(%s): %v", name, err)
	}
	return ack
}

// readAll reads a topic from its start to its end.
func readAll(t *testing.T, s *Store, name string) []Record {
	t.Helper()
	var out []Record
	var from uint64
	for {
		recs, err := s.Read(name, from, ReadOptions{})
		if err != nil {
			t.Fatalf("Read(%s, %d): %v", name, from, err)
		}
		if len(recs) == 0 {
			return out
		}
		out = append(out, recs...)
		from = recs[len(recs)-1].Offset + 1
	}
}

// checkDense fails unless recs have consecutive offsets.
func checkDense(t *testing.T, recs []Record) {
	t.Helper()
	for i := 1; i < len(recs); i++ {
		if recs[i].Offset != recs[i-1].Offset+1 {
			t.Fatalf("offsets not dense: %d after %d", recs[i].Offset, recs[i-1].Offset)
		}
	}
}

// dirBytes sums the sizes of the files under dir.
func dirBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return nil
	})
	return n
}
