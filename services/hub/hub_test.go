package hub

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/skerry/skerry/services/api/uplinkapi"
	"github.com/skerry/skerry/services/streamlog"
	"github.com/skerry/skerry/services/tower/ca"
)

// testHub starts a hub on loopback with a fresh CA; it returns the CA to
// issue site certificates with.
func testHub(t *testing.T) (*Hub, *ca.CA, *streamlog.Store) {
	t.Helper()
	authority, cert, store := testServerSide(t)
	h, err := New(Config{Listen: "127.0.0.1:0", Store: store, Log: slog.Default(),
		TLS: ServerTLS(cert, authority.Pool())})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h, authority, store
}

// testServerSide makes what a test hub serves with: a fresh CA, a
// server certificate for 127.0.0.1 from it, and a fresh store, closed at
// the end of the test (after whatever the test registers later).
func testServerSide(t *testing.T) (*ca.CA, tls.Certificate, *streamlog.Store) {
	t.Helper()
	authority, err := ca.LoadOrCreate(t.TempDir(), "test CA")
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err := authority.ServerCert([]string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	store, err := streamlog.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return authority, tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key}, store
}

// siteTLS is a client configuration for site, signed by authority.
func siteTLS(t *testing.T, authority, trusted *ca.CA, site string) *tls.Config {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cert, err := authority.SiteCert(site, key.Public(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{cert.Raw}, PrivateKey: key}},
		RootCAs: trusted.Pool(), ServerName: "127.0.0.1"}
}

// dial connects an MQTT v5 client; answers arrive on the returned channel.
func dial(t *testing.T, h *Hub, tc *tls.Config, clientID string) (*paho.Client, chan uplinkapi.Ack, error) {
	t.Helper()
	conn, err := tls.Dial("tcp", h.Addr(), tc)
	if err != nil {
		return nil, nil, err
	}
	acks := make(chan uplinkapi.Ack, 16)
	pc := paho.NewClient(paho.ClientConfig{Conn: conn, ClientID: clientID,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			var a uplinkapi.Ack
			json.Unmarshal(pr.Packet.Payload, &a)
			acks <- a
			return true, nil
		}}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ca, err := pc.Connect(ctx, &paho.Connect{ClientID: clientID, CleanStart: true})
	if err == nil && ca.ReasonCode != 0 {
		err = fmt.Errorf("connack reason %d", ca.ReasonCode)
	}
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	t.Cleanup(func() { pc.Disconnect(&paho.Disconnect{}) })
	return pc, acks, nil
}

func publish(pc *paho.Client, site string, b *uplinkapi.Batch) (*paho.PublishResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return pc.Publish(ctx, &paho.Publish{QoS: 1, Topic: b.MQTTTopic(), Payload: b.AppendPayload(nil),
		Properties: &paho.PublishProperties{ResponseTopic: uplinkapi.AckTopic(site, site), CorrelationData: []byte("1")}})
}

func TestConnectRefused(t *testing.T) {
	h, authority, _ := testHub(t)
	other, err := ca.LoadOrCreate(t.TempDir(), "other CA")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		tls      *tls.Config
		clientID string
	}{
		{"no client certificate", &tls.Config{RootCAs: authority.Pool(), ServerName: "127.0.0.1"}, "s1"},
		{"certificate of another CA", siteTLS(t, other, authority, "s1"), "s1"},
		{"client id of another site", siteTLS(t, authority, authority, "s1"), "s2"},
		{"client id that only starts like the site", siteTLS(t, authority, authority, "s1"), "s1x"},
	} {
		if _, _, err := dial(t, h, tc.tls, tc.clientID); err == nil {
			t.Errorf("%s: connected, want refused", tc.name)
		}
	}
	if _, _, err := dial(t, h, siteTLS(t, authority, authority, "s1"), "s1.uplink"); err != nil {
		t.Errorf("own site: %v", err)
	}
}

func TestACLAndBadBatches(t *testing.T) {
	h, authority, store := testHub(t)
	pc, acks, err := dial(t, h, siteTLS(t, authority, authority, "s1"), "s1")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := pc.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: uplinkapi.AckTopic("s1", "s1")}}}); err != nil {
		t.Fatal(err)
	}
	// Another site's names: refused by the ACL, nothing stored.
	sa, err := pc.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "sites/s2/#"}}})
	if err == nil && sa.Reasons[0] < 0x80 {
		t.Errorf("subscribe to another site's names: granted %v", sa.Reasons)
	}
	foreign := batch(0, 0, 1)
	foreign.Site = "s2"
	if res, err := publish(pc, "s1", foreign); err == nil && res.ReasonCode < 0x80 {
		t.Errorf("publish as another site: reason %d, want a refusal", res.ReasonCode)
	}
	if _, err := store.Topic("t/s2.x"); err == nil {
		t.Error("another site's batch was stored")
	}
	// A payload that does not parse: answered with a reason, the
	// connection goes on and the next good batch is stored.
	ctx5, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := pc.Publish(ctx5, &paho.Publish{QoS: 1, Topic: "sites/s1/t/x", Payload: []byte("garbage"),
		Properties: &paho.PublishProperties{ResponseTopic: uplinkapi.AckTopic("s1", "s1"), CorrelationData: []byte("1")}}); err != nil {
		t.Fatal(err)
	}
	if a := <-acks; a.Status != uplinkapi.StatusRefused || a.Code != uplinkapi.CodeBadBatch {
		t.Errorf("garbage: got %+v, want refused bad_batch", a)
	}
	if _, err := publish(pc, "s1", batch(0, 0, 2)); err != nil {
		t.Fatal(err)
	}
	if a := <-acks; a.Status != uplinkapi.StatusStored || a.Next != 2 {
		t.Errorf("good batch after garbage: got %+v, want stored next 2", a)
	}
	_, _, _, refused := h.Receiver().Counts()
	if refused != 1 {
		t.Errorf("refused count: got %d, want 1", refused)
	}
}
