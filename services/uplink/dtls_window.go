package uplink

import (
	"context"
	"fmt"
	"time"

	"github.com/skerry/skerry/services/api/uplinkapi"
)

// inFlight is a batch sent and not yet covered by the hub's high-water mark.
type inFlight struct {
	b        uplinkapi.Batch
	sent     time.Time // last transmission
	stamp    uint64    // the link's clock at it
	deadline time.Time // retransmit then
}

func (f *inFlight) first() uint64 { return f.b.Records[0].Offset }
func (f *inFlight) last() uint64  { return f.b.Records[len(f.b.Records)-1].Offset }

// window is one topic's sender over a DTLS link.
type window struct {
	r       *replicator
	l       *dtlsLink
	commits chan uint64

	queue  []uplinkapi.Batch // read and split, not sent yet
	flight []*inFlight       // sent, oldest first
	next   uint64            // the hub's high-water mark as last answered
	since  time.Time         // when the oldest in flight started waiting
	heard  bool              // an answer set next (else it is our cursor)

	chunks     chan chunk
	stopReader context.CancelFunc
	buf        []byte
}

// windowed replicates one topic over the session's DTLS link from offset
// from until ctx ends or the link fails. The stream log reader runs ahead;
// its chunks are cut into datagram-sized batches, up to Window of them are
// in flight, each answer's high-water mark retires what it covers and moves
// the cursor, and a batch is sent again when its timer (the link's RTO)
// fires or when an answer to a later batch stops at its first offset (the
// hub stores what is contiguous at once: it does not have this one).
func (r *replicator) windowed(ctx context.Context, from uint64, commits chan uint64) error {
	w := &window{r: r, l: r.dl, commits: commits, next: from}
	answers := w.l.register(r.name)
	defer w.l.unregister(r.name)
	w.restart(ctx, from)
	defer func() { w.stopReader() }()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		if err := w.fill(ctx); err != nil {
			return err
		}
		var chunks chan chunk
		if len(w.queue) == 0 && len(w.flight) < w.l.win {
			chunks = w.chunks
		}
		timer.Reset(w.wake())
		select {
		case <-ctx.Done():
			return ctx.Err()
		case c := <-chunks:
			if c.err != nil {
				return c.err
			}
			if err := w.split(c); err != nil {
				return err
			}
		case a := <-answers:
			if err := w.answer(ctx, a); err != nil {
				return err
			}
		case <-timer.C:
			if err := w.expire(); err != nil {
				return err
			}
		}
	}
}

// restart reads from off on, dropping what was read or sent.
func (w *window) restart(ctx context.Context, off uint64) {
	if w.stopReader != nil {
		w.stopReader()
	}
	rctx, cancel := context.WithCancel(ctx)
	w.stopReader = cancel
	w.chunks = make(chan chunk, 1)
	w.queue, w.flight = nil, nil
	go w.r.reader(rctx, off, w.chunks)
}

// split cuts a chunk into batches that fit a datagram.
func (w *window) split(c chunk) error {
	r := w.r
	base := uplinkapi.Batch{Site: r.u.c.Site, Tenant: r.tenant, Topic: r.topic, Epoch: r.epoch}
	room := w.l.mtu - uplinkapi.DatagramOverhead(&base)
	from := c.from
	for i := 0; i < len(c.recs); {
		j, size := i, 0
		for j < len(c.recs) {
			s := uplinkapi.EncodedSize(&c.recs[j])
			if size+s > room {
				break
			}
			size += s
			j++
		}
		if j == i {
			return fmt.Errorf("record %d of %s takes %d bytes, more than a DTLS datagram holds (%d of -dtls-mtu %d): send this topic over MQTT",
				c.recs[i].Offset, r.name, uplinkapi.EncodedSize(&c.recs[i]), room, w.l.mtu)
		}
		b := base
		b.From, b.Records = from, c.recs[i:j]
		w.queue = append(w.queue, b)
		from, i = c.recs[j-1].Offset+1, j
	}
	return nil
}

// fill sends queued batches while the window has room and the gate lets
// this topic's priority through.
func (w *window) fill(ctx context.Context) error {
	for len(w.queue) > 0 && len(w.flight) < w.l.win {
		if len(w.flight) == 0 {
			if err := w.r.u.gate.wait(ctx, w.r.rule.Priority); err != nil {
				return err
			}
		} else if w.r.u.gate.blocked(w.r.rule.Priority) {
			return nil
		}
		f := &inFlight{b: w.queue[0]}
		w.queue = w.queue[1:]
		if len(w.flight) == 0 {
			w.since = time.Now()
		}
		w.flight = append(w.flight, f)
		if err := w.send(f); err != nil {
			return err
		}
		w.r.u.sent.Add(uint64(len(f.b.Records)))
	}
	return nil
}

func (w *window) send(f *inFlight) error {
	now := time.Now()
	rto, _ := w.l.rtt.get()
	f.sent, f.deadline, f.stamp = now, now.Add(rto), w.l.stamp(now)
	w.buf = uplinkapi.AppendBatchDatagram(w.buf[:0], f.stamp, &f.b)
	if _, err := w.l.conn.Write(w.buf); err != nil {
		return &linkError{fmt.Errorf("dtls write: %w", err)}
	}
	recs := f.b.Records
	w.r.u.c.Monitor.sent(w.r.name, recs[0].Offset, recs[len(recs)-1].Offset, len(recs), len(w.buf))
	return nil
}

// wake is how long until the oldest timer fires.
func (w *window) wake() time.Duration {
	d := time.Hour
	for _, f := range w.flight {
		d = min(d, time.Until(f.deadline))
	}
	if len(w.flight) > 0 { // and in time to see a silent hub
		d = min(d, time.Until(w.since.Add(w.r.u.c.AckTimeout))+time.Millisecond)
	}
	return max(d, time.Millisecond)
}

// expire sends again what timed out; the oldest one timing out backs the
// link's RTO off. A hub silent for the ack timeout ends the session.
func (w *window) expire() error {
	if len(w.flight) > 0 {
		if time.Since(w.since) > w.r.u.c.AckTimeout {
			if err := w.l.silent(); err != nil {
				return err
			}
		}
	}
	now := time.Now()
	for i, f := range w.flight {
		if now.Before(f.deadline) {
			continue
		}
		if i == 0 {
			w.l.rtt.backoff()
		}
		w.l.retransmits.Add(1)
		if err := w.send(f); err != nil {
			return err
		}
	}
	return nil
}

// answer applies the hub's answer: its high-water mark retires batches;
// an answer that names the first offset in flight again counts towards a
// fast retransmission.
func (w *window) answer(ctx context.Context, a dtlsAnswer) error {
	w.l.sampleRTT(a)
	ack := a.ack
	switch ack.Status {
	case uplinkapi.StatusStored, uplinkapi.StatusGap:
	case uplinkapi.StatusRetry:
		w.r.u.c.Logger.Warn("hub could not store; its batches go again on their timers", "topic", w.r.name, "err", ack.Message)
		return nil
	default:
		// Refused: never skip records silently. Hold this topic (the
		// others go on) and try again later, loudly.
		w.r.u.c.Logger.Error("parent refused a batch: holding the topic, trying again in 30 s", "topic", w.r.name, "code", ack.Code, "err", ack.Message)
		select {
		case <-time.After(30 * time.Second):
		case <-ctx.Done():
			return ctx.Err()
		}
		w.restart(ctx, w.next)
		return nil
	}
	if ack.Status == uplinkapi.StatusStored {
		w.r.u.acked.Add(uint64(ack.Stored))
		w.r.u.c.Monitor.stored(w.r.name, ack.Stored, ack.Next)
		if ack.Lost > 0 {
			w.r.u.c.Logger.Warn("records dropped on the site before they went up", "topic", w.r.name, "count", ack.Lost)
		}
	}
	if ack.Next < w.next {
		if w.heard {
			// An older answer overtaken by a newer one: the hub's mark
			// only grows (what it stored stays stored).
			return nil
		}
		// The first answer is behind our cursor (the hub lost data):
		// send again from where it is.
		w.r.u.c.Logger.Warn("hub is behind the cursor: resuming at its high-water mark", "topic", w.r.name, "cursor", w.next, "next", ack.Next)
		w.next, w.heard = ack.Next, true
		w.restart(ctx, ack.Next)
		return nil
	}
	w.heard = true
	advanced := ack.Next > w.next
	if advanced {
		w.next = ack.Next
		publish(w.commits, ack.Next)
		w.since = a.at
	}
	// Retire what the mark covers.
	i := 0
	for i < len(w.flight) && w.flight[i].last() < w.next {
		i++
	}
	w.flight = w.flight[i:]
	switch {
	case len(w.flight) > 0 && ack.Next < w.flight[0].first(),
		len(w.flight) == 0 && len(w.queue) > 0 && ack.Next < w.queue[0].Records[0].Offset:
		// The hub wants records we no longer hold in flight (a batch it
		// refused to buffer, an earlier session's end): read from there.
		w.r.u.c.Logger.Info("hub wants earlier records: resuming at its high-water mark", "topic", w.r.name, "next", ack.Next)
		w.restart(ctx, ack.Next)
	case len(w.flight) > 0 && ack.Next == w.flight[0].first() && a.stamp > w.flight[0].stamp:
		// The hub stores every contiguous run at once, so a mark that
		// stops at our oldest batch, in an answer to a batch sent after
		// it, says the batch was lost (the path keeps order; RACK's
		// reasoning, RFC 8985): send it now rather than on its timer.
		w.l.retransmits.Add(1)
		return w.send(w.flight[0])
	}
	if len(w.flight) == 0 && len(w.queue) > 0 && w.next > w.queue[0].Records[0].Offset {
		// The hub is ahead of what we read (it had these already).
		w.restart(ctx, w.next)
	}
	return nil
}

// blocked says whether a topic above priority p has a backlog.
func (g *gate) blocked(p int) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	for q, n := range g.backlog {
		if q > p && n > 0 {
			return true
		}
	}
	return false
}
