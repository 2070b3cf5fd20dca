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
//
// A batch the service did not answer (it is restarting, the box rebooted)
// is kept and resent, with the same sequence, until it is answered or the
// producer's context ends: however long the service is away, the producer
// neither loses the batch nor skips its sequence numbers. The sequence
// advances only when the service acknowledged a batch; a batch it refused
// (record_too_large, topic_full...) was not stored and gives its numbers
// to the next one.
type Producer struct {
	c     *Client
	ctx   context.Context
	topic string
	id    string
	o     ProducerOptions
	seq   uint64 // next sequence; the run goroutine's alone

	mu      sync.Mutex
	pending []wire.Record
	waiters []*Result
	kick    chan struct{}
	closed  bool
	err     error // why Send refuses: ErrProducerClosed or the context's error
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
	// MaxBackoff bounds the wait between two attempts to send a batch the
	// service did not answer (default 2s).
	MaxBackoff time.Duration
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

// NewProducer starts a producer for topic name. It sends until ctx ends:
// then the records not yet acknowledged fail with ctx's error (the batch in
// flight may or may not be stored; resending it with the same id and
// sequence is safe) and Send refuses more.
func (c *Client) NewProducer(ctx context.Context, name string, o ProducerOptions) *Producer {
	if o.ID == "" {
		b := make([]byte, 12)
		rand.Read(b)
		o.ID = hex.EncodeToString(b)
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 1000
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 2 * time.Second
	}
	p := &Producer{c: c, ctx: ctx, topic: name, id: o.ID, o: o, seq: o.Seq, kick: make(chan struct{}, 1), done: make(chan struct{})}
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
		err := p.err
		p.mu.Unlock()
		r.Err = err
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

// Close sends what is queued and stops the producer. While the service is
// away it waits for it, up to the end of the producer's context.
func (p *Producer) Close() {
	p.mu.Lock()
	if !p.closed {
		p.closed, p.err = true, ErrProducerClosed
	}
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
		p.mu.Unlock()
		if n == 0 {
			if closed {
				return
			}
			select {
			case <-p.kick:
			case <-p.ctx.Done():
				p.stop()
				return
			}
			continue
		}
		ack, err := p.send(p.seq, recs)
		if err == nil {
			p.seq += uint64(n)
		}
		for i, w := range waiters {
			w.Offset, w.Err = ack.First+uint64(i), err
			close(w.done)
		}
		if p.ctx.Err() != nil {
			p.stop()
			return
		}
	}
}

// stop refuses further records and fails the queued ones with the
// context's error.
func (p *Producer) stop() {
	err := fmt.Errorf("produce to %s: %w", p.topic, p.ctx.Err())
	p.mu.Lock()
	p.closed, p.err = true, err
	waiters := p.waiters
	p.pending, p.waiters = nil, nil
	p.mu.Unlock()
	for _, w := range waiters {
		w.Err = err
		close(w.done)
	}
}

// send resends the batch, with the same sequence, until the service
// answers it or the context ends; the answer may be an API error (topic
// full, record too large...). Only unavailable and busy, which say the
// service did not look at the batch, are retried like a lost connection.
func (p *Producer) send(seq uint64, recs []wire.Record) (wire.Ack, error) {
	for attempt := 0; ; attempt++ {
		ack, err := p.c.Append(p.ctx, p.topic, p.id, seq, recs)
		var we *wire.Error
		if err == nil || (errors.As(err, &we) && we.Code != wire.ErrUnavailable.Code && we.Code != wire.ErrBusy.Code) {
			return ack, err
		}
		wait := min(time.Duration(attempt*attempt+1)*50*time.Millisecond, p.o.MaxBackoff)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-p.ctx.Done():
			t.Stop()
			return wire.Ack{}, fmt.Errorf("produce to %s after %d attempts: %w (last: %v)", p.topic, attempt+1, p.ctx.Err(), err)
		}
	}
}
