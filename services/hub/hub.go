package hub

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/skerry/skerry/services/api/uplinkapi"
	"github.com/skerry/skerry/services/streamlog"
)

// Config configures a Hub.
type Config struct {
	// Listen is the MQTT over TLS address, e.g. ":8883".
	Listen string
	// TLS is the server's TLS configuration; see ServerTLS.
	TLS *tls.Config
	// Store is where received records go; TopicConfig is what the hub's
	// topics are created with.
	Store       *streamlog.Store
	TopicConfig streamlog.TopicConfig
	Log         *slog.Logger
	// Admit, if set, is asked about every connecting site or hub (hub
	// true: a certificate of OU hub, id its hub ID) after its certificate
	// was verified: the tower embedding the hub refuses a revoked site, a
	// replaced certificate or a hub it did not issue this way, a
	// standalone hub the revocation list it fetched (Revocations). nil
	// admits every site and hub certificate of the CA.
	Admit func(id string, hub bool, cert *x509.Certificate) error
	// Relay, if set, brings the control records of the sites that
	// subscribe here to their downlink from the hub's parent (relay.go).
	Relay *Relay
}

// Hub is an MQTT v5 broker whose publish hook stores sites' batches.
type Hub struct {
	srv   *mqtt.Server
	recv  *Receiver
	acks  *mqtt.Client // the inline client that publishes answers
	log   *slog.Logger
	down  *downlink
	admit func(id string, hub bool, cert *x509.Certificate) error
	relay *Relay
}

// MaxPacketBytes bounds an MQTT packet: a batch of up to 4 MiB of records
// and its framing.
const MaxPacketBytes = 5 << 20

// ServerTLS returns the hub's TLS configuration: it presents cert and
// requires a client certificate issued by the CA in sites.
func ServerTLS(cert tls.Certificate, sites *x509.CertPool) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    sites,
		MinVersion:   tls.VersionTLS13,
	}
}

// New sets up the broker; Serve runs it.
func New(c Config) (*Hub, error) {
	if c.TLS == nil || c.TLS.ClientAuth != tls.RequireAndVerifyClientCert {
		return nil, errors.New("hub: TLS with verified client certificates is required: sites authenticate by their certificate")
	}
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumPacketSize = MaxPacketBytes
	caps.RetainAvailable = 0 // nothing here is retained: batches go to the store
	srv := mqtt.New(&mqtt.Options{Capabilities: caps, Logger: c.Log.With("part", "mqtt"), InlineClient: true})
	h := &Hub{srv: srv, recv: NewReceiver(c.Store, c.TopicConfig, c.Log), log: c.Log, admit: c.Admit, relay: c.Relay}
	h.acks = srv.NewClient(nil, "local", "hub-acks", true)
	h.down = newDownlink(h)
	if err := srv.AddHook(&hook{h: h}, nil); err != nil {
		return nil, err
	}
	if err := srv.AddListener(listeners.NewTCP(listeners.Config{ID: "sites", Address: c.Listen, TLSConfig: c.TLS})); err != nil {
		return nil, fmt.Errorf("listen %s: %w", c.Listen, err)
	}
	return h, nil
}

// Receiver returns the hub's receiver (for its counters).
func (h *Hub) Receiver() *Receiver { return h.recv }

// Addr is the address the broker listens on (after Serve started).
func (h *Hub) Addr() string {
	if l, ok := h.srv.Listeners.Get("sites"); ok {
		return l.Address()
	}
	return ""
}

// Start starts the broker; Close stops it.
func (h *Hub) Start() error { return h.srv.Serve() }

// Close stops the broker.
func (h *Hub) Close() error { return h.srv.Close() }

// Serve runs the broker until ctx ends.
func (h *Hub) Serve(ctx context.Context) error {
	if err := h.srv.Serve(); err != nil {
		return err
	}
	<-ctx.Done()
	return h.srv.Close()
}

// siteOf returns the site ID of a client: the CN of its verified
// certificate, which must be a site or a hub certificate (OU "site" or
// "hub"; only the tower CA sets it). hub says which.
func siteOf(cl *mqtt.Client) (site string, hub bool, ok bool) {
	tc, ok := cl.Net.Conn.(*tls.Conn)
	if !ok {
		return "", false, false
	}
	st := tc.ConnectionState()
	if len(st.VerifiedChains) == 0 || len(st.PeerCertificates) == 0 {
		return "", false, false
	}
	subj := st.PeerCertificates[0].Subject
	if uplinkapi.ValidateSite(subj.CommonName) != nil {
		return "", false, false
	}
	switch {
	case slices.Contains(subj.OrganizationalUnit, uplinkapi.RoleSite):
		return subj.CommonName, false, true
	case slices.Contains(subj.OrganizationalUnit, uplinkapi.RoleHub):
		return subj.CommonName, true, true
	}
	return "", false, false
}

// hook stores batches inside the broker's publish path, before PUBACK.
type hook struct {
	mqtt.HookBase
	h *Hub
}

func (k *hook) ID() string { return "skerry-hub" }

func (k *hook) Provides(b byte) bool {
	return bytes.Contains([]byte{mqtt.OnConnectAuthenticate, mqtt.OnACLCheck, mqtt.OnPublish, mqtt.OnSubscribed, mqtt.OnDisconnect}, []byte{b})
}

// OnConnectAuthenticate admits a site with a valid certificate whose MQTT
// client ID is its site ID or starts with "<site>.": a site cannot take over
// another site's session.
func (k *hook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	site, fwd, ok := siteOf(cl)
	if !ok {
		k.h.log.Warn("refused connection without a site or hub certificate", "remote", cl.Net.Remote)
		return false
	}
	if cl.ID != site && !strings.HasPrefix(cl.ID, site+".") {
		k.h.log.Warn("refused client id of another site", "site", site, "client", cl.ID)
		return false
	}
	if k.h.admit != nil {
		leaf := cl.Net.Conn.(*tls.Conn).ConnectionState().PeerCertificates[0] // siteOf checked it
		if err := k.h.admit(site, fwd, leaf); err != nil {
			k.h.log.Warn("refused site", "site", site, "hub", fwd, "err", err)
			return false
		}
	}
	return true
}

// OnACLCheck lets a site use only names under sites/<site>/.
func (k *hook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	site, _, ok := siteOf(cl)
	if !ok || !strings.HasPrefix(topic, uplinkapi.SitePrefix(site)) {
		k.h.log.Warn("refused topic outside the site's names", "site", site, "topic", topic, "write", write)
		return false
	}
	if write && strings.HasPrefix(topic, uplinkapi.SitePrefix(site)+"_") && !isDownAck(site, topic) {
		return false // answers come from the hub only
	}
	return true
}

// OnPublish stores a batch and answers on its response topic before the
// broker sends PUBACK. Batches are not forwarded to subscribers.
func (k *hook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline {
		return pk, nil // our own answers
	}
	site, fwd, _ := siteOf(cl)
	if isDownAck(site, pk.TopicName) {
		k.h.down.answered(pk)
		return pk, packets.CodeSuccessIgnore
	}
	var ack uplinkapi.Ack
	decode := uplinkapi.DecodeBatch
	if fwd {
		decode = uplinkapi.DecodeForwarded
	}
	b, err := decode(pk.TopicName, pk.Payload)
	switch {
	case err != nil:
		k.h.recv.refused.Add(1)
		ack = uplinkapi.Ack{Status: uplinkapi.StatusRefused, Code: uplinkapi.CodeBadBatch, Message: err.Error()}
	case b.Site != site:
		// The ACL already refuses this; keep the check beside the store.
		k.h.recv.refused.Add(1)
		ack = uplinkapi.Ack{Status: uplinkapi.StatusRefused, Code: uplinkapi.CodeForbidden, Message: "site " + site + " may not publish for " + b.Site}
	case fwd:
		ack = k.h.recv.ApplyForwarded(&b)
	default:
		ack = k.h.recv.Apply(&b)
	}
	if ack.Status == uplinkapi.StatusRefused {
		k.h.log.Warn("refused batch", "site", site, "topic", pk.TopicName, "code", ack.Code, "err", ack.Message)
	}
	if rt := pk.Properties.ResponseTopic; rt != "" && strings.HasPrefix(rt, uplinkapi.SitePrefix(site)) {
		body, _ := json.Marshal(ack)
		err := k.h.srv.InjectPacket(k.h.acks, packets.Packet{
			FixedHeader: packets.FixedHeader{Type: packets.Publish},
			TopicName:   rt,
			Payload:     body,
			Properties:  packets.Properties{CorrelationData: pk.Properties.CorrelationData, ContentType: "application/json"},
		})
		if err != nil {
			k.h.log.Warn("answer batch", "site", site, "err", err)
		}
	}
	return pk, packets.CodeSuccessIgnore
}

// OnSubscribed starts the downlink of a site's client that subscribed to
// its downlink topic.
func (k *hook) OnSubscribed(cl *mqtt.Client, pk packets.Packet, reasonCodes []byte) {
	site, fwd, ok := siteOf(cl)
	if !ok || cl.Net.Inline {
		return
	}
	var filters []string
	for i, f := range pk.Filters {
		if i < len(reasonCodes) && reasonCodes[i] < 0x80 {
			filters = append(filters, f.Filter)
		}
	}
	k.h.down.subscribed(cl, site, fwd, filters)
}

// OnDisconnect stops the client's downlink.
func (k *hook) OnDisconnect(cl *mqtt.Client, err error, expire bool) { k.h.down.disconnected(cl) }
