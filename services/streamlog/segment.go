package streamlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Buckets of a segment file. Records of all persistent topics written while
// the segment was active share it, so one group commit is one transaction.
var (
	bktRecords   = []byte("r") // topic id -> { offset -> stored record }
	bktSummary   = []byte("s") // topic id -> segSummary of this file
	bktState     = []byte("t") // topic id -> topicState (newest file wins)
	bktProducers = []byte("p") // topic id | producer -> producerState
	bktInfo      = []byte("i") // "init" once the first transaction committed
	keyInit      = []byte("init")
)

// segment is one bbolt file of the log. Only the newest (active) one is
// written; older ones are sealed and dropped whole once retention has
// trimmed, or compaction copied forward, every record in them.
type segment struct {
	id   uint64
	path string
	db   *bolt.DB
	// sum maps topic id to what this file holds of it. The writer replaces
	// entries under Store.mu; readers look under Store.mu.RLock.
	sum map[uint64]segSummary
	// size is the file size after the last commit (writer only).
	size int64
	// compacted is set once every live record was copied forward; the
	// file is then dropped whole (writer only, read under Store.mu).
	compacted bool
}

// segSummary describes one topic's records in one segment. Min..Max may
// have holes where compaction copied records in from an older file.
type segSummary struct {
	Min, Max uint64
	Bytes    int64
	Count    int64
}

func (s segSummary) encode() []byte {
	b := make([]byte, 32)
	binary.BigEndian.PutUint64(b, s.Min)
	binary.BigEndian.PutUint64(b[8:], s.Max)
	binary.BigEndian.PutUint64(b[16:], uint64(s.Bytes))
	binary.BigEndian.PutUint64(b[24:], uint64(s.Count))
	return b
}

func decodeSummary(b []byte) (segSummary, bool) {
	if len(b) != 32 {
		return segSummary{}, false
	}
	return segSummary{
		Min:   binary.BigEndian.Uint64(b),
		Max:   binary.BigEndian.Uint64(b[8:]),
		Bytes: int64(binary.BigEndian.Uint64(b[16:])),
		Count: int64(binary.BigEndian.Uint64(b[24:])),
	}, true
}

// add merges records [lo, hi] of bytes into the summary.
func (s segSummary) add(lo, hi uint64, bytes, count int64) segSummary {
	if s.Count == 0 || lo < s.Min {
		s.Min = lo
	}
	if s.Count == 0 || hi > s.Max {
		s.Max = hi
	}
	s.Bytes += bytes
	s.Count += count
	return s
}

// live estimates the bytes of the summary still at or above start, assuming
// records are spread evenly over Min..Max.
func (s segSummary) live(start uint64) int64 {
	switch {
	case s.Count == 0 || start > s.Max:
		return 0
	case start <= s.Min:
		return s.Bytes
	}
	return int64(float64(s.Bytes) * float64(s.Max-start+1) / float64(s.Max-s.Min+1))
}

func segPath(dir string, id uint64) string {
	return filepath.Join(dir, fmt.Sprintf("%016x.seg", id))
}

// listSegments returns the ids of the segment files in dir, oldest first.
func listSegments(dir string) ([]uint64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list segments: %w", err)
	}
	var ids []uint64
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".seg")
		if !ok {
			continue
		}
		id, err := strconv.ParseUint(name, 16, 64)
		if err != nil {
			continue
		}
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids, nil
}

// boltOptions are tuned for an append-only log: the freelist is not
// written (it is rebuilt from the small active file on open), and sealed
// files are opened read-only so that opening a large log stays fast.
func boltOptions(readOnly bool) *bolt.Options {
	return &bolt.Options{
		Timeout:        time.Second,
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
		ReadOnly:       readOnly,
	}
}

// openSegment opens an existing segment file and loads its summary. A file
// whose first transaction never committed (a crash during rotation) reports
// initialized == false and must be removed by the caller.
func openSegment(dir string, id uint64, readOnly bool) (seg *segment, initialized bool, err error) {
	path := segPath(dir, id)
	db, err := bolt.Open(path, 0o600, boltOptions(readOnly))
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, false, fmt.Errorf("open segment %s: %w", path, ErrDataDirInUse)
		}
		return nil, false, fmt.Errorf("open segment %s: %w", path, err)
	}
	seg = &segment{id: id, path: path, db: db, sum: map[uint64]segSummary{}}
	err = db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bktInfo); b == nil || b.Get(keyInit) == nil {
			return nil
		}
		initialized = true
		return tx.Bucket(bktSummary).ForEach(func(k, v []byte) error {
			s, ok := decodeSummary(v)
			if len(k) != 8 || !ok {
				return fmt.Errorf("summary of topic %x: %w", k, errCorrupt)
			}
			seg.sum[binary.BigEndian.Uint64(k)] = s
			return nil
		})
	})
	if err != nil {
		db.Close()
		return nil, false, fmt.Errorf("load segment %s: %w", path, err)
	}
	if fi, err := os.Stat(path); err == nil {
		seg.size = fi.Size()
	}
	return seg, initialized, nil
}

// createSegment creates a new segment file. Its first transaction, which
// the caller runs, carries the topic states over and sets the init mark.
func createSegment(dir string, id uint64, allocSize int) (*segment, error) {
	path := segPath(dir, id)
	db, err := bolt.Open(path, 0o600, boltOptions(false))
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("create segment %s: %w", path, mapDiskErr(err))
	}
	db.AllocSize = allocSize
	return &segment{id: id, path: path, db: db, sum: map[uint64]segSummary{}}, nil
}

// remove closes and deletes the file. bbolt's Close waits for open read
// transactions, so readers that found the segment finish first.
func (s *segment) remove() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close segment %s: %w", s.path, err)
	}
	if err := os.Remove(s.path); err != nil {
		return fmt.Errorf("remove segment %s: %w", s.path, err)
	}
	return nil
}

// topicBucket returns the record bucket of topic id, nil if absent.
func topicBucket(tx *bolt.Tx, id uint64) *bolt.Bucket {
	r := tx.Bucket(bktRecords)
	if r == nil {
		return nil
	}
	return r.Bucket(u64(id))
}
