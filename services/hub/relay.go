package hub

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/skerry/skerry/services/api/uplinkapi"
	"github.com/skerry/skerry/services/internal/mqttconn"
	"github.com/skerry/skerry/services/streamlog"
)

// RelayClient is the MQTT client ID under which hub asks its parent for
// the downlink of site (a site below it): the parent's downlink sender
// then reads the parent's downlink/<site> instead of the hub's own.
func RelayClient(hub, site string) string { return hub + ".down." + site }

// Relay brings the control records of the sites below a hub down from its
// parent: while a site is subscribed here to its downlink, one MQTT
// connection to the parent as RelayClient(hub, site), whose batches are
// appended to this hub's downlink/<site> with the parent's offset, time
// and epoch in the three site headers, duplicates dropped and a gap
// answered with the mark, answered stored only after the append's fsync:
// the downlink protocol, one hop at a time. This hub's own downlink sender
// then delivers them to the site as any record of that topic. Any depth:
// a hub's parent may itself relay from its own. The relay of a site stops
// when the site disconnects: the parent keeps its records while it is
// away, for whichever path it comes back by.
type Relay struct {
	c RelayConfig

	mu      sync.Mutex
	ctx     context.Context // set by Run
	running map[string]wanted
}

// RelayConfig configures a Relay.
type RelayConfig struct {
	ID     string // the hub's ID, the CN of its hub certificate
	Parent string // host:port of the parent's MQTT over TLS listener
	TLS    *tls.Config
	Store  *streamlog.Store // the hub's stream log
	Log    *slog.Logger
}

// NewRelay returns a relay that relays once Run runs.
func NewRelay(c RelayConfig) *Relay { return &Relay{c: c, running: map[string]wanted{}} }

// Run lets Want start relays until ctx ends.
func (r *Relay) Run(ctx context.Context) {
	r.mu.Lock()
	r.ctx = ctx
	r.mu.Unlock()
	<-ctx.Done()
}

// Want relays site's downlink until as many Drops (one per connection
// that wants it); a no-op before Run.
func (r *Relay) Want(site string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ctx == nil {
		return
	}
	w := r.running[site]
	if w.n == 0 {
		var ctx context.Context
		ctx, w.cancel = context.WithCancel(r.ctx)
		go r.run(ctx, site)
	}
	w.n++
	r.running[site] = w
}

// Drop undoes one Want; the last one stops the relay.
func (r *Relay) Drop(site string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	w, ok := r.running[site]
	if !ok {
		return
	}
	if w.n--; w.n > 0 {
		r.running[site] = w
		return
	}
	w.cancel()
	delete(r.running, site)
}

// wanted is a running relay and how many connections want it.
type wanted struct {
	cancel context.CancelFunc
	n      int
}

func (r *Relay) run(ctx context.Context, site string) {
	log := r.c.Log.With("part", "relay", "site", site)
	log.Info("relaying the site's downlink from the parent", "parent", r.c.Parent)
	mqttconn.Retry(ctx, log, 10*time.Second, func(ctx context.Context) error { return r.session(ctx, site) })
	log.Info("relay stopped: the site disconnected")
}

// session is one connection to the parent for site's downlink.
func (r *Relay) session(ctx context.Context, site string) error {
	client := RelayClient(r.c.ID, site)
	batches := make(chan *paho.Publish, 1)
	pc, err := mqttconn.Dial(ctx, r.c.Parent, r.c.TLS, paho.ClientConfig{ClientID: client,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(p paho.PublishReceived) (bool, error) {
			select {
			case batches <- p.Packet:
			default: // busy: the parent sends it again after its timeout
			}
			return true, nil
		}}})
	if err != nil {
		return err
	}
	defer pc.Disconnect(&paho.Disconnect{})
	if _, err := pc.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: uplinkapi.DownTopic(r.c.ID, client), QoS: 1}}}); err != nil {
		return fmt.Errorf("subscribe to the downlink of %s: %w", site, err)
	}
	var m uplinkapi.DownMark
	for {
		var p *paho.Publish
		select {
		case p = <-batches:
		case <-pc.Done():
			return errors.New("parent connection lost")
		case <-ctx.Done():
			return nil
		}
		ack := r.apply(ctx, site, &m, p.Payload)
		if ack.Status == uplinkapi.StatusRefused {
			r.c.Log.Warn("refused a downlink batch from the parent", "site", site, "code", ack.Code, "err", ack.Message)
		}
		if p.Properties == nil || p.Properties.ResponseTopic == "" {
			continue
		}
		body, _ := json.Marshal(ack)
		if _, err := pc.Publish(ctx, &paho.Publish{Topic: p.Properties.ResponseTopic, Payload: body,
			Properties: &paho.PublishProperties{CorrelationData: p.Properties.CorrelationData}}); err != nil {
			return fmt.Errorf("answer downlink: %w", err)
		}
	}
}

// apply appends a parent's downlink batch to downlink/<site> (the
// protocol is uplinkapi.DownMark's, as at a site).
func (r *Relay) apply(ctx context.Context, site string, m *uplinkapi.DownMark, payload []byte) uplinkapi.Ack {
	b, err := uplinkapi.DecodeBatch(uplinkapi.BatchTopic(r.c.ID, uplinkapi.DownlinkTenant, site), payload)
	if err != nil {
		return uplinkapi.Ack{Status: uplinkapi.StatusRefused, Code: uplinkapi.CodeBadBatch, Message: err.Error()}
	}
	name := uplinkapi.DownlinkTopic(site)
	if !m.Ready {
		if err := r.load(name, m); err != nil {
			return uplinkapi.Ack{Status: uplinkapi.StatusRetry, Code: uplinkapi.CodeStore, Message: err.Error()}
		}
	}
	out, dups, ack := m.Take(&b, name)
	if ack != nil {
		return *ack
	}
	if _, err := r.c.Store.Append(ctx, name, streamlog.Batch{Records: out}); err != nil {
		m.Ready = false // not known to be stored: reload the mark
		return uplinkapi.Ack{Status: uplinkapi.StatusRetry, Next: m.Next, Code: uplinkapi.CodeStore, Message: err.Error()}
	}
	return m.Took(&b, len(out), dups)
}

// load reads the mark from the topic's last record, creating the topic.
// Records appended here by hand (no parent offset) make the topic unfit
// for relaying: refused until an operator moves it aside.
func (r *Relay) load(name string, m *uplinkapi.DownMark) error {
	info, err := r.c.Store.Topic(name)
	if errors.Is(err, streamlog.ErrTopicNotFound) {
		if _, err = r.c.Store.CreateTopic(name, streamlog.TopicConfig{}); err != nil && !errors.Is(err, streamlog.ErrTopicExists) {
			return err
		}
		return m.Load(name, 0, 0, nil)
	}
	if err != nil {
		return err
	}
	var last *streamlog.Record
	if info.Next > info.Start {
		recs, err := r.c.Store.Read(name, info.Next-1, streamlog.ReadOptions{MaxRecords: 1})
		if err != nil {
			return fmt.Errorf("read the last record of %s: %w", name, err)
		}
		if len(recs) > 0 {
			last = &recs[0]
		}
	}
	return m.Load(name, info.Start, info.Next, last)
}
