package uplink

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"golang.org/x/sync/errgroup"

	"github.com/skerry/skerry/services/api/uplinkapi"
	"github.com/skerry/skerry/services/internal/mqttconn"
	"github.com/skerry/skerry/services/streamlog/client"
	"github.com/skerry/skerry/services/streamlog/wire"
)

// Config configures an Uplink.
type Config struct {
	// Site is the site ID; it must be the CN of the TLS client certificate.
	Site string
	// Broker is the parent's MQTT over TLS address, host:port.
	Broker string
	TLS    *tls.Config
	// Log is the site's stream log; its token must read every tenant
	// (the system token).
	Log   *client.Client
	Rules Rules
	// Consumer names the durable cursor per topic; default "uplink".
	Consumer string
	// MaxBatch bounds the records of one batch; default 4096.
	MaxBatch int
	// AckTimeout bounds the wait for the parent's answer; default 30 s.
	AckTimeout time.Duration
	// Rescan is how often new topics are looked for; default 10 s.
	Rescan time.Duration
	Logger *slog.Logger
	// Monitor receives the connection state and per-topic counters for
	// the status API; default: a new one (see Uplink.Monitor).
	Monitor *Monitor
	// Filter, when set, decides per topic instead of Rules and rewrites
	// records on their way up: a hub forwarding its sites' records uses it
	// to keep topics or drop fields (services/hub).
	Filter Filter
	// DTLS, when set, sends to Broker (then a UDP host:port) over DTLS
	// instead of MQTT; see dtls.go.
	DTLS *DTLSOptions
}

// Filter is what a forwarding hub decides about its topics.
type Filter interface {
	// Rule says whether topic tenant/name goes up and with what priority.
	Rule(name string) (Rule, bool)
	// Records returns recs as they go up: same offsets, contents changed
	// (fields dropped, values withheld); recs may be rewritten in place.
	Records(name string, recs []wire.Record) []wire.Record
}

// Uplink replicates the site's topics to its parent.
type Uplink struct {
	c    Config
	gate *gate

	mu      sync.Mutex
	waiting map[string]chan uplinkapi.Ack
	wmu     sync.Mutex // held while a batch is written to the connection
	seq     atomic.Uint64

	sent, acked atomic.Uint64
	downCh      chan *paho.Publish // downlink batches for the session's worker
}

// New checks c and fills in defaults.
func New(c Config) (*Uplink, error) {
	if err := uplinkapi.ValidateSite(c.Site); err != nil {
		return nil, err
	}
	if c.Log == nil || c.TLS == nil || c.Broker == "" {
		return nil, errors.New("uplink: a stream log client, a TLS configuration and a broker address are required")
	}
	if c.Consumer == "" {
		c.Consumer = "uplink"
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = 4096
	}
	if c.AckTimeout <= 0 {
		c.AckTimeout = 30 * time.Second
	}
	if c.Rescan <= 0 {
		c.Rescan = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Monitor == nil {
		c.Monitor = NewMonitor(c.Log, c.Rules)
	}
	return &Uplink{c: c, gate: newGate(), waiting: map[string]chan uplinkapi.Ack{}, downCh: make(chan *paho.Publish, 4)}, nil
}

// Counts returns records sent and records the parent acknowledged stored.
func (u *Uplink) Counts() (sent, acked uint64) { return u.sent.Load(), u.acked.Load() }

// Monitor returns what the status API reports of u.
func (u *Uplink) Monitor() *Monitor { return u.c.Monitor }

// Run connects, replicates, and reconnects after any failure, until ctx ends.
func (u *Uplink) Run(ctx context.Context) error {
	session := u.session
	if u.c.DTLS != nil {
		session = u.dtlsSession
	}
	mqttconn.Retry(ctx, u.c.Logger, 10*time.Second, func(ctx context.Context) error {
		u.c.Monitor.SetState(uplinkapi.StateConnecting, "")
		err := session(ctx)
		u.c.Monitor.linkFailed(err)
		return err
	})
	return nil
}

func (u *Uplink) clientID() string { return u.c.Site + ".uplink" }

// session is one MQTT connection: every topic starts again from its cursor
// (or the parent's high-water mark) and everything stops when the
// connection fails. No state survives a session but the cursors.
func (u *Uplink) session(ctx context.Context) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	pc, err := mqttconn.Dial(ctx, u.c.Broker, u.c.TLS, paho.ClientConfig{
		ClientID:          u.clientID(),
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){u.onAnswer},
		OnClientError:     func(err error) { cancel(fmt.Errorf("mqtt: %w", err)) },
		OnServerDisconnect: func(d *paho.Disconnect) {
			cancel(fmt.Errorf("parent disconnected us: reason %d", d.ReasonCode))
		},
	})
	if err != nil {
		return err
	}
	defer pc.Disconnect(&paho.Disconnect{})
	if _, err := pc.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{
		{Topic: uplinkapi.AckTopic(u.c.Site, u.clientID())},
		{Topic: uplinkapi.DownTopic(u.c.Site, u.clientID())},
	}}); err != nil {
		return fmt.Errorf("subscribe to answers: %w", err)
	}
	u.c.Logger.Info("connected", "broker", u.c.Broker)
	u.c.Monitor.SetState(uplinkapi.StateConnected, "")
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		select {
		case <-pc.Done():
			return errors.New("connection lost")
		case <-gctx.Done():
			return nil
		}
	})
	g.Go(func() error { return u.discover(gctx, g, func(r *replicator) { r.pc = pc }) })
	g.Go(func() error { return u.downlink(gctx, pc) })
	err = g.Wait()
	if c := context.Cause(ctx); c != nil && !errors.Is(c, context.Canceled) {
		err = c
	}
	return err
}

// discover starts a replicator for every topic the rules send up, now and
// every Rescan; link attaches each to the session's transport.
func (u *Uplink) discover(ctx context.Context, g *errgroup.Group, link func(*replicator)) error {
	running := map[string]bool{}
	for {
		infos, err := u.c.Log.Topics(ctx, "")
		if err != nil {
			return fmt.Errorf("list topics: %w", err)
		}
		var started []*replicator
		for _, info := range infos {
			rule, ok := u.c.Rules.Lookup(info.Name)
			if u.c.Filter != nil {
				rule, ok = u.c.Filter.Rule(info.Name)
			}
			// A volatile topic restarts at offset 0 after a reboot: its
			// offsets do not name records, so it cannot replicate this way.
			// The downlink topic came from the parent: it does not go back.
			if !ok || info.Config.Volatile || running[info.Name] || info.Name == uplinkapi.SiteDownlinkTopic {
				continue
			}
			running[info.Name] = true
			r := &replicator{u: u, name: info.Name, epoch: uint64(info.Created.UnixNano()), rule: rule}
			link(r)
			// Every topic counts as backlogged until its first read says
			// otherwise, and all are marked before any starts: a bulk
			// topic started first must not get ahead of a control topic
			// that has not read yet.
			r.setBacklog(true)
			started = append(started, r)
		}
		for _, r := range started {
			g.Go(func() error { return r.run(ctx) })
		}
		select {
		case <-time.After(u.c.Rescan):
		case <-ctx.Done():
			return nil
		}
	}
}

// onAnswer routes the parent's answers to the waiting batch.
func (u *Uplink) onAnswer(pr paho.PublishReceived) (bool, error) {
	p := pr.Packet
	if p.Topic == uplinkapi.DownTopic(u.c.Site, u.clientID()) {
		u.onDownlink(p)
		return true, nil
	}
	if p.Properties == nil {
		return true, nil
	}
	var ack uplinkapi.Ack
	if err := json.Unmarshal(p.Payload, &ack); err != nil {
		u.c.Logger.Warn("answer that does not parse", "err", err)
		return true, nil
	}
	u.mu.Lock()
	ch := u.waiting[string(p.Properties.CorrelationData)]
	delete(u.waiting, string(p.Properties.CorrelationData))
	u.mu.Unlock()
	if ch != nil {
		ch <- ack
	}
	return true, nil
}

// send publishes b and waits for the parent's answer.
func (u *Uplink) send(ctx context.Context, pc *paho.Client, b *uplinkapi.Batch, buf []byte) (uplinkapi.Ack, []byte, error) {
	corr := strconv.FormatUint(u.seq.Add(1), 36)
	ch := make(chan uplinkapi.Ack, 1)
	u.mu.Lock()
	u.waiting[corr] = ch
	u.mu.Unlock()
	defer func() {
		u.mu.Lock()
		delete(u.waiting, corr)
		u.mu.Unlock()
	}()
	buf = b.AppendPayload(buf[:0])
	ctx, cancel := context.WithTimeout(ctx, u.c.AckTimeout)
	defer cancel()
	// Only the write is serialized (paho writes a PUBLISH in several
	// Write calls, which must not interleave across topics); the answer
	// is what we wait for, not the PUBACK.
	u.wmu.Lock()
	_, err := pc.PublishWithOptions(ctx, &paho.Publish{
		QoS:     1,
		Topic:   b.MQTTTopic(),
		Payload: buf,
		Properties: &paho.PublishProperties{
			ResponseTopic:   uplinkapi.AckTopic(u.c.Site, u.clientID()),
			CorrelationData: []byte(corr),
		},
	}, paho.PublishOptions{Method: paho.PublishMethod_AsyncSend})
	u.wmu.Unlock()
	if err != nil {
		return uplinkapi.Ack{}, buf, fmt.Errorf("publish %s: %w", b.MQTTTopic(), err)
	}
	u.sent.Add(uint64(len(b.Records)))
	u.c.Monitor.sent(b.Tenant+"/"+b.Topic, b.Records[0].Offset, b.Records[len(b.Records)-1].Offset, len(b.Records), len(buf))
	select {
	case ack := <-ch:
		return ack, buf, nil
	case <-ctx.Done():
		return uplinkapi.Ack{}, buf, fmt.Errorf("no answer for %s within %s", b.MQTTTopic(), u.c.AckTimeout)
	}
}
