package uplink_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/skerry/skerry/services/api/uplinkapi"
	"github.com/skerry/skerry/services/internal/mqttconn"
	"github.com/skerry/skerry/services/streamlog/wire"
	"github.com/skerry/skerry/services/tower/ca"

	"github.com/skerry/skerry/qemu/testenv"
	"github.com/skerry/skerry/services/uplink/uplinktest"
)

// TestMosquittoBroker runs the same replication through Debian's mosquitto
// (the broker authenticates the site by its certificate and confines it
// with its ACL; the hub is its client) and kills the uplink, the hub and
// the broker at random points: the broker's state is never trusted, so
// nothing is lost or stored twice.
func TestMosquittoBroker(t *testing.T) {
	testenv.Integration(t, testenv.Tools("mosquitto"))
	r := newRig(t, func(r *uplinktest.Rig) {
		if err := r.UseMosquitto(); err != nil {
			t.Fatal(err)
		}
	})
	stop := startProducers(t, r)
	rounds := 8
	if testing.Short() {
		rounds = 3
	}
	for round := range rounds {
		time.Sleep(time.Duration(300+mrand.IntN(900)) * time.Millisecond)
		var err error
		switch mrand.IntN(3) {
		case 0:
			r.KillHub()
			err = r.StartHub()
			t.Logf("round %d: killed and restarted the hub", round)
		case 1:
			r.KillUplink()
			err = r.StartUplink(uplinkArgs...)
			t.Logf("round %d: killed and restarted the uplink", round)
		case 2:
			r.KillMosquitto()
			err = r.StartMosquitto()
			t.Logf("round %d: killed and restarted mosquitto", round)
		}
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
	}
	stop()
	checkHub(t, r)
}

// TestMosquittoACL checks the broker configuration the rig (and the docs)
// give mosquitto: a site's certificate lets it publish only under its own
// sites/<site>/ names, so another site cannot write into this one's topics.
func TestMosquittoACL(t *testing.T) {
	testenv.Integration(t, testenv.Tools("mosquitto"))
	dir := t.TempDir()
	r, err := uplinktest.New(dir, "", "", os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.UseMosquitto(); err != nil {
		t.Fatal(err)
	}
	authority, err := ca.LoadOrCreate(filepath.Join(dir, "ca"), "test CA")
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cert, err := authority.SiteCert("intruder", key.Public(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{cert.Raw}, PrivateKey: key}},
		RootCAs: authority.Pool(), ServerName: "127.0.0.1"}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pc, err := mqttconn.Dial(ctx, r.HubAddr, tc, paho.ClientConfig{ClientID: "intruder"})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Disconnect(&paho.Disconnect{})
	b := uplinkapi.Batch{Site: uplinktest.Site, Tenant: "acme", Topic: "telemetry", Records: []wire.Record{{Value: []byte("x")}}}
	for _, tc := range []struct {
		topic string
		ok    bool
	}{
		{b.MQTTTopic(), false},
		{"sites/intruder/acme/telemetry", true},
	} {
		res, err := pc.Publish(ctx, &paho.Publish{QoS: 1, Topic: tc.topic, Payload: b.AppendPayload(nil)})
		got := err == nil && res.ReasonCode < 0x80
		if got != tc.ok {
			t.Errorf("publish to %s: accepted %v (%v), want %v", tc.topic, got, err, tc.ok)
		}
	}
}
