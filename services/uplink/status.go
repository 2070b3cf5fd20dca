package uplink

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/skerry/skerry/services/api/uplinkapi"
	"github.com/skerry/skerry/services/streamlog/client"
	"github.com/skerry/skerry/services/streamlog/wire"
)

// Monitor keeps what the status API reports: the connection state and,
// per topic, what was sent and acknowledged. It outlives the Uplinks it
// watches (a new parent starts a new one), so its counters run from the
// process's start. Lag is not counted: Status reads it from the site's
// stream log, so it is right even when nothing runs.
type Monitor struct {
	log   *client.Client
	rules Rules

	mu      sync.Mutex
	st      uplinkapi.Status // without Topics
	topics  map[string]*counters
	changed chan struct{} // closed when State or Parent changes
}

// NewMonitor returns a monitor whose Status lists log's topics that rules
// send up. log may be nil: Status then lists only what was sent.
func NewMonitor(log *client.Client, rules Rules) *Monitor {
	return &Monitor{log: log, rules: rules, topics: map[string]*counters{}, changed: make(chan struct{}),
		st: uplinkapi.Status{State: uplinkapi.StateConnecting, Since: time.Now().UTC()}}
}

// SetState records the connection state and why it is not connected.
func (m *Monitor) SetState(state, reason string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.st.State != state {
		m.st.State, m.st.Since = state, time.Now().UTC()
		m.signal()
	}
	m.st.Reason = reason
}

// SetParent records the site and the parent it sends to.
func (m *Monitor) SetParent(site, parent, from string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.st.Site != site || m.st.Parent != parent || m.st.ParentFrom != from {
		m.st.Site, m.st.Parent, m.st.ParentFrom = site, parent, from
		m.signal()
	}
}

// signal wakes Report; m.mu is held.
func (m *Monitor) signal() {
	close(m.changed)
	m.changed = make(chan struct{})
}

// linkFailed records the error that ended a session.
func (m *Monitor) linkFailed(err error) {
	if err == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.st.LastError = err.Error()
}

// counters are one topic's figures.
type counters struct {
	records, bytes, acked, retransmissions uint64
	// sentNext is one past the highest offset published: a batch starting
	// below it is a retransmission. ackNext is the parent's last
	// high-water mark, which may be ahead of the committed cursor.
	sentNext, ackNext uint64
	lastAck           time.Time
}

func (m *Monitor) topic(name string) *counters {
	c := m.topics[name]
	if c == nil {
		c = &counters{}
		m.topics[name] = c
	}
	return c
}

// sent counts a batch of records [first, last] of topic name published
// in n payload bytes.
func (m *Monitor) sent(name string, first, last uint64, records, n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.topic(name)
	if first < c.sentNext {
		c.retransmissions++
	}
	c.sentNext = max(c.sentNext, last+1)
	c.records += uint64(records)
	c.bytes += uint64(n)
}

// stored counts the parent's "stored" answer for topic name.
func (m *Monitor) stored(name string, records int, next uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.topic(name)
	c.acked += uint64(records)
	c.ackNext = next
	c.lastAck = time.Now().UTC()
}

// Status returns the state and, per topic the rules send up, the lag read
// from the site's stream log and the counters. A topic whose lag cannot
// be read says so in its Error.
func (m *Monitor) Status(ctx context.Context) uplinkapi.Status {
	m.mu.Lock()
	st := m.st
	m.mu.Unlock()
	st.Topics = []uplinkapi.TopicStatus{}
	var infos []wire.TopicInfo
	if m.log != nil {
		var err error
		if infos, err = m.log.Topics(ctx, ""); err != nil {
			st.Topics = append(st.Topics, uplinkapi.TopicStatus{Topic: "*/*", Error: "list the site's topics: " + err.Error()})
		}
	}
	seen := map[string]bool{}
	now := time.Now()
	for _, info := range infos {
		rule, ok := m.rules.Lookup(info.Name)
		if !ok || info.Config.Volatile {
			continue
		}
		seen[info.Name] = true
		ts := m.topicStatus(info.Name, st.Parent, rule.Priority)
		m.lag(ctx, &ts, info, now)
		st.Topics = append(st.Topics, ts)
	}
	// Topics sent but not listed (deleted since, or the list failed) keep
	// their counters.
	m.mu.Lock()
	var gone []string
	for name := range m.topics {
		if !seen[name] {
			gone = append(gone, name)
		}
	}
	m.mu.Unlock()
	slices.Sort(gone)
	for _, name := range gone {
		rule, _ := m.rules.Lookup(name)
		st.Topics = append(st.Topics, m.topicStatus(name, st.Parent, rule.Priority))
	}
	return st
}

func (m *Monitor) topicStatus(name, parent string, priority int) uplinkapi.TopicStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	ts := uplinkapi.TopicStatus{Topic: name, Parent: parent, Priority: priority}
	if c := m.topics[name]; c != nil {
		ts.RecordsSent, ts.BytesSent, ts.RecordsAcked = c.records, c.bytes, c.acked
		ts.Retransmissions, ts.LastAck = c.retransmissions, c.lastAck
	}
	return ts
}

// lag fills in the records the parent has not stored (from the durable
// cursor, or the parent's newer high-water mark) and the age of the oldest.
func (m *Monitor) lag(ctx context.Context, ts *uplinkapi.TopicStatus, info wire.TopicInfo, now time.Time) {
	var next uint64
	cur, err := m.log.Cursor(ctx, info.Name, "uplink")
	switch {
	case err == nil:
		next = cur.Offset
	case !errors.Is(err, wire.ErrCursorNotFound):
		ts.Error = "read the uplink cursor: " + err.Error()
		return
	}
	m.mu.Lock()
	if c := m.topics[info.Name]; c != nil {
		next = max(next, c.ackNext)
	}
	m.mu.Unlock()
	// Records retention dropped before they went up are not waiting.
	next = max(next, info.Start)
	if next >= info.Next {
		return
	}
	ts.LagRecords = info.Next - next
	recs, err := m.log.Read(ctx, info.Name, client.From{Offset: next}, 1)
	if err != nil {
		ts.Error = "read the oldest record not stored at the parent: " + err.Error()
		return
	}
	if len(recs) > 0 && !recs[0].Time.IsZero() {
		ts.LagSeconds = max(0, now.Sub(recs[0].Time).Seconds())
	}
}
