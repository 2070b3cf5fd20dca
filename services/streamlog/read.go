package streamlog

import (
	"context"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// errMissing means an offset inside a topic's retained range was found in
// no segment; readers retry from the topic's new start when retention
// moved it meanwhile.
var errMissing = errors.New("offset missing from every segment")

// candidates returns the segments that may hold offset off of topic id,
// newest first; w, when set, is the writer's transaction in progress.
func (s *Store) candidates(id, off uint64, w *txn) []*segment {
	var staged segSummary
	var hasStaged bool
	if w != nil {
		staged, hasStaged = w.sums[id]
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []*segment
	for i := len(s.segs) - 1; i >= 0; i-- {
		seg := s.segs[i]
		sum, ok := seg.sum[id]
		if w != nil && seg == w.seg && hasStaged {
			sum, ok = staged, true
		}
		if ok && sum.Count > 0 && sum.Min <= off && off <= sum.Max {
			out = append(out, seg)
		}
	}
	return out
}

// walk calls fn for the records of topic id from offset from up to end, in
// offset order across segments, until fn returns false. It returns the
// offset it stopped at.
func (s *Store) walk(id, from, end uint64, w *txn, fn func(off uint64, v []byte) bool) (uint64, error) {
	off := from
	for off < end {
		var n uint64
		stop, found := false, false
		for _, seg := range s.candidates(id, off, w) {
			run := func(tx *bolt.Tx) error {
				n, stop = runFrom(tx, id, off, end, fn)
				return nil
			}
			var err error
			if w != nil && seg == w.seg {
				err = run(w.tx)
			} else {
				err = seg.db.View(run)
			}
			if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
				continue // dropped under us
			}
			if err != nil {
				return off, fmt.Errorf("read segment %s: %w", seg.path, err)
			}
			if n > 0 || stop {
				found = true
				break
			}
		}
		off += n
		if stop {
			return off, nil
		}
		if !found {
			return off, fmt.Errorf("topic %d offset %d: %w", id, off, errMissing)
		}
	}
	return off, nil
}

// runFrom visits consecutive offsets from off in one segment.
func runFrom(tx *bolt.Tx, id, off, end uint64, fn func(uint64, []byte) bool) (n uint64, stop bool) {
	b := topicBucket(tx, id)
	if b == nil {
		return 0, false
	}
	c := b.Cursor()
	for k, v := c.Seek(u64(off)); k != nil && off+n < end && be64(k) == off+n; k, v = c.Next() {
		if !fn(off+n, v) {
			return n, true
		}
		n++
	}
	return n, false
}

// ReadOptions bound one Read.
type ReadOptions struct {
	MaxRecords int // default 1000
	MaxBytes   int // default 1 MiB; at least one record is returned
}

// Read returns records of topic name from offset from on. An offset below
// the topic's start reads from the start: the records' offsets show the
// gap. An offset at the end returns no records; beyond it is an error.
func (s *Store) Read(name string, from uint64, o ReadOptions) ([]Record, error) {
	t, err := s.lookup(name)
	if err != nil {
		return nil, err
	}
	if o.MaxRecords <= 0 {
		o.MaxRecords = 1000
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = 1 << 20
	}
	recs, err := t.log.read(t, from, o)
	t.stats.read(recs)
	return recs, err
}

// readSegments reads a persistent topic from the segment files.
func (s *Store) readSegments(t *topic, from uint64, o ReadOptions) ([]Record, error) {
	var out []Record
	var err error
	size := 0
	// Retention may move the start and drop a segment while we read; a
	// few attempts always suffice, since each one starts from the new start.
	for attempt := 0; attempt < 3; attempt++ {
		st := s.state(t)
		if from > st.Next {
			return nil, fmt.Errorf("%w: read %s from %d: the topic ends at %d", ErrOffsetOutOfRange, t.name, from, st.Next)
		}
		from = max(from, st.Start)
		var derr error
		_, err = s.walk(t.id, from, st.Next, nil, func(off uint64, v []byte) bool {
			if len(out) >= o.MaxRecords || (len(out) > 0 && size+len(v) > o.MaxBytes) {
				return false
			}
			r, err := decodeStored(off, v)
			if err != nil {
				derr = err
				return false
			}
			out = append(out, r)
			size += len(v)
			return true
		})
		if derr != nil {
			return out, fmt.Errorf("read %s: %w", t.name, derr)
		}
		if !errors.Is(err, errMissing) {
			break
		}
		// Retention moved the start while we read: go on from there.
		if len(out) > 0 {
			from = out[len(out)-1].Offset + 1
		}
	}
	if err != nil {
		return out, fmt.Errorf("read %s: %w", t.name, err)
	}
	return out, nil
}

// OffsetAt returns the offset of the first record of topic name appended at
// or after ts, or the topic's end if there is none. Append times are
// monotonic per topic, so this is a binary search.
func (s *Store) OffsetAt(name string, ts time.Time) (uint64, error) {
	t, err := s.lookup(name)
	if err != nil {
		return 0, err
	}
	return t.log.offsetAt(t, ts)
}

// offsetAtSegments searches a persistent topic's segment files.
func (s *Store) offsetAtSegments(t *topic, ts time.Time) (uint64, error) {
	st := s.state(t)
	lo, hi := st.Start, st.Next
	target := ts.UnixNano()
	for lo < hi {
		mid := lo + (hi-lo)/2
		var at int64
		_, err := s.walk(t.id, mid, mid+1, nil, func(_ uint64, v []byte) bool { at = storedTime(v); return true })
		if err != nil && !errors.Is(err, errMissing) {
			return 0, fmt.Errorf("search %s by time: %w", t.name, err)
		}
		if errors.Is(err, errMissing) || at < target {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo, nil
}

// Wait blocks until topic name has a record at offset off or later, ctx
// ends, or the topic is deleted. Live tails read, then Wait, then read.
func (s *Store) Wait(ctx context.Context, name string, off uint64) error {
	t, err := s.lookup(name)
	if err != nil {
		return err
	}
	for {
		ch := t.sig.wait()
		if s.state(t).Next > off {
			return nil
		}
		s.mu.RLock()
		deleted := t.deleted
		s.mu.RUnlock()
		if deleted {
			return fmt.Errorf("%w: %s was deleted", ErrTopicNotFound, t.name)
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.quit:
			return ErrClosed
		}
	}
}
