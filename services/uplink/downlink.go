package uplink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/eclipse/paho.golang/paho"

	"github.com/skerry/skerry/services/api/uplinkapi"
	"github.com/skerry/skerry/services/streamlog/client"
	"github.com/skerry/skerry/services/streamlog/wire"
)

// The downlink is the uplink reversed: the parent sends batches of the
// site's control topic on uplinkapi.DownTopic; they are appended to the
// local topic uplinkapi.SiteDownlinkTopic with the parent's offset, time
// and epoch in the three site headers, and answered as a parent answers
// (stored only after the site's fsync; duplicates dropped; a gap answered
// with the high-water mark). Services consume that topic like any other.

// downState is the high-water mark of the local downlink topic, loaded
// once per session from its last record.
type downState struct {
	ready, any bool
	next       uint64
	epoch      uint64
}

// onDownlink queues a downlink batch for the session's downlink worker;
// when the worker is busy the batch is dropped and the parent sends it
// again after its timeout.
func (u *Uplink) onDownlink(p *paho.Publish) {
	select {
	case u.downCh <- p:
	default:
	}
}

// downlink applies the parent's batches and answers them until ctx ends.
func (u *Uplink) downlink(ctx context.Context, pc *paho.Client) error {
	var st downState
	for {
		var p *paho.Publish
		select {
		case p = <-u.downCh:
		case <-ctx.Done():
			return nil
		}
		ack := u.applyDown(ctx, &st, p.Payload)
		if p.Properties == nil || p.Properties.ResponseTopic == "" {
			continue
		}
		body, _ := json.Marshal(ack)
		u.wmu.Lock()
		_, err := pc.PublishWithOptions(ctx, &paho.Publish{Topic: p.Properties.ResponseTopic, Payload: body,
			Properties: &paho.PublishProperties{CorrelationData: p.Properties.CorrelationData}},
			paho.PublishOptions{Method: paho.PublishMethod_AsyncSend})
		u.wmu.Unlock()
		if err != nil {
			return &linkError{fmt.Errorf("answer downlink: %w", err)}
		}
	}
}

func (u *Uplink) applyDown(ctx context.Context, st *downState, payload []byte) uplinkapi.Ack {
	tenant, topic, _ := cutName(uplinkapi.SiteDownlinkTopic)
	b, err := uplinkapi.DecodeBatch(uplinkapi.BatchTopic(u.c.Site, tenant, topic), payload)
	if err != nil {
		return uplinkapi.Ack{Status: uplinkapi.StatusRefused, Code: uplinkapi.CodeBadBatch, Message: err.Error()}
	}
	if !st.ready {
		if err := u.loadDown(ctx, st); err != nil {
			u.c.Logger.Warn("load downlink topic", "err", err)
			return uplinkapi.Ack{Status: uplinkapi.StatusRetry, Code: uplinkapi.CodeStore, Message: err.Error()}
		}
	}
	if st.epoch != 0 && b.Epoch != st.epoch {
		return uplinkapi.Ack{Status: uplinkapi.StatusRefused, Next: st.next, Code: uplinkapi.CodeEpoch,
			Message: fmt.Sprintf("%s holds the parent's control records of epoch %d, this batch is of epoch %d", uplinkapi.SiteDownlinkTopic, st.epoch, b.Epoch)}
	}
	recs, r0 := b.Records, b.Records[0].Offset
	switch {
	case !st.any:
	case r0 > st.next && b.From > st.next:
		return uplinkapi.Ack{Status: uplinkapi.StatusGap, Next: st.next}
	case r0 <= st.next:
		recs = recs[min(st.next-r0, uint64(len(recs))):]
	}
	dups := len(b.Records) - len(recs)
	if len(recs) == 0 {
		return uplinkapi.Ack{Status: uplinkapi.StatusStored, Next: st.next, Duplicates: dups}
	}
	out := make([]wire.Record, len(recs))
	for i, r := range recs {
		hs := uplinkapi.SiteHeaders(r.Offset, r.Time, b.Epoch)
		out[i] = wire.Record{Key: r.Key, Headers: append(append([]wire.Header(nil), r.Headers...), hs[:]...), Value: r.Value}
	}
	if _, err := u.c.Log.Append(ctx, uplinkapi.SiteDownlinkTopic, "", 0, out); err != nil {
		// Not known to be stored: reload the mark before the next batch.
		st.ready = false
		return uplinkapi.Ack{Status: uplinkapi.StatusRetry, Next: st.next, Code: uplinkapi.CodeStore, Message: err.Error()}
	}
	st.next, st.any, st.epoch = recs[len(recs)-1].Offset+1, true, b.Epoch
	return uplinkapi.Ack{Status: uplinkapi.StatusStored, Next: st.next, Stored: len(recs), Duplicates: dups}
}

// loadDown reads the mark from the local topic's last record, creating the
// topic on first use.
func (u *Uplink) loadDown(ctx context.Context, st *downState) error {
	*st = downState{}
	info, err := u.c.Log.Topic(ctx, uplinkapi.SiteDownlinkTopic)
	if errors.Is(err, wire.ErrTopicNotFound) {
		if _, err = u.c.Log.CreateTopic(ctx, uplinkapi.SiteDownlinkTopic, wire.TopicConfig{}); err != nil && !errors.Is(err, wire.ErrTopicExists) {
			return err
		}
		st.ready, st.any = true, true
		return nil
	}
	if err != nil {
		return err
	}
	switch {
	case info.Next == 0:
		st.any = true
	case info.Start == info.Next:
		st.any = false // all dropped by retention: take the next batch as it comes
	default:
		recs, err := u.c.Log.Read(ctx, uplinkapi.SiteDownlinkTopic, client.From{Offset: info.Next - 1}, 1)
		if err != nil || len(recs) == 0 {
			return fmt.Errorf("read the last downlink record: %v", err)
		}
		off, _, ok := uplinkapi.SiteOrigin(recs[0].Headers)
		epoch, eok := uplinkapi.SiteEpoch(recs[0].Headers)
		if !ok || !eok {
			return fmt.Errorf("the last record of %s has no parent offset header", uplinkapi.SiteDownlinkTopic)
		}
		st.next, st.epoch, st.any = off+1, epoch, true
	}
	st.ready = true
	return nil
}
