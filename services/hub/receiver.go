package hub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/skerry/skerry/services/api/uplinkapi"
	"github.com/skerry/skerry/services/streamlog"
)

// Receiver applies batches to the hub's stream log: contiguous offsets only,
// overlaps dropped, gaps answered with the high-water mark. It is the
// transport-free half of the hub (the broker hook calls it).
type Receiver struct {
	store *streamlog.Store
	cfg   streamlog.TopicConfig
	log   *slog.Logger

	mu     sync.Mutex
	topics map[string]*siteTopic

	// forwarded says whether a hub topic goes to the parent (nil: no
	// parent): such a topic takes no batch that would push records not yet
	// forwarded out of its retention (see full).
	forwarded func(name string) bool

	stored, duplicates, gaps, refused, full atomic.Uint64
}

// siteTopic is the state of one site topic at the hub. Its mutex is held
// across the append, so batches of a topic are checked against a high-water
// mark no other batch is moving.
type siteTopic struct {
	mu    sync.Mutex
	name  string // the hub's stream log topic
	ready bool   // next is known
	next  uint64 // the next site offset expected
	any   bool   // next is a fact, not a guess (see load)
	epoch uint64 // the site topic's epoch of the stored records; 0: none yet
}

// NewReceiver stores into store; hub topics are created with cfg.
func NewReceiver(store *streamlog.Store, cfg streamlog.TopicConfig, log *slog.Logger) *Receiver {
	return &Receiver{store: store, cfg: cfg, log: log, topics: map[string]*siteTopic{}}
}

// ForwardConsumer is the durable cursor of the hub's forwarding uplink in
// the hub's stream log: records below it are at the parent.
const ForwardConsumer = "uplink"

// HoldUnforwarded makes the receiver answer retry ("full", back-pressure)
// to a batch for a topic that forwarded reports as going to the parent
// when storing it would let the topic's retention drop records not yet
// forwarded (below ForwardConsumer's cursor only may go). Call before the
// first batch.
func (r *Receiver) HoldUnforwarded(forwarded func(name string) bool) { r.forwarded = forwarded }

// Counts returns records stored and dropped as duplicates, gaps answered and
// batches refused since start.
func (r *Receiver) Counts() (stored, duplicates, gaps, refused uint64) {
	return r.stored.Load(), r.duplicates.Load(), r.gaps.Load(), r.refused.Load()
}

// Full counts the batches answered retry because storing them would have
// dropped records not yet forwarded (back-pressure).
func (r *Receiver) Full() uint64 { return r.full.Load() }

func (r *Receiver) topic(b *uplinkapi.Batch, fwd bool) (*siteTopic, error) {
	name, err := uplinkapi.HubTopic(b.Site, b.Tenant, b.Topic)
	if fwd {
		// Stored under the origin site's name: the hub's topic is
		// <origin>.<topic> already.
		var origin, topic string
		if origin, topic, err = uplinkapi.ForwardedTopic(b.Topic); err == nil {
			name, err = uplinkapi.HubTopic(origin, b.Tenant, topic)
		}
	}
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.topics[name]
	if t == nil {
		t = &siteTopic{name: name}
		r.topics[name] = t
	}
	return t, nil
}

// load finds the topic's high-water mark in the store: one past the site
// offset of its last record. A topic whose records were all dropped by the
// hub's retention has no such record; then the next batch is taken as it
// comes (any = false).
func (r *Receiver) load(t *siteTopic) error {
	info, err := r.store.Topic(t.name)
	if errors.Is(err, streamlog.ErrTopicNotFound) {
		if _, err := r.store.CreateTopic(t.name, r.cfg); err != nil {
			return fmt.Errorf("create %s: %w", t.name, err)
		}
		t.next, t.any, t.ready = 0, true, true
		return nil
	}
	if err != nil {
		return err
	}
	switch {
	case info.Next == 0:
		t.next, t.any = 0, true
	case info.Start == info.Next:
		r.log.Warn("every record of the topic was dropped by retention: taking the next batch as it comes", "topic", t.name)
		t.next, t.any = 0, false
	default:
		recs, err := r.store.Read(t.name, info.Next-1, streamlog.ReadOptions{MaxRecords: 1})
		if err != nil || len(recs) == 0 {
			return fmt.Errorf("read last record of %s: %v", t.name, err)
		}
		hs := wireHeaders(recs[0].Headers)
		off, _, ok := uplinkapi.SiteOrigin(hs)
		epoch, eok := uplinkapi.SiteEpoch(hs)
		if hop, hopEpoch, fwd := uplinkapi.Hop(hs); fwd {
			// Forwarded by a hub: the mark is in the hub's offsets.
			off, epoch = hop, hopEpoch
		}
		if !ok || !eok {
			return fmt.Errorf("last record of %s (offset %d) has no %s header: not written by a hub", t.name, recs[0].Offset, uplinkapi.HeaderSiteOffset)
		}
		t.next, t.any, t.epoch = off+1, true, epoch
	}
	t.ready = true
	return nil
}

// Apply stores what is new in b and returns the answer for the site. It
// returns only once the records are fsynced, or with Status retry.
func (r *Receiver) Apply(b *uplinkapi.Batch) uplinkapi.Ack { return r.apply(b, false) }

// ApplyForwarded stores a batch a hub (b.Site) forwarded: records of the
// origin site named by b.Topic (<origin>.<topic>), each carrying the
// origin's offset, time and epoch in its headers. They are stored under the
// origin's name with those headers unchanged; the protocol (duplicates,
// gaps, Next, epoch) runs in the forwarding hub's offsets, kept in
// HeaderHop. Exactly once and in order from the hub means exactly once and
// in order from the origin, since the hub stored them so.
func (r *Receiver) ApplyForwarded(b *uplinkapi.Batch) uplinkapi.Ack { return r.apply(b, true) }

func (r *Receiver) apply(b *uplinkapi.Batch, fwd bool) uplinkapi.Ack {
	if fwd {
		for i := range b.Records {
			hs := b.Records[i].Headers
			_, _, ok := uplinkapi.SiteOrigin(hs)
			if _, eok := uplinkapi.SiteEpoch(hs); !ok || !eok {
				r.refused.Add(1)
				return uplinkapi.Ack{Status: uplinkapi.StatusRefused, Code: uplinkapi.CodeBadBatch,
					Message: fmt.Sprintf("forwarded record %d carries no origin headers (%s, %s, %s)", b.Records[i].Offset, uplinkapi.HeaderSiteOffset, uplinkapi.HeaderSiteTime, uplinkapi.HeaderSiteEpoch)}
			}
		}
	}
	t, err := r.topic(b, fwd)
	if err != nil {
		r.refused.Add(1)
		return uplinkapi.Ack{Status: uplinkapi.StatusRefused, Code: uplinkapi.CodeBadTopic, Message: err.Error()}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.ready {
		if err := r.load(t); err != nil {
			r.log.Error("load topic state", "topic", t.name, "err", err)
			return uplinkapi.Ack{Status: uplinkapi.StatusRetry, Code: uplinkapi.CodeStore, Message: err.Error()}
		}
	}
	if t.epoch != 0 && b.Epoch != t.epoch {
		r.refused.Add(1)
		return uplinkapi.Ack{Status: uplinkapi.StatusRefused, Next: t.next, Code: uplinkapi.CodeEpoch,
			Message: fmt.Sprintf("%s holds records of the site topic created at epoch %d, this batch is of epoch %d: the site's log was reset; move the hub topic aside to take the new one", t.name, t.epoch, b.Epoch)}
	}
	recs := b.Records
	r0 := recs[0].Offset
	var lost uint64
	switch {
	case !t.any:
		// Nothing to compare with: take the batch as it is.
	case r0 > t.next && b.From <= t.next:
		lost = r0 - t.next
		r.log.Warn("site dropped records before they went up", "topic", t.name, "from", t.next, "to", r0)
	case r0 > t.next:
		r.gaps.Add(1)
		return uplinkapi.Ack{Status: uplinkapi.StatusGap, Next: t.next}
	default:
		skip := min(t.next-r0, uint64(len(recs)))
		recs = recs[skip:]
	}
	dups := len(b.Records) - len(recs)
	r.duplicates.Add(uint64(dups))
	if len(recs) == 0 {
		return uplinkapi.Ack{Status: uplinkapi.StatusStored, Next: t.next, Duplicates: dups}
	}
	out := make([]streamlog.Record, len(recs))
	for i, rec := range recs {
		hs := make([]streamlog.Header, 0, len(rec.Headers)+3)
		if fwd {
			// The origin's headers stay; the previous hop's mark is
			// replaced by this one's.
			for _, h := range rec.Headers {
				if h.Key != uplinkapi.HeaderHop {
					hs = append(hs, h)
				}
			}
			hs = append(hs, uplinkapi.HopHeader(rec.Offset, b.Epoch))
		} else {
			hs = append(hs, rec.Headers...)
			site := uplinkapi.SiteHeaders(rec.Offset, rec.Time, b.Epoch)
			hs = append(hs, site[:]...)
		}
		out[i] = streamlog.Record{Key: rec.Key, Headers: hs, Value: rec.Value}
	}
	n, ack := r.room(t, out)
	if n == 0 {
		return ack
	}
	// What does not fit is answered as not stored yet (Next says where
	// the sender resumes).
	recs, out = recs[:n], out[:n]
	// No deadline: an append that timed out might still be committed after
	// we answered, and the high-water mark would be wrong. The store's
	// answer is final (stored, or failed and nothing stored).
	if _, err := r.store.Append(context.Background(), t.name, streamlog.Batch{Records: out}); err != nil {
		if errors.Is(err, streamlog.ErrRecordTooLarge) || errors.Is(err, streamlog.ErrBadBatch) {
			r.refused.Add(1)
			return uplinkapi.Ack{Status: uplinkapi.StatusRefused, Next: t.next, Code: uplinkapi.CodeBadBatch, Message: err.Error()}
		}
		r.log.Error("store batch", "topic", t.name, "err", err)
		return uplinkapi.Ack{Status: uplinkapi.StatusRetry, Next: t.next, Code: uplinkapi.CodeStore, Message: err.Error()}
	}
	t.next, t.any, t.epoch = recs[len(recs)-1].Offset+1, true, b.Epoch
	r.stored.Add(uint64(len(recs)))
	return uplinkapi.Ack{Status: uplinkapi.StatusStored, Next: t.next, Stored: len(recs), Duplicates: dups, Lost: lost}
}

// recordSize is what a record counts against retention, roughly: key,
// headers and value.
func recordSize(rec streamlog.Record) int64 {
	n := len(rec.Key) + len(rec.Value)
	for _, h := range rec.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return int64(n)
}

// room returns how many of out t can store without letting the topic's
// drop-oldest retention drop records the parent does not have yet; with
// none, the answer is retry (code full): the site keeps them in its own log
// meanwhile (back-pressure). The bytes not yet forwarded are estimated from
// the topic's mean record size, and a tenth of the limit is kept as a
// margin for the estimate. A topic with nothing unforwarded always takes
// one record, or a record larger than the margin would wait for ever.
func (r *Receiver) room(t *siteTopic, out []streamlog.Record) (int, uplinkapi.Ack) {
	if r.forwarded == nil || !r.forwarded(t.name) {
		return len(out), uplinkapi.Ack{}
	}
	info, err := r.store.Topic(t.name)
	if err != nil {
		return len(out), uplinkapi.Ack{} // the append reports it
	}
	cur, err := r.store.GetCursor(t.name, ForwardConsumer)
	if err != nil {
		cur.Offset = 0 // nothing forwarded yet
	}
	pending := info.Next - min(info.Next, max(cur.Offset, info.Start))
	var used int64
	if n := info.Next - info.Start; n > 0 && pending > 0 {
		used = int64(float64(info.Bytes) * float64(pending) / float64(n))
	}
	limit := info.Config.MaxBytes - info.Config.MaxBytes/10
	n := 0
	for n < len(out) {
		used += recordSize(out[n])
		if used > limit && (n > 0 || pending > 0) {
			break
		}
		n++
	}
	if n > 0 {
		return n, uplinkapi.Ack{}
	}
	r.full.Add(1)
	return 0, uplinkapi.Ack{Status: uplinkapi.StatusRetry, Next: t.next, Code: uplinkapi.CodeFull,
		Message: fmt.Sprintf("hub topic %s holds about %d bytes not yet forwarded to its parent, at its limit of %d: keep the records and send them again later", t.name, used-recordSize(out[0]), limit)}
}
