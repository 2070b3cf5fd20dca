package streamlog

import (
	"encoding/binary"
	"fmt"
	"os"

	bolt "go.etcd.io/bbolt"
)

// txn is one group commit in progress. Changes to topic states, producers
// and the active segment's summary are staged here and published only after
// the commit succeeded, so a failed fsync leaves the in-memory view as it
// was.
type txn struct {
	s       *Store
	tx      *bolt.Tx
	seg     *segment
	now     int64
	states  map[uint64]topicState
	prods   map[uint64]map[string]*producerState
	evicted map[uint64][]string
	sums    map[uint64]segSummary
	topics  map[uint64]*topic
	acks    []*appendReq
	records int  // records appended in this commit
	fresh   bool // first commit of a new segment: carry every topic over
	changed bool
}

func newTxn(s *Store, tx *bolt.Tx, seg *segment) *txn {
	return &txn{
		s: s, tx: tx, seg: seg, now: s.o.now().UnixNano(),
		states: map[uint64]topicState{}, prods: map[uint64]map[string]*producerState{},
		evicted: map[uint64][]string{}, sums: map[uint64]segSummary{}, topics: map[uint64]*topic{},
	}
}

func (w *txn) state(t *topic) topicState {
	if st, ok := w.states[t.id]; ok {
		return st
	}
	return t.st // the writer is the only one changing it
}

func (w *txn) producer(t *topic, pid string) *producerState {
	if p, ok := w.prods[t.id][pid]; ok {
		return p
	}
	return t.producers[pid]
}

// sum returns the staged summary of topic id in the active segment.
func (w *txn) sum(id uint64) (segSummary, bool) {
	if s, ok := w.sums[id]; ok {
		return s, true
	}
	w.s.mu.RLock()
	defer w.s.mu.RUnlock()
	s, ok := w.seg.sum[id]
	return s, ok
}

// over reports whether adding n records of size bytes breaks a limit.
func over(cfg TopicConfig, st topicState, n, size int64) bool {
	return (cfg.MaxRecords > 0 && int64(st.Next-st.Start)+n > cfg.MaxRecords) ||
		(cfg.MaxBytes > 0 && st.Bytes+size > cfg.MaxBytes)
}

// apply stages one producer's batch.
func (w *txn) apply(r *appendReq) {
	t := r.t
	w.s.mu.RLock()
	deleted := t.deleted
	w.s.mu.RUnlock()
	if deleted {
		r.err = fmt.Errorf("%w: %s was deleted", ErrTopicNotFound, t.name)
		return
	}
	n := len(r.enc)
	if r.b.Producer != "" {
		ack, err := w.producer(t, r.b.Producer).check(r.b.Producer, r.b.Seq, n)
		if err != nil || ack != nil {
			r.err = err
			if ack != nil {
				r.ack = *ack
			}
			return
		}
	}
	if t.cfg.OnFull == RejectNew && over(t.cfg, w.state(t), int64(n), r.size) {
		w.trim(t, false) // expired records may go even under back-pressure
		if st := w.state(t); over(t.cfg, st, int64(n), r.size) {
			r.err = fmt.Errorf("%w: %s holds %d records, %d bytes; %d more records of %d bytes exceed its limits (maxRecords %d, maxBytes %d): consume and retry later",
				ErrTopicFull, t.name, st.Next-st.Start, st.Bytes, n, r.size, t.cfg.MaxRecords, t.cfg.MaxBytes)
			return
		}
	}
	b, err := w.bucket(t.id)
	if err != nil {
		r.err = fmt.Errorf("append to %s: %w", t.name, err)
		return
	}
	st := w.state(t)
	// Times never go backwards within a topic, even if the clock does:
	// reading by time is a binary search over offsets.
	ts := max(w.now, st.LastTime)
	first := st.Next
	for _, v := range r.enc {
		binary.BigEndian.PutUint64(v, uint64(ts))
		if err := b.Put(u64(st.Next), v); err != nil {
			r.err = fmt.Errorf("append to %s: %w", t.name, err)
			return
		}
		st.Next++
	}
	st.Bytes += r.size
	st.LastTime = ts
	w.states[t.id] = st
	w.topics[t.id] = t
	sum, _ := w.sum(t.id)
	w.sums[t.id] = sum.add(first, st.Next-1, r.size, int64(n))
	if r.b.Producer != "" {
		w.setProducer(t, r.b.Producer, w.producer(t, r.b.Producer).record(w.now,
			producerBatch{FirstSeq: r.b.Seq, LastSeq: r.b.Seq + uint64(n) - 1, FirstOffset: first}))
	}
	r.ack = Ack{First: first, Last: st.Next - 1}
	w.acks = append(w.acks, r)
	w.records += n
	w.changed = true
}

func (w *txn) setProducer(t *topic, pid string, p *producerState) {
	m := w.prods[t.id]
	if m == nil {
		m = map[string]*producerState{}
		w.prods[t.id] = m
	}
	m[pid] = p
	if _, known := t.producers[pid]; !known && len(t.producers)+len(m) > maxProducers {
		old := evictProducer(t.producers)
		w.evicted[t.id] = append(w.evicted[t.id], old)
	}
}

func (w *txn) bucket(id uint64) (*bolt.Bucket, error) {
	b, err := w.tx.Bucket(bktRecords).CreateBucketIfNotExists(u64(id))
	if err != nil {
		return nil, err
	}
	// Offsets only grow: full pages instead of bbolt's half-full splits.
	b.FillPercent = 1.0
	return b, nil
}

// trimAll enforces retention on the topics this commit appended to, and on
// every persistent topic with an age limit when ageAll is set.
func (w *txn) trimAll(ageAll bool) {
	for _, t := range w.topics {
		if t.cfg.OnFull == DropOldest || t.cfg.MaxAge > 0 {
			w.trim(t, t.cfg.OnFull == DropOldest)
		}
	}
	if !ageAll {
		return
	}
	w.s.mu.RLock()
	var aged []*topic
	for _, t := range w.s.byID {
		if t.cfg.MaxAge > 0 {
			aged = append(aged, t)
		}
	}
	w.s.mu.RUnlock()
	for _, t := range aged {
		t.log.trimAged(t, w)
	}
}

// trim advances a topic's start past records that break its limits: age
// always, count and bytes when full is set (drop-oldest).
func (w *txn) trim(t *topic, full bool) {
	cfg := t.cfg
	st := w.state(t)
	cutoff := w.now - int64(cfg.MaxAge)
	if !(full && over(cfg, st, 0, 0)) && cfg.MaxAge == 0 {
		return
	}
	// Walk from the oldest record: retention drops a prefix, and each
	// dropped record's size keeps Bytes exact without a second index.
	start := st.Start
	_, err := w.s.walk(t.id, st.Start, st.Next, w, func(off uint64, v []byte) bool {
		if !(full && over(cfg, st, 0, 0)) && !(cfg.MaxAge > 0 && storedTime(v) < cutoff) {
			return false
		}
		st.Start = off + 1
		st.Bytes -= int64(len(v) + storedOverhead)
		return true
	})
	if err != nil {
		w.s.o.log.Error("trim topic", "topic", t.name.String(), "err", err)
	}
	if st.Start != start {
		w.states[t.id] = st
		w.topics[t.id] = t
		w.changed = true
	}
}

// persist writes the staged states, producers and summary.
func (w *txn) persist() error {
	st, pr, sm := w.tx.Bucket(bktState), w.tx.Bucket(bktProducers), w.tx.Bucket(bktSummary)
	if w.fresh {
		if err := w.carryOver(); err != nil {
			return err
		}
	}
	for id, s := range w.states {
		if err := st.Put(u64(id), s.encode()); err != nil {
			return err
		}
	}
	for id, m := range w.prods {
		for pid, p := range m {
			if err := pr.Put(append(u64(id), pid...), p.encode()); err != nil {
				return err
			}
		}
	}
	for id, pids := range w.evicted {
		for _, pid := range pids {
			if err := pr.Delete(append(u64(id), pid...)); err != nil {
				return err
			}
		}
	}
	for id, s := range w.sums {
		if err := sm.Put(u64(id), s.encode()); err != nil {
			return err
		}
	}
	return nil
}

// publish makes a committed transaction visible and wakes tails.
func (w *txn) publish() {
	s := w.s
	s.mu.Lock()
	for id, st := range w.states {
		if t := w.topics[id]; t != nil {
			t.st = st
		}
	}
	for id, sum := range w.sums {
		w.seg.sum[id] = sum
	}
	if j := s.job; j != nil && j.finished() {
		j.seg.compacted = true
		s.job = nil
	}
	s.mu.Unlock()
	for id, m := range w.prods {
		t := w.topics[id]
		if t == nil {
			s.mu.RLock()
			t = s.byID[id]
			s.mu.RUnlock()
		}
		if t == nil {
			continue
		}
		for _, pid := range w.evicted[id] {
			delete(t.producers, pid)
		}
		for pid, p := range m {
			t.producers[pid] = p
		}
	}
	if fi, err := os.Stat(w.seg.path); err == nil {
		w.seg.size = fi.Size()
	}
	for _, t := range w.topics {
		t.sig.wake()
	}
}

// carryOver writes every persistent topic's state and producers into a new
// segment, in its first commit, with the init mark: from then on this file
// alone says where every topic stands. Staged changes are written after it
// by persist and override.
func (w *txn) carryOver() error {
	w.s.mu.RLock()
	var ts []*topic
	for id := range w.s.byID {
		if t := w.s.segTopic(id); t != nil {
			ts = append(ts, t)
		}
	}
	w.s.mu.RUnlock()
	st, pr := w.tx.Bucket(bktState), w.tx.Bucket(bktProducers)
	for _, t := range ts {
		if err := st.Put(u64(t.id), w.state(t).encode()); err != nil {
			return err
		}
		for pid, p := range t.producers {
			if err := pr.Put(append(u64(t.id), pid...), p.encode()); err != nil {
				return err
			}
		}
	}
	return w.tx.Bucket(bktInfo).Put(keyInit, u64(uint64(w.now)))
}
