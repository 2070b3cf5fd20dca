package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/skerry/skerry/services/streamlog/wire"
)

// Producer batches records for one topic and sends them as an idempotent
// producer: each batch carries the producer id and the sequence number of
// its first record, and a batch whose answer was lost is resent with the
// same numbers, so it is stored once. One batch is in flight at a time,
// which keeps sequence numbers in order; records sent meanwhile form the
// next batch, so batches grow with load.
type Producer struct {
	c     *Client
	topic string
	id    string
	o     ProducerOptions

	mu      sync.Mutex
	pending []wire.Record
	waiters []*Result
	seq     uint64
	kick    chan struct{}
	closed  bool
	done    chan struct{}
}

// ProducerOptions tune a Producer.
type ProducerOptions struct {
	// ID identifies the producer; a random one by default. Reusing an id
	// across restarts requires starting from the next sequence (Seq).
	ID  string
	Seq uint64
	// MaxBatch bounds records per request (default 1000).
	MaxBatch int
	// Retries of a failed batch on network errors (default 5).
	Retries int
}

// Result is the outcome of one record, known once its batch is answered.
type Result struct {
	done   chan struct{}
	Offset uint64
	Err    error
}

// Done is closed when the result is known.
func (r *Result) Done() <-chan struct{} { return r.done }

// Wait waits for the result.
func (r *Result) Wait(ctx context.Context) (uint64, error) {
	select {
	case <-r.done:
		return r.Offset, r.Err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// NewProducer starts a producer for topic name.
func (c *Client) NewProducer(name string, o ProducerOptions) *Producer {
	if o.ID == "" {
		b := make([]byte, 12)
		rand.Read(b)
		o.ID = hex.EncodeToString(b)
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 1000
	}
	if o.Retries <= 0 {
		o.Retries = 5
	}
	p := &Producer{c: c, topic: name, id: o.ID, o: o, seq: o.Seq, kick: make(chan struct{}, 1), done: make(chan struct{})}
	go p.run()
	return p
}

// ErrProducerClosed is the result of records sent after Close.
var ErrProducerClosed = errors.New("producer closed")

// Send queues rec; its Result says where it was stored.
func (p *Producer) Send(rec wire.Record) *Result {
	r := &Result{done: make(chan struct{})}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		r.Err = ErrProducerClosed
		close(r.done)
		return r
	}
	p.pending = append(p.pending, rec)
	p.waiters = append(p.waiters, r)
	p.mu.Unlock()
	select {
	case p.kick <- struct{}{}:
	default:
	}
	return r
}

// Close sends what is queued and stops the producer.
func (p *Producer) Close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	select {
	case p.kick <- struct{}{}:
	default:
	}
	<-p.done
}

func (p *Producer) run() {
	defer close(p.done)
	for {
		p.mu.Lock()
		n := min(len(p.pending), p.o.MaxBatch)
		closed := p.closed
		recs, waiters := p.pending[:n:n], p.waiters[:n:n]
		p.pending, p.waiters = p.pending[n:], p.waiters[n:]
		seq := p.seq
		p.seq += uint64(n)
		p.mu.Unlock()
		if n == 0 {
			if closed {
				return
			}
			<-p.kick
			continue
		}
		ack, err := p.send(seq, recs)
		var we *wire.Error
		if errors.As(err, &we) {
			// The server refused the batch: it was not stored, so the next
			// batch takes its sequence numbers (else it would see a gap).
			p.mu.Lock()
			p.seq -= uint64(n)
			p.mu.Unlock()
		}
		for i, w := range waiters {
			w.Offset, w.Err = ack.First+uint64(i), err
			close(w.done)
		}
	}
}

// send retries on transport errors only; an API error (topic full, record
// too large...) is the answer.
func (p *Producer) send(seq uint64, recs []wire.Record) (wire.Ack, error) {
	var err error
	for attempt := 0; attempt <= p.o.Retries; attempt++ {
		if attempt > 0 {
			time.Sleep(time.Duration(attempt*attempt) * 50 * time.Millisecond)
		}
		var ack wire.Ack
		ack, err = p.c.Append(context.Background(), p.topic, p.id, seq, recs)
		var we *wire.Error
		if err == nil || (errors.As(err, &we) && we.Code != wire.ErrUnavailable.Code) {
			return ack, err
		}
	}
	return wire.Ack{}, fmt.Errorf("produce to %s after %d attempts: %w", p.topic, p.o.Retries+1, err)
}
