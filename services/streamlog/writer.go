package streamlog

import (
	"errors"
	"fmt"
	"time"
)

// writer is the one goroutine that writes segments. It takes every append
// queued while the previous commit was being fsynced and commits them all in
// one transaction: the longer an fsync takes, the larger the next group.
func (s *Store) writer() {
	defer close(s.done)
	tick := time.NewTicker(s.o.tick)
	defer tick.Stop()
	for {
		var batch []*appendReq
		maintenance := false
		// A compaction chunk cannot commit on a full disk: wait for the
		// tick rather than spin on it.
		idle := s.job == nil || s.diskFull.Load()
		if !idle {
			// Compaction pending: take appends if any, else copy a chunk.
			select {
			case r := <-s.reqs:
				batch = s.gather(r)
			case <-s.quit:
				s.drain()
				return
			default:
			}
		} else {
			select {
			case r := <-s.reqs:
				batch = s.gather(r)
			case <-tick.C:
				maintenance = true
			case <-s.quit:
				s.drain()
				return
			}
		}
		if maintenance {
			s.sample()
		}
		s.commit(batch, maintenance)
	}
}

// gather takes r and whatever else is queued, up to maxBatchBytes.
func (s *Store) gather(r *appendReq) []*appendReq {
	batch := []*appendReq{r}
	size := r.size
	for size < s.o.maxBatchBytes {
		select {
		case r := <-s.reqs:
			batch = append(batch, r)
			size += r.size
		default:
			return batch
		}
	}
	return batch
}

// drain fails what is still queued at Close.
func (s *Store) drain() {
	for {
		select {
		case r := <-s.reqs:
			r.err = ErrClosed
			close(r.done)
		default:
			return
		}
	}
}

// commit runs one group commit: the batch's appends, retention, a chunk of
// compaction, and the topic states, in one transaction and one fsync of the
// active segment. ageAll also enforces age retention on idle topics.
func (s *Store) commit(batch []*appendReq, ageAll bool) {
	defer func() {
		for _, r := range batch {
			close(r.done)
		}
	}()
	fresh := s.rotate()
	job := s.job.snapshot()
	err := s.tryCommit(batch, ageAll, fresh)
	if err == nil {
		return
	}
	// The one abort path: nothing was published, so undo what the writer
	// staged outside the transaction and fail the batch.
	s.unrotate(fresh)
	s.job.restore(job)
	err = mapDiskErr(err)
	if errors.Is(err, ErrDiskFull) && !s.diskFull.Load() {
		s.o.log.Error("disk full: refusing appends until space returns", "err", err)
	}
	s.diskFull.Store(errors.Is(err, ErrDiskFull))
	for _, r := range batch {
		if r.err == nil {
			r.err = err
		}
	}
}

// tryCommit builds and commits the transaction, and publishes it once it is
// durable. On an error the transaction is rolled back and nothing is
// published; the caller undoes the rest.
func (s *Store) tryCommit(batch []*appendReq, ageAll bool, fresh *segment) error {
	seg := s.active()
	tx, err := seg.db.Begin(true)
	if err != nil {
		return fmt.Errorf("begin commit: %w", err)
	}
	w := newTxn(s, tx, seg)
	w.fresh = fresh != nil || s.needInit
	for _, r := range batch {
		w.apply(r)
	}
	w.trimAll(ageAll)
	w.compactStep(s.o.compactChunk)
	if !w.changed && !w.fresh {
		tx.Rollback()
		if ageAll {
			// Deleted topics free their segments even when nothing
			// else commits (a full disk, an idle log).
			s.dropDead()
			s.planCompaction()
		}
		return nil
	}
	if err := w.persist(); err != nil {
		tx.Rollback()
		return fmt.Errorf("commit: %w", err)
	}
	if h := s.o.beforeCommit; h != nil {
		if err := h(); err != nil {
			tx.Rollback()
			return fmt.Errorf("commit: %w", err)
		}
	}
	began := time.Now()
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	s.commits.observe(time.Since(began), w.records)
	s.needInit = false
	if s.diskFull.Swap(false) {
		s.o.log.Info("disk space returned: appends resume")
	}
	w.publish()
	t := time.Now()
	s.dropDead()
	s.slow("drop segments", t)
	s.planCompaction()
	s.prepareAhead()
	return nil
}

// slow logs housekeeping that held the writer, and so every producer, up
// for long enough to show in acknowledgement latency.
func (s *Store) slow(what string, began time.Time) {
	if d := time.Since(began); d > 20*time.Millisecond {
		s.o.log.Info("slow "+what, "took", d)
	}
}

// dropDead removes sealed segments that hold no retained record.
func (s *Store) dropDead() {
	s.mu.Lock()
	var dead, keep []*segment
	for i, seg := range s.segs {
		if i < len(s.segs)-1 && s.isDead(seg) {
			dead = append(dead, seg)
		} else {
			keep = append(keep, seg)
		}
	}
	s.segs = keep
	s.mu.Unlock()
	for _, seg := range dead {
		// Closing waits for readers and unlinking a large file can take
		// a while: neither may hold up the writer.
		s.bg.Add(1)
		go func() {
			defer s.bg.Done()
			if err := seg.remove(); err != nil {
				s.o.log.Error("drop segment", "err", err)
				return
			}
			s.o.log.Debug("dropped segment", "path", seg.path)
		}()
	}
}

// isDead reports whether every record in seg is below its topic's start,
// belongs to a deleted topic, or was copied forward by compaction. The
// caller holds mu.
func (s *Store) isDead(seg *segment) bool {
	if seg.compacted {
		return true
	}
	for id, sum := range seg.sum {
		t := s.segTopic(id)
		if t == nil {
			continue
		}
		if sum.Count > 0 && sum.Max >= t.st.Start {
			return false
		}
	}
	return true
}
