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

	stored, duplicates, gaps, refused atomic.Uint64
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

// Counts returns records stored and dropped as duplicates, gaps answered and
// batches refused since start.
func (r *Receiver) Counts() (stored, duplicates, gaps, refused uint64) {
	return r.stored.Load(), r.duplicates.Load(), r.gaps.Load(), r.refused.Load()
}

func (r *Receiver) topic(b *uplinkapi.Batch) (*siteTopic, error) {
	name, err := uplinkapi.HubTopic(b.Site, b.Tenant, b.Topic)
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
func (r *Receiver) Apply(b *uplinkapi.Batch) uplinkapi.Ack {
	t, err := r.topic(b)
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
		hs = append(hs, rec.Headers...)
		site := uplinkapi.SiteHeaders(rec.Offset, rec.Time, b.Epoch)
		hs = append(hs, site[:]...)
		out[i] = streamlog.Record{Key: rec.Key, Headers: hs, Value: rec.Value}
	}
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
