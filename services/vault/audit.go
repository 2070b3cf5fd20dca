package vault

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/skerry/skerry/services/streamlog/client"
	"github.com/skerry/skerry/services/streamlog/wire"
)

// AuditTopic is the stream log topic of the vault's audit records; the
// uplink ships the system tenant's topics to the tower.
const AuditTopic = "system/vault-audit"

// Event is one audit record: who did what to which secret or key, and
// whether it was allowed.
type Event struct {
	Time    time.Time `json:"time"`
	Who     string    `json:"who"`              // "system", "tenant:acme", "anonymous"
	Tenant  string    `json:"tenant,omitempty"` // whose secrets or keys
	Action  string    `json:"action"`           // "secret.get", "key.encrypt", ...
	Object  string    `json:"object,omitempty"` // "secret/db", "key/pii"
	Allowed bool      `json:"allowed"`
	Outcome string    `json:"outcome"` // "ok" or the error code
}

// Auditor ships events to the stream log without ever blocking the vault:
// Record puts an event in a bounded queue and returns at once; when the
// queue is full (the stream log is down or slow for long) the event is
// dropped and counted (Status.AuditDropped), and the vault's log says so
// once per outage. A nil *Auditor records nothing.
//
// The queue is a slice that holds the backlog only, not a channel of
// AuditQueue slots: a channel's buffer is 450 KB allocated at start, and
// as a ring it ends up all resident in a vault that runs for long.
type Auditor struct {
	mu      sync.Mutex
	q       []Event       // at most AuditQueue; nil when empty
	wake    chan struct{} // a token when q may have events
	dropped atomic.Uint64
	log     *slog.Logger
}

// AuditQueue is the number of events held while the stream log is away.
const AuditQueue = 4096

// NewAuditor returns an auditor; Run ships its events.
func NewAuditor(log *slog.Logger) *Auditor {
	return &Auditor{wake: make(chan struct{}, 1), log: log}
}

// Record queues e.
func (a *Auditor) Record(e Event) {
	if a == nil {
		return
	}
	a.mu.Lock()
	full := len(a.q) >= AuditQueue
	if !full {
		a.q = append(a.q, e)
	}
	a.mu.Unlock()
	if full {
		if a.dropped.Add(1) == 1 {
			a.log.Warn("audit queue full: dropping audit events until the stream log takes them")
		}
		return
	}
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// take removes up to n events from the front of the queue; the queue's
// array is dropped once it is empty.
func (a *Auditor) take(n int) []Event {
	a.mu.Lock()
	defer a.mu.Unlock()
	n = min(n, len(a.q))
	out := slices.Clone(a.q[:n])
	if a.q = a.q[n:]; len(a.q) == 0 {
		a.q = nil
	}
	return out
}

// Dropped counts events dropped so far.
func (a *Auditor) Dropped() uint64 {
	if a == nil {
		return 0
	}
	return a.dropped.Load()
}

// Run sends queued events to the stream log at c in batches, as an
// idempotent producer (a batch whose answer was lost is stored once),
// retrying with backoff while the stream log is away, until ctx ends.
func (a *Auditor) Run(ctx context.Context, c *client.Client) {
	id := make([]byte, 12)
	rand.Read(id)
	producer := "vault-" + hex.EncodeToString(id)
	var seq uint64
	topicMade := false
	var batch []wire.Record
	backoff := 100 * time.Millisecond
	for {
		for _, e := range a.take(256 - len(batch)) {
			batch = append(batch, auditRecord(e))
		}
		if len(batch) == 0 {
			select {
			case <-ctx.Done():
				return
			case <-a.wake:
			}
			continue
		}
		err := func() error {
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			if !topicMade {
				_, err := c.CreateTopic(cctx, AuditTopic, wire.TopicConfig{})
				if err != nil && !errors.Is(err, wire.ErrTopicExists) {
					return err
				}
				topicMade = true
			}
			_, err := c.Append(cctx, AuditTopic, producer, seq, batch)
			return err
		}()
		if err != nil {
			if backoff == 100*time.Millisecond {
				a.log.Warn("audit: stream log unavailable; queueing audit events", "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 30*time.Second)
			continue
		}
		seq += uint64(len(batch))
		batch, backoff = batch[:0], 100*time.Millisecond
		if a.dropped.Load() > 0 {
			a.log.Warn("audit: stream log back", "dropped_so_far", a.dropped.Load())
		}
	}
}

func auditRecord(e Event) wire.Record {
	v, _ := json.Marshal(e)
	return wire.Record{Time: e.Time, Key: []byte(e.Tenant), Value: v}
}
