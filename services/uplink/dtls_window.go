package uplink

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/skerry/skerry/services/api/uplinkapi"
)

// inFlight is a batch sent and not yet covered by the hub's high-water mark.
type inFlight struct {
	b        uplinkapi.Batch
	sent     time.Time // last transmission
	stamp    uint64    // the link's clock at it
	deadline time.Time // retransmit then, unless held
	held     bool      // the hub's last answer listed it as held past its mark
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
	pipe   int               // of flight, those not held by the hub
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
// the cursor, its held ranges mark what the hub has past the mark, and a
// batch neither covers is sent again when its timer (the link's RTO) fires
// or as soon as an answer to a batch sent after it leaves it out (the path
// keeps order: the hub does not have it).
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
		if len(w.queue) == 0 && w.room() {
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
	w.queue, w.flight, w.pipe = nil, nil, 0
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

// room says whether another batch may go: at most the window of batches
// the hub does not hold (in the network, or lost), and none further than
// the hub holds past its mark.
func (w *window) room() bool {
	return w.pipe < w.l.win && len(w.flight) < uplinkapi.HeldBatches
}

// fill sends queued batches while the window has room and the gate lets
// this topic's priority through.
func (w *window) fill(ctx context.Context) error {
	for len(w.queue) > 0 && w.room() {
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
		w.pipe++
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
		if !f.held {
			d = min(d, time.Until(f.deadline))
		}
	}
	if len(w.flight) > 0 { // and in time to see a silent hub
		d = min(d, time.Until(w.since.Add(w.r.u.c.AckTimeout))+time.Millisecond)
	}
	return max(d, time.Millisecond)
}

// expire sends again what timed out and the hub does not hold; the oldest
// of those timing out backs the link's RTO off. A hub silent for the ack
// timeout ends the session.
func (w *window) expire() error {
	if len(w.flight) > 0 {
		if time.Since(w.since) > w.r.u.c.AckTimeout {
			if err := w.l.silent(); err != nil {
				return err
			}
		}
	}
	now := time.Now()
	oldest := true
	for _, f := range w.flight {
		if f.held {
			continue
		}
		if now.Before(f.deadline) {
			oldest = false
			continue
		}
		if oldest {
			w.l.rtt.backoff()
			oldest = false
		}
		if err := w.resend(f); err != nil {
			return err
		}
	}
	return nil
}

func (w *window) resend(f *inFlight) error {
	w.l.retransmits.Add(1)
	return w.send(f)
}

// answer applies the hub's answer: its high-water mark retires batches,
// its held ranges mark batches the hub has, and what neither covers and
// was sent before the batch the answer is stamped with is sent again.
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
	if ack.Next > w.next {
		w.next = ack.Next
		publish(w.commits, ack.Next)
		w.since = a.at
	}
	// Retire what the mark covers.
	i := 0
	for i < len(w.flight) && w.flight[i].last() < w.next {
		if !w.flight[i].held {
			w.pipe--
		}
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
		return nil
	case len(w.flight) == 0 && len(w.queue) > 0 && w.next > w.queue[0].Records[0].Offset:
		// The hub is ahead of what we read (it had these already).
		w.restart(ctx, w.next)
		return nil
	}
	return w.repair(a)
}

// repair marks the batches the answer lists as held and sends again at
// once those it shows missing: sent before the batch the answer is stamped
// with (which the hub received, and the path keeps order: RACK's
// reasoning, RFC 8985), and neither stored nor held. Only as far as the
// answer knows: a list cut short says nothing past its end, and an answer
// without a list ("SKA1") only that the oldest batch is missing (the hub
// stores every contiguous run at once).
func (w *window) repair(a dtlsAnswer) error {
	held := a.sack.Held
	limit := uint64(math.MaxUint64)
	switch {
	case a.sack.Complete:
	case len(held) > 0:
		limit = held[len(held)-1].Last
	case len(w.flight) > 0:
		limit = w.flight[0].last()
	}
	for _, f := range w.flight {
		if f.last() > limit {
			break
		}
		for len(held) > 0 && held[0].Last < f.first() {
			held = held[1:]
		}
		was := f.held
		f.held = len(held) > 0 && held[0].First <= f.first() && f.last() <= held[0].Last
		switch {
		case f.held && !was:
			w.pipe--
		case !f.held && was:
			w.pipe++
		}
		if f.held || f.stamp >= a.stamp {
			continue
		}
		if err := w.resend(f); err != nil {
			return err
		}
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
