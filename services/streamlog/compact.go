package streamlog

import (
	"errors"
	"sort"

	bolt "go.etcd.io/bbolt"
)

// compactJob copies the retained records of one sealed segment into the
// active one, a chunk per group commit, so that the sealed file can be
// dropped. It runs only for segments less than half live, which bounds
// every sealed file to at least half live data (README.md, "disk bound").
type compactJob struct {
	seg  *segment
	ids  []uint64 // topics to copy, in order
	i    int      // index into ids
	next uint64   // next offset of ids[i] to copy
}

func (j *compactJob) finished() bool { return j.i >= len(j.ids) }

// snapshot and restore undo a job's progress when its commit fails.
func (j *compactJob) snapshot() compactJob {
	if j == nil {
		return compactJob{}
	}
	return *j
}

func (j *compactJob) restore(c compactJob) {
	if j != nil {
		*j = c
	}
}

// planCompaction picks the sealed segment with the least live data if it
// is less than half live.
func (s *Store) planCompaction() {
	if s.job != nil {
		return
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var best *segment
	var bestLive int64
	for _, seg := range s.segs[:len(s.segs)-1] {
		var total, live int64
		for id, sum := range seg.sum {
			total += sum.Bytes
			if t := s.segTopic(id); t != nil {
				live += sum.live(t.st.Start)
			}
		}
		if total > 0 && live*2 < total && (best == nil || live < bestLive) {
			best, bestLive = seg, live
		}
	}
	if best == nil {
		return
	}
	j := &compactJob{seg: best}
	for id := range best.sum {
		j.ids = append(j.ids, id)
	}
	sort.Slice(j.ids, func(a, b int) bool { return j.ids[a] < j.ids[b] })
	s.job = j
	s.o.log.Debug("compacting segment", "path", best.path, "live_bytes", bestLive)
}

var errPause = errors.New("pause")

// compactStep copies up to budget bytes of the job into this commit.
func (w *txn) compactStep(budget int64) {
	j := w.s.job
	if j == nil {
		return
	}
	for !j.finished() && budget > 0 {
		id := j.ids[j.i]
		w.s.mu.RLock()
		t := w.s.segTopic(id)
		w.s.mu.RUnlock()
		if t == nil {
			j.i, j.next = j.i+1, 0
			continue
		}
		st := w.state(t)
		from := max(j.next, st.Start)
		dst, err := w.bucket(id)
		if err != nil {
			w.s.o.log.Error("compact", "err", err)
			return
		}
		sum, _ := w.sum(id)
		err = j.seg.db.View(func(tx *bolt.Tx) error {
			b := topicBucket(tx, id)
			if b == nil {
				return nil
			}
			c := b.Cursor()
			for k, v := c.Seek(u64(from)); k != nil; k, v = c.Next() {
				off := be64(k)
				if off >= st.Next {
					break
				}
				if budget <= 0 {
					j.next = off
					return errPause
				}
				// bbolt keeps the value until commit; the source mapping
				// is only valid inside this View.
				if err := dst.Put(u64(off), append([]byte(nil), v...)); err != nil {
					return err
				}
				size := int64(len(v) + storedOverhead)
				sum = sum.add(off, off, size, 1)
				budget -= size
				w.changed = true
			}
			return nil
		})
		w.sums[id] = sum
		switch {
		case errors.Is(err, errPause):
			return
		case err != nil:
			w.s.o.log.Error("compact", "segment", j.seg.path, "err", err)
			return
		}
		j.i, j.next = j.i+1, 0
	}
	if j.finished() {
		// Make sure the commit happens so that publish drops the file.
		w.changed = true
	}
}
