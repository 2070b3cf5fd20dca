package streamlog

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"
)

// memLog holds a volatile topic: records in memory only, bounded by the
// topic's limits (MaxBytes is always set for volatile topics), lost on
// restart. Offsets start again at 0 after a restart.
type memLog struct {
	now       func() time.Time
	mu        sync.Mutex
	recs      []memRec
	st        topicState
	producers map[string]*producerState
}

type memRec struct {
	Record
	size int64
}

func newMemLog(now func() time.Time) *memLog {
	return &memLog{now: now, producers: map[string]*producerState{}}
}

func (m *memLog) state(*topic) topicState {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.st
}

func (m *memLog) append(_ context.Context, t *topic, b Batch) (Ack, error) {
	now := m.now().UnixNano()
	m.mu.Lock()
	defer m.mu.Unlock()
	n := len(b.Records)
	if b.Producer != "" {
		ack, err := m.producers[b.Producer].check(b.Producer, b.Seq, n)
		if err != nil || ack != nil {
			if ack != nil {
				return *ack, nil
			}
			return Ack{}, err
		}
	}
	var size int64
	for i := range b.Records {
		size += int64(b.Records[i].Size() + 8 + storedOverhead)
	}
	if t.cfg.OnFull == RejectNew {
		m.trimLocked(t.cfg, now, false)
		if over(t.cfg, m.st, int64(n), size) {
			return Ack{}, fmt.Errorf("%w: %s holds %d records, %d bytes; %d more records exceed its limits (maxRecords %d, maxBytes %d): consume and retry later",
				ErrTopicFull, t.name, m.st.Next-m.st.Start, m.st.Bytes, n, t.cfg.MaxRecords, t.cfg.MaxBytes)
		}
	}
	ts := max(now, m.st.LastTime)
	first := m.st.Next
	for i := range b.Records {
		r := b.Records[i]
		// Copy: the caller may reuse its buffers once Append returns.
		r.Key = append([]byte(nil), r.Key...)
		r.Value = append([]byte(nil), r.Value...)
		r.Headers = append([]Header(nil), r.Headers...)
		r.Offset, r.Time = m.st.Next, time.Unix(0, ts).UTC()
		m.recs = append(m.recs, memRec{r, int64(r.Size() + 8 + storedOverhead)})
		m.st.Next++
	}
	m.st.Bytes += size
	m.st.LastTime = ts
	if b.Producer != "" {
		m.producers[b.Producer] = m.producers[b.Producer].record(now,
			producerBatch{FirstSeq: b.Seq, LastSeq: b.Seq + uint64(n) - 1, FirstOffset: first})
		if len(m.producers) > maxProducers {
			delete(m.producers, evictProducer(m.producers))
		}
	}
	if t.cfg.OnFull == DropOldest {
		m.trimLocked(t.cfg, now, true)
	}
	t.sig.wake()
	return Ack{First: first, Last: m.st.Next - 1}, nil
}

func (m *memLog) trimAged(t *topic, w *txn) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.trimLocked(t.cfg, w.now, false)
}

func (m *memLog) trimLocked(cfg TopicConfig, now int64, full bool) {
	cutoff := now - int64(cfg.MaxAge)
	k := 0
	for k < len(m.recs) {
		r := &m.recs[k]
		if !(full && over(cfg, m.st, 0, 0)) && !(cfg.MaxAge > 0 && r.Time.UnixNano() < cutoff) {
			break
		}
		m.st.Start++
		m.st.Bytes -= r.size
		k++
	}
	if k == 0 {
		return
	}
	clear(m.recs[:k]) // let the values be collected
	m.recs = m.recs[k:]
	// Reslicing leaves the dropped prefix allocated; copy when it dominates.
	if cap(m.recs) > 2*len(m.recs)+64 {
		m.recs = append([]memRec(nil), m.recs...)
	}
}

func (m *memLog) read(t *topic, from uint64, o ReadOptions) ([]Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if from > m.st.Next {
		return nil, fmt.Errorf("%w: read %s from %d: the topic ends at %d", ErrOffsetOutOfRange, t.name, from, m.st.Next)
	}
	from = max(from, m.st.Start)
	var out []Record
	size := 0
	for i := int(from - m.st.Start); i < len(m.recs) && len(out) < o.MaxRecords; i++ {
		r := m.recs[i]
		if len(out) > 0 && size+int(r.size) > o.MaxBytes {
			break
		}
		out = append(out, r.Record)
		size += int(r.size)
	}
	return out, nil
}

func (m *memLog) offsetAt(_ *topic, at time.Time) (uint64, error) {
	ts := at.UnixNano()
	m.mu.Lock()
	defer m.mu.Unlock()
	i := sort.Search(len(m.recs), func(i int) bool { return m.recs[i].Time.UnixNano() >= ts })
	return m.st.Start + uint64(i), nil
}
