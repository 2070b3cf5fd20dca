package hub

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/skerry/skerry/services/api/uplinkapi"
	"github.com/skerry/skerry/services/streamlog"
)

// downlink sends each connected site the records of its control topic
// (uplinkapi.DownlinkTopic) as batches, one in flight, and moves the
// topic's cursor (uplinkapi.DownlinkConsumer) only when the site answers
// stored: the uplink protocol reversed. A sender runs per subscribed
// client from its subscription to its disconnection.
type downlink struct {
	h *Hub

	mu      sync.Mutex
	senders map[string]sender             // client ID -> its sender
	waiting map[string]chan uplinkapi.Ack // correlation -> sender
	seq     uint64
}

// sender is the downlink of one connection: a reconnection under the same
// client ID replaces it, and the old connection's disconnection must not
// stop the new one.
type sender struct {
	cl      *mqtt.Client
	cancel  context.CancelFunc
	src     string // the site whose downlink it sends
	relayed bool   // src's downlink is relayed from the parent meanwhile
}

// downAckTimeout is how long a batch waits for the site's answer before it
// is sent again.
const downAckTimeout = 10 * time.Second

func newDownlink(h *Hub) *downlink {
	return &downlink{h: h, senders: map[string]sender{}, waiting: map[string]chan uplinkapi.Ack{}}
}

// subscribed starts the sender of a client that subscribed to its
// downlink topic. A hub's client named RelayClient(hub, site) gets the
// downlink of that site, which it relays down (relay.go); any other
// client its own ID's.
func (d *downlink) subscribed(cl *mqtt.Client, site string, hub bool, filters []string) {
	for _, f := range filters {
		if f != uplinkapi.DownTopic(site, cl.ID) {
			continue
		}
		src := site
		if s, ok := strings.CutPrefix(cl.ID, RelayClient(site, "")); hub && ok {
			if uplinkapi.ValidateSite(s) != nil || s == "" {
				continue
			}
			src = s
		}
		ctx, cancel := context.WithCancel(context.Background())
		// A site's downlink, for itself or for a hub relaying it, comes
		// from this hub's parent too (a hub's own does not).
		relayed := !hub || src != site
		d.mu.Lock()
		old, replaced := d.senders[cl.ID]
		if replaced {
			old.cancel()
		}
		d.senders[cl.ID] = sender{cl, cancel, src, relayed}
		d.mu.Unlock()
		if r := d.h.relay; r != nil {
			if relayed {
				r.Want(src)
			}
			if replaced && old.relayed {
				r.Drop(old.src) // after the Want: a relay going on is not restarted
			}
		}
		go d.send(ctx, site, cl.ID, src)
	}
}

// disconnected stops a client's sender, and the relay of its site's
// downlink from the parent: the site is not here to take it.
func (d *downlink) disconnected(cl *mqtt.Client) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if s, ok := d.senders[cl.ID]; ok && s.cl == cl {
		s.cancel()
		delete(d.senders, cl.ID)
		if r := d.h.relay; r != nil && s.relayed {
			r.Drop(s.src)
		}
	}
}

// answered routes a site's answer to the waiting sender.
func (d *downlink) answered(pk packets.Packet) {
	var ack uplinkapi.Ack
	if err := json.Unmarshal(pk.Payload, &ack); err != nil {
		return
	}
	d.mu.Lock()
	ch := d.waiting[string(pk.Properties.CorrelationData)]
	delete(d.waiting, string(pk.Properties.CorrelationData))
	d.mu.Unlock()
	if ch != nil {
		ch <- ack
	}
}

// send runs until ctx ends: read the downlink of src (the site itself, or
// a site below the hub site) from its cursor, send, wait for the answer,
// move the cursor on stored. One cursor per source site: records a hub
// relayed are not sent again when the site connects here itself.
func (d *downlink) send(ctx context.Context, site, client, src string) {
	store, log := d.h.recv.store, d.h.log.With("part", "downlink", "site", src, "via", site)
	name := uplinkapi.DownlinkTopic(src)
	info, err := store.Topic(name)
	if errors.Is(err, streamlog.ErrTopicNotFound) {
		info, err = store.CreateTopic(name, streamlog.TopicConfig{})
	}
	if err != nil {
		log.Error("downlink topic", "err", err)
		return
	}
	next := uint64(0)
	if cur, err := store.GetCursor(name, uplinkapi.DownlinkConsumer); err == nil {
		next = cur.Offset
	}
	for ctx.Err() == nil {
		if err := store.Wait(ctx, name, next); err != nil {
			return
		}
		recs, err := store.Read(name, next, streamlog.ReadOptions{MaxRecords: 256, MaxBytes: 1 << 20})
		if err != nil || len(recs) == 0 {
			log.Warn("read downlink", "from", next, "err", err)
			sleep(ctx, time.Second)
			continue
		}
		b := uplinkapi.Batch{Site: site, Tenant: uplinkapi.DownlinkTenant, Topic: src, From: next, Epoch: uint64(info.Created.UnixNano()), Records: recs}
		ack, err := d.exchange(ctx, site, client, &b)
		if err != nil {
			continue // no answer: send again
		}
		switch ack.Status {
		case uplinkapi.StatusStored:
			if err := store.CommitCursor(name, uplinkapi.DownlinkConsumer, ack.Next); err != nil {
				log.Warn("commit downlink cursor", "err", err)
			}
			next = ack.Next
		case uplinkapi.StatusGap:
			next = ack.Next
		default:
			log.Error("site refused downlink; trying again in 30 s", "code", ack.Code, "err", ack.Message)
			sleep(ctx, 30*time.Second)
		}
	}
}

// exchange publishes b to the client and waits for the answer.
func (d *downlink) exchange(ctx context.Context, site, client string, b *uplinkapi.Batch) (uplinkapi.Ack, error) {
	ch := make(chan uplinkapi.Ack, 1)
	d.mu.Lock()
	d.seq++
	corr := "d" + strconv.FormatUint(d.seq, 36)
	d.waiting[corr] = ch
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		delete(d.waiting, corr)
		d.mu.Unlock()
	}()
	err := d.h.srv.InjectPacket(d.h.acks, packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish},
		TopicName:   uplinkapi.DownTopic(site, client),
		Payload:     b.AppendPayload(nil),
		Properties:  packets.Properties{ResponseTopic: uplinkapi.DownAckPrefix(site) + client, CorrelationData: []byte(corr)},
	})
	if err != nil {
		return uplinkapi.Ack{}, err
	}
	t := time.NewTimer(downAckTimeout)
	defer t.Stop()
	select {
	case ack := <-ch:
		return ack, nil
	case <-t.C:
		return uplinkapi.Ack{}, errors.New("no answer")
	case <-ctx.Done():
		return uplinkapi.Ack{}, ctx.Err()
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
}

// isDownAck says whether topic is a site's answer to a downlink batch.
func isDownAck(site, topic string) bool {
	return strings.HasPrefix(topic, uplinkapi.DownAckPrefix(site))
}
