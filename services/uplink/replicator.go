package uplink

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/skerry/skerry/services/api/uplinkapi"
	"github.com/skerry/skerry/services/streamlog/client"
	"github.com/skerry/skerry/services/streamlog/wire"
)

// replicator sends one topic up for the length of a session.
type replicator struct {
	u     *Uplink
	pc    *paho.Client
	dl    *dtlsLink // instead of pc: see dtls_window.go
	name  string
	epoch uint64 // the topic's creation time, unix ns
	rule  Rule

	tenant, topic string
	buf           []byte

	mu      sync.Mutex
	backlog bool // counted in the gate
}

// errHaveRecords ends a tail once its first frame arrived.
var errHaveRecords = errors.New("records arrived")

// run replicates until ctx ends or the link fails (which ends the
// session). A failure on the site's side (a read, the cursor, a topic
// deleted meanwhile) holds only this topic: it is tried again after a
// backoff while the other topics go on.
func (r *replicator) run(ctx context.Context) error {
	wait := time.Second
	for {
		err := r.replicate(ctx)
		var le *linkError
		if ctx.Err() != nil || errors.As(err, &le) {
			return err
		}
		r.u.c.Logger.Warn("topic held after a site log error; trying again", "topic", r.name, "err", err, "in", wait)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil
		}
		wait = min(2*wait, time.Minute)
	}
}

// linkError is a failure of the connection to the parent.
type linkError struct{ err error }

func (e *linkError) Error() string { return e.err.Error() }
func (e *linkError) Unwrap() error { return e.err }

func (r *replicator) replicate(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx) // ends the committer with this attempt
	defer cancel()
	r.setBacklog(true) // until the first read says otherwise (see discover)
	var ok bool
	if r.tenant, r.topic, ok = cutName(r.name); !ok {
		return fmt.Errorf("topic %q: want tenant/name", r.name)
	}
	defer r.setBacklog(false)
	cur, err := r.u.c.Log.Cursor(ctx, r.name, r.u.c.Consumer)
	switch {
	case errors.Is(err, wire.ErrCursorNotFound):
		cur.Offset = 0
	case err != nil:
		return fmt.Errorf("read cursor of %s: %w", r.name, err)
	}
	commits := make(chan uint64, 1)
	go r.committer(ctx, commits)
	if r.dl != nil {
		return r.windowed(ctx, cur.Offset, commits)
	}
	want := cur.Offset
	for {
		// The reader fetches the next batch while this one is on its way:
		// the site read overlaps the parent's fsync.
		rctx, stopReader := context.WithCancel(ctx)
		chunks := make(chan chunk, 1)
		go r.reader(rctx, want, chunks)
		err := r.consume(ctx, &want, chunks, commits)
		stopReader()
		if !errors.Is(err, errResume) {
			return err
		}
	}
}

// chunk is what the reader fetched: records from offset from on.
type chunk struct {
	from uint64
	recs []wire.Record
	err  error
}

// errResume says the parent wants records from somewhere else than the
// reader is going: start it again there.
var errResume = errors.New("resume elsewhere")

func (r *replicator) reader(ctx context.Context, from uint64, out chan<- chunk) {
	for {
		recs, err := r.fetch(ctx, from)
		select {
		case out <- chunk{from, recs, err}:
		case <-ctx.Done():
			return
		}
		if err != nil {
			return
		}
		from = recs[len(recs)-1].Offset + 1
	}
}

// consume sends what the reader fetched, one batch at a time, and moves
// *want to the parent's high-water mark after each answer.
func (r *replicator) consume(ctx context.Context, want *uint64, chunks <-chan chunk, commits chan uint64) error {
	for {
		var c chunk
		select {
		case c = <-chunks:
		case <-ctx.Done():
			return ctx.Err()
		}
		if c.err != nil {
			return c.err
		}
		if err := r.u.gate.wait(ctx, r.rule.Priority); err != nil {
			return err
		}
		b := uplinkapi.Batch{Site: r.u.c.Site, Tenant: r.tenant, Topic: r.topic, From: c.from, Epoch: r.epoch, Records: c.recs}
		if f := r.u.c.Filter; f != nil {
			b.Records = f.Records(r.name, slices.Clone(c.recs))
		}
		ack, err := r.sendRetrying(ctx, &b)
		if err != nil {
			return err
		}
		switch ack.Status {
		case uplinkapi.StatusStored:
			r.u.acked.Add(uint64(ack.Stored))
			r.u.c.Monitor.stored(r.name, ack.Stored, ack.Next)
			if ack.Lost > 0 {
				r.u.c.Logger.Warn("records dropped on the site before they went up", "topic", r.name, "count", ack.Lost)
			}
			publish(commits, ack.Next)
		case uplinkapi.StatusGap:
			r.u.c.Logger.Info("parent has a gap: resuming at its high-water mark", "topic", r.name, "sent", b.Records[0].Offset, "next", ack.Next)
		default:
			// Refused: never skip records silently. Hold this topic (the
			// others go on) and try again later, loudly.
			r.u.c.Logger.Error("parent refused a batch: holding the topic, trying again in 30 s", "topic", r.name, "offset", b.Records[0].Offset, "code", ack.Code, "err", ack.Message)
			select {
			case <-time.After(30 * time.Second):
			case <-ctx.Done():
				return ctx.Err()
			}
			ack.Next = *want
		}
		// The parent's high-water mark is the truth: after a duplicate it
		// may be ahead of what we sent, after a gap behind.
		*want = ack.Next
		if ack.Status != uplinkapi.StatusStored || ack.Next != c.recs[len(c.recs)-1].Offset+1 {
			return errResume
		}
	}
}

// fetch returns the next records from want on: a read when there is a
// backlog, otherwise it waits on a live tail for the first frame.
func (r *replicator) fetch(ctx context.Context, want uint64) ([]wire.Record, error) {
	recs, err := r.u.c.Log.Read(ctx, r.name, client.From{Offset: want}, r.u.c.MaxBatch)
	if err != nil {
		return nil, fmt.Errorf("read %s from %d: %w", r.name, want, err)
	}
	if len(recs) > 0 {
		r.setBacklog(len(recs) == r.u.c.MaxBatch)
		return recs, nil
	}
	r.setBacklog(false)
	err = r.u.c.Log.Tail(ctx, r.name, client.From{Offset: want}, func(got []wire.Record) error {
		recs = got
		return errHaveRecords
	})
	if errors.Is(err, errHaveRecords) {
		return recs, nil
	}
	return nil, fmt.Errorf("tail %s from %d: %w", r.name, want, err)
}

// sendRetrying sends b until the parent answers anything but retry.
func (r *replicator) sendRetrying(ctx context.Context, b *uplinkapi.Batch) (uplinkapi.Ack, error) {
	wait := 200 * time.Millisecond
	for {
		var ack uplinkapi.Ack
		var err error
		ack, r.buf, err = r.u.send(ctx, r.pc, b, r.buf)
		if err != nil {
			return ack, &linkError{err}
		}
		if ack.Status != uplinkapi.StatusRetry {
			return ack, nil
		}
		r.u.c.Logger.Warn("parent could not store; retrying", "topic", r.name, "err", ack.Message, "in", wait)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return ack, ctx.Err()
		}
		wait = min(2*wait, 10*time.Second)
	}
}

// committer moves the durable cursor to the newest acknowledged offset. It
// runs beside the sender so that a cursor commit (an fsync on the site)
// never holds up the next batch; a cursor that lags after a crash only
// makes the parent drop a few duplicates.
func (r *replicator) committer(ctx context.Context, offsets <-chan uint64) {
	for {
		select {
		case off := <-offsets:
			if err := r.u.c.Log.CommitCursor(ctx, r.name, r.u.c.Consumer, off); err != nil && ctx.Err() == nil {
				r.u.c.Logger.Warn("commit cursor", "topic", r.name, "offset", off, "err", err)
			}
		case <-ctx.Done():
			return
		}
	}
}

// publish replaces whatever offset is waiting in ch by off.
func publish(ch chan uint64, off uint64) {
	select {
	case <-ch:
	default:
	}
	ch <- off
}

func (r *replicator) setBacklog(b bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if b != r.backlog {
		r.backlog = b
		r.u.gate.set(r.rule.Priority, b)
	}
}

func cutName(s string) (tenant, topic string, ok bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '/' {
			return s[:i], s[i+1:], i > 0 && i < len(s)-1
		}
	}
	return "", "", false
}
