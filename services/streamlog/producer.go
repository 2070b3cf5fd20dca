package streamlog

import (
	"encoding/binary"
	"fmt"
)

// producerWindow is how many recent batches a producer's state remembers.
// A client with up to this many batches in flight can retry any of them
// after a lost acknowledgement and get its original offsets back.
const producerWindow = 8

// maxProducers bounds the producer states kept per topic; the least
// recently used is forgotten first. A forgotten producer's next batch is
// accepted whatever its sequence, as for a new producer.
const maxProducers = 1024

// MaxProducerIDLen bounds a producer id.
const MaxProducerIDLen = 64

type producerBatch struct {
	FirstSeq, LastSeq, FirstOffset uint64
}

// producerState is what the store remembers of one producer on one topic.
type producerState struct {
	LastUsed int64 // unix ns, for eviction
	Batches  []producerBatch
}

// check decides what to do with a batch of n records starting at seq: store
// it (nil, nil), acknowledge it again as a duplicate (ack, nil) or refuse it.
func (p *producerState) check(pid string, seq uint64, n int) (*Ack, error) {
	if p == nil || len(p.Batches) == 0 {
		return nil, nil
	}
	last := p.Batches[len(p.Batches)-1]
	if seq == last.LastSeq+1 {
		return nil, nil
	}
	for _, b := range p.Batches {
		if b.FirstSeq == seq && b.LastSeq == seq+uint64(n)-1 {
			first := b.FirstOffset
			return &Ack{First: first, Last: first + uint64(n) - 1, Duplicate: true}, nil
		}
	}
	if seq > last.LastSeq {
		return nil, fmt.Errorf("%w: producer %q sent sequence %d, expected %d: a batch was lost, resend from %d",
			ErrSequenceGap, pid, seq, last.LastSeq+1, last.LastSeq+1)
	}
	return nil, fmt.Errorf("%w: producer %q sequence %d (last stored %d) is older than the last %d batches the store remembers",
		ErrStaleSequence, pid, seq, last.LastSeq, producerWindow)
}

// record returns a copy of p with the stored batch appended.
func (p *producerState) record(now int64, b producerBatch) *producerState {
	q := &producerState{LastUsed: now}
	if p != nil {
		q.Batches = append(q.Batches, p.Batches...)
	}
	q.Batches = append(q.Batches, b)
	if len(q.Batches) > producerWindow {
		q.Batches = q.Batches[len(q.Batches)-producerWindow:]
	}
	return q
}

func (p *producerState) encode() []byte {
	b := binary.BigEndian.AppendUint64(nil, uint64(p.LastUsed))
	for _, x := range p.Batches {
		b = binary.BigEndian.AppendUint64(b, x.FirstSeq)
		b = binary.BigEndian.AppendUint64(b, x.LastSeq)
		b = binary.BigEndian.AppendUint64(b, x.FirstOffset)
	}
	return b
}

func decodeProducer(b []byte) (*producerState, error) {
	if len(b) < 8 || (len(b)-8)%24 != 0 {
		return nil, fmt.Errorf("decode producer state: %w", errCorrupt)
	}
	p := &producerState{LastUsed: int64(binary.BigEndian.Uint64(b))}
	for b = b[8:]; len(b) > 0; b = b[24:] {
		p.Batches = append(p.Batches, producerBatch{
			binary.BigEndian.Uint64(b), binary.BigEndian.Uint64(b[8:]), binary.BigEndian.Uint64(b[16:]),
		})
	}
	return p, nil
}

// evictProducer returns the least recently used producer id of m.
func evictProducer(m map[string]*producerState) string {
	var id string
	var oldest int64
	for k, p := range m {
		if id == "" || p.LastUsed < oldest {
			id, oldest = k, p.LastUsed
		}
	}
	return id
}
