package streamlog

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Rotation costs the writer nothing extra: the next segment file is created
// in the background once the active one is three quarters full, and the
// first group commit into it carries every topic's state over and sets the
// init mark (txn.carryOver). A file without that mark is removed at start.

// newEmptySegment creates a segment file with its buckets but no init mark.
func newEmptySegment(dir string, id uint64, allocSize int) (*segment, error) {
	seg, err := createSegment(dir, id, allocSize)
	if err != nil {
		return nil, err
	}
	err = seg.db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bktRecords, bktSummary, bktState, bktProducers, bktInfo} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		seg.remove()
		return nil, fmt.Errorf("create segment %d: %w", id, mapDiskErr(err))
	}
	return seg, nil
}

// initFirst creates the first segment of an empty data directory.
func (s *Store) initFirst() error {
	seg, err := newEmptySegment(s.segDir, 1, s.o.allocSize)
	if err != nil {
		return err
	}
	err = seg.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bktInfo).Put(keyInit, u64(uint64(s.o.now().UnixNano())))
	})
	if err != nil {
		seg.remove()
		return fmt.Errorf("init segment: %w", mapDiskErr(err))
	}
	s.segs = append(s.segs, seg)
	return nil
}

// prepareAhead starts creating the next segment when the active one is
// three quarters full (writer only).
func (s *Store) prepareAhead() {
	if a := s.active(); !s.preparing && a.size >= s.o.segmentBytes*3/4 {
		s.prepare(a.id + 1)
	}
}

func (s *Store) prepare(id uint64) {
	s.preparing = true
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		seg, err := newEmptySegment(s.segDir, id, s.o.allocSize)
		if err != nil {
			s.o.log.Error("prepare segment", "err", err)
		}
		s.nextc <- seg // nil on failure: the writer tries again later
	}()
}

// rotate makes the prepared segment active when the active one is full and
// returns it; nil when no rotation is due or none could be prepared, in
// which case the writer keeps filling the old file rather than refusing
// appends (writer only).
func (s *Store) rotate() *segment {
	a := s.active()
	if a.size < s.o.segmentBytes {
		return nil
	}
	if !s.preparing {
		s.prepare(a.id + 1)
	}
	seg := <-s.nextc // normally ready long ago
	s.preparing = false
	if seg == nil {
		return nil
	}
	s.mu.Lock()
	s.segs = append(s.segs, seg)
	s.mu.Unlock()
	return seg
}

// unrotate takes back a segment whose first commit failed, for the next
// attempt.
func (s *Store) unrotate(seg *segment) {
	if seg == nil {
		return
	}
	s.mu.Lock()
	s.segs = s.segs[:len(s.segs)-1]
	s.mu.Unlock()
	s.preparing = true
	s.nextc <- seg
}
