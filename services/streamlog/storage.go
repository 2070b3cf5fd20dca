package streamlog

import (
	"context"
	"time"
)

// storage keeps one topic's records: in the segment files (persistent
// topics, segLog) or in memory (volatile topics, memLog). The public
// methods of Store go through it; the writer's segment code (rotation,
// compaction, dropping, recovery) sees only the topics segTopic returns.
type storage interface {
	append(ctx context.Context, t *topic, b Batch) (Ack, error)
	read(t *topic, from uint64, o ReadOptions) ([]Record, error)
	offsetAt(t *topic, ts time.Time) (uint64, error)
	// state is the retained range and size.
	state(t *topic) topicState
	// trimAged drops expired records outside appends (the writer's tick,
	// inside its transaction w).
	trimAged(t *topic, w *txn)
}

var (
	_ storage = segLog{}
	_ storage = (*memLog)(nil)
)

// segLog stores a persistent topic in the segment files.
type segLog struct{ s *Store }

func (l segLog) append(ctx context.Context, t *topic, b Batch) (Ack, error) {
	return l.s.appendPersistent(ctx, t, b)
}

func (l segLog) read(t *topic, from uint64, o ReadOptions) ([]Record, error) {
	return l.s.readSegments(t, from, o)
}

func (l segLog) offsetAt(t *topic, ts time.Time) (uint64, error) {
	return l.s.offsetAtSegments(t, ts)
}

func (l segLog) state(t *topic) topicState {
	l.s.mu.RLock()
	defer l.s.mu.RUnlock()
	return t.st
}

func (l segLog) trimAged(t *topic, w *txn) { w.trim(t, false) }

// segTopic returns the persistent topic with id, nil for a volatile or
// deleted one. The caller holds mu (or is the loader).
func (s *Store) segTopic(id uint64) *topic {
	if t := s.byID[id]; t != nil && !t.cfg.Volatile {
		return t
	}
	return nil
}
