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
	var st uplinkapi.DownMark
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

func (u *Uplink) applyDown(ctx context.Context, st *uplinkapi.DownMark, payload []byte) uplinkapi.Ack {
	tenant, topic, _ := cutName(uplinkapi.SiteDownlinkTopic)
	b, err := uplinkapi.DecodeBatch(uplinkapi.BatchTopic(u.c.Site, tenant, topic), payload)
	if err != nil {
		return uplinkapi.Ack{Status: uplinkapi.StatusRefused, Code: uplinkapi.CodeBadBatch, Message: err.Error()}
	}
	if !st.Ready {
		if err := u.loadDown(ctx, st); err != nil {
			u.c.Logger.Warn("load downlink topic", "err", err)
			return uplinkapi.Ack{Status: uplinkapi.StatusRetry, Code: uplinkapi.CodeStore, Message: err.Error()}
		}
	}
	out, dups, ack := st.Take(&b, uplinkapi.SiteDownlinkTopic)
	if ack != nil {
		return *ack
	}
	if _, err := u.c.Log.Append(ctx, uplinkapi.SiteDownlinkTopic, "", 0, out); err != nil {
		// Not known to be stored: reload the mark before the next batch.
		st.Ready = false
		return uplinkapi.Ack{Status: uplinkapi.StatusRetry, Next: st.Next, Code: uplinkapi.CodeStore, Message: err.Error()}
	}
	return st.Took(&b, len(out), dups)
}

// loadDown reads the mark from the local topic's last record, creating the
// topic on first use.
func (u *Uplink) loadDown(ctx context.Context, st *uplinkapi.DownMark) error {
	info, err := u.c.Log.Topic(ctx, uplinkapi.SiteDownlinkTopic)
	if errors.Is(err, wire.ErrTopicNotFound) {
		if _, err = u.c.Log.CreateTopic(ctx, uplinkapi.SiteDownlinkTopic, wire.TopicConfig{}); err != nil && !errors.Is(err, wire.ErrTopicExists) {
			return err
		}
		return st.Load(uplinkapi.SiteDownlinkTopic, 0, 0, nil)
	}
	if err != nil {
		return err
	}
	var last *wire.Record
	if info.Next > info.Start {
		recs, err := u.c.Log.Read(ctx, uplinkapi.SiteDownlinkTopic, client.From{Offset: info.Next - 1}, 1)
		if err != nil {
			return fmt.Errorf("read the last downlink record: %w", err)
		}
		if len(recs) > 0 {
			last = &recs[0]
		}
	}
	return st.Load(uplinkapi.SiteDownlinkTopic, info.Start, info.Next, last)
}
