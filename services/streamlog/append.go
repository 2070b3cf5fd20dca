package streamlog

import (
	"context"
	"fmt"
)

// appendReq is one producer's batch on its way through the writer.
type appendReq struct {
	t    *topic
	b    Batch
	enc  [][]byte // stored forms, time filled in by the writer
	size int64    // bytes counted against retention
	ack  Ack
	err  error
	done chan struct{}
}

// Append appends a batch to topic name and returns once it is durable: for
// a persistent topic after the group commit that holds it was fsynced. If
// ctx ends first the batch may still be stored; retrying it with the same
// producer id and sequence is safe.
func (s *Store) Append(ctx context.Context, name string, b Batch) (Ack, error) {
	t, err := s.lookup(name)
	if err != nil {
		return Ack{}, err
	}
	if len(b.Records) == 0 {
		return Ack{}, fmt.Errorf("%w: no records for %s", ErrBadBatch, t.name)
	}
	if len(b.Producer) > MaxProducerIDLen {
		return Ack{}, fmt.Errorf("%w: producer id of %d bytes, at most %d", ErrBadBatch, len(b.Producer), MaxProducerIDLen)
	}
	for i := range b.Records {
		if n := b.Records[i].Size(); n > t.cfg.MaxRecordBytes {
			return Ack{}, fmt.Errorf("%w: record %d is %d bytes, %s allows %d (maxRecordBytes)",
				ErrRecordTooLarge, i, n, t.name, t.cfg.MaxRecordBytes)
		}
	}
	ack, err := t.log.append(ctx, t, b)
	if err != nil {
		return Ack{}, err
	}
	if !ack.Duplicate {
		t.stats.appended(len(b.Records), b)
	}
	return ack, nil
}

func (s *Store) appendPersistent(ctx context.Context, t *topic, b Batch) (Ack, error) {
	r := &appendReq{t: t, b: b, enc: make([][]byte, len(b.Records)), done: make(chan struct{})}
	// Encode here, in the producer's goroutine, so that the single writer
	// only copies bytes into bbolt and stays the fast part.
	for i := range b.Records {
		r.enc[i] = encodeStored(make([]byte, 0, 8+16+b.Records[i].Size()), 0, &b.Records[i])
		r.size += int64(len(r.enc[i]) + storedOverhead)
	}
	if r.size > s.o.maxBatchBytes {
		return Ack{}, fmt.Errorf("%w: batch of %d bytes for %s, at most %d per batch: split it", ErrBadBatch, r.size, t.name, s.o.maxBatchBytes)
	}
	select {
	case s.reqs <- r:
	case <-ctx.Done():
		return Ack{}, fmt.Errorf("append to %s: %w", t.name, ctx.Err())
	case <-s.quit:
		return Ack{}, ErrClosed
	}
	select {
	case <-r.done:
		return r.ack, r.err
	case <-ctx.Done():
		return Ack{}, fmt.Errorf("append to %s: %w", t.name, ctx.Err())
	case <-s.done:
		return Ack{}, ErrClosed
	}
}
