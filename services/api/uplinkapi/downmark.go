package uplinkapi

import (
	"fmt"

	"github.com/skerry/skerry/services/streamlog/wire"
)

// DownMark is the receiving side's high-water mark of a downlink topic (a
// site's SiteDownlinkTopic, or a relaying hub's DownlinkTopic of a site
// below it): the parent's next offset and its topic's epoch, read from
// the topic's last record once per session. Take and Took apply the
// protocol to a batch; the caller appends what Take returns and answers.
type DownMark struct {
	Ready bool // loaded in this session
	Known bool // Next holds; false: take the next batch as it comes
	Next  uint64
	Epoch uint64
}

// Load sets the mark from the topic's retained offsets [start, next) and
// its last record (nil when it holds none).
func (m *DownMark) Load(topic string, start, next uint64, last *wire.Record) error {
	*m = DownMark{}
	switch {
	case next == 0:
		m.Known = true
	case start == next:
		// All dropped by retention: take the next batch as it comes.
	case last == nil:
		return fmt.Errorf("read the last record of %s: none", topic)
	default:
		off, _, ok := SiteOrigin(last.Headers)
		epoch, eok := SiteEpoch(last.Headers)
		if !ok || !eok {
			return fmt.Errorf("the last record of %s has no parent offset header", topic)
		}
		m.Next, m.Epoch, m.Known = off+1, epoch, true
	}
	m.Ready = true
	return nil
}

// Take returns the records of b past the mark, each with the parent's
// offset, time and epoch appended as the three site headers, and how many
// it dropped as duplicates; or, when nothing is to be stored, the answer.
func (m *DownMark) Take(b *Batch, topic string) (out []wire.Record, dups int, ack *Ack) {
	if m.Epoch != 0 && b.Epoch != m.Epoch {
		return nil, 0, &Ack{Status: StatusRefused, Next: m.Next, Code: CodeEpoch,
			Message: fmt.Sprintf("%s holds the parent's control records of epoch %d, this batch is of epoch %d", topic, m.Epoch, b.Epoch)}
	}
	recs, r0 := b.Records, b.Records[0].Offset
	switch {
	case !m.Known:
	case r0 > m.Next && b.From > m.Next:
		return nil, 0, &Ack{Status: StatusGap, Next: m.Next}
	case r0 <= m.Next:
		recs = recs[min(m.Next-r0, uint64(len(recs))):]
	}
	dups = len(b.Records) - len(recs)
	if len(recs) == 0 {
		return nil, dups, &Ack{Status: StatusStored, Next: m.Next, Duplicates: dups}
	}
	out = make([]wire.Record, len(recs))
	for i, r := range recs {
		hs := SiteHeaders(r.Offset, r.Time, b.Epoch)
		out[i] = wire.Record{Key: r.Key, Headers: append(append([]wire.Header(nil), r.Headers...), hs[:]...), Value: r.Value}
	}
	return out, dups, nil
}

// Took moves the mark past b once the records Take returned are stored,
// and returns the answer.
func (m *DownMark) Took(b *Batch, stored, dups int) Ack {
	m.Next, m.Known, m.Epoch = b.Records[len(b.Records)-1].Offset+1, true, b.Epoch
	return Ack{Status: StatusStored, Next: m.Next, Stored: stored, Duplicates: dups}
}
