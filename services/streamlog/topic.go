package streamlog

import (
	"encoding/binary"
	"sync"
	"time"
)

// Batch is what a producer appends: records, and optionally a producer id
// and the sequence number of the first record, which make retries
// idempotent. Sequence numbers count records, so the next batch of the same
// producer starts at Seq+len(Records).
type Batch struct {
	Producer string
	Seq      uint64
	Records  []Record
}

// Ack acknowledges an appended batch: the offsets of its first and last
// records. Duplicate says the batch had been stored before (a retry).
type Ack struct {
	First, Last uint64
	Duplicate   bool
}

// TopicInfo describes a topic.
type TopicInfo struct {
	Name    Name
	Config  TopicConfig
	Created time.Time
	// Start and Next bound the retained offsets: [Start, Next).
	Start, Next uint64
	Bytes       int64
}

// topicState is a persistent topic's progress, stored in the state bucket
// of the newest segment in the same transaction as its records.
type topicState struct {
	Start, Next uint64
	Bytes       int64
	LastTime    int64 // keeps append timestamps monotonic per topic
}

func (s topicState) encode() []byte {
	b := make([]byte, 32)
	binary.BigEndian.PutUint64(b, s.Start)
	binary.BigEndian.PutUint64(b[8:], s.Next)
	binary.BigEndian.PutUint64(b[16:], uint64(s.Bytes))
	binary.BigEndian.PutUint64(b[24:], uint64(s.LastTime))
	return b
}

func decodeState(b []byte) (topicState, bool) {
	if len(b) != 32 {
		return topicState{}, false
	}
	return topicState{
		Start:    binary.BigEndian.Uint64(b),
		Next:     binary.BigEndian.Uint64(b[8:]),
		Bytes:    int64(binary.BigEndian.Uint64(b[16:])),
		LastTime: int64(binary.BigEndian.Uint64(b[24:])),
	}, true
}

// topic is the in-memory handle of one topic.
type topic struct {
	name    Name
	id      uint64
	cfg     TopicConfig
	created time.Time
	// st is written by the writer under Store.mu and read under RLock.
	st topicState
	// producers is the writer's alone (persistent topics).
	producers map[string]*producerState
	deleted   bool // under Store.mu
	log       storage
	sig       signal
	stats     topicStats
}

// state returns the retained range and size, whichever storage.
func (s *Store) state(t *topic) topicState { return t.log.state(t) }

func (s *Store) info(t *topic) TopicInfo {
	st := s.state(t)
	return TopicInfo{Name: t.name, Config: t.cfg, Created: t.created, Start: st.Start, Next: st.Next, Bytes: st.Bytes}
}

// signal wakes every waiter at once: closing a channel is a broadcast, and
// a fresh channel replaces it for the next append.
type signal struct {
	mu sync.Mutex
	ch chan struct{}
}

func (g *signal) wait() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ch == nil {
		g.ch = make(chan struct{})
	}
	return g.ch
}

func (g *signal) wake() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ch != nil {
		close(g.ch)
		g.ch = nil
	}
}
