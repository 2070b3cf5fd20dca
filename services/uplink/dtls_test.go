package uplink_test

import (
	"context"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/skerry/skerry/qemu/testenv"
	"github.com/skerry/skerry/services/streamlog/wire"
	"github.com/skerry/skerry/services/uplink/uplinktest"
)

// newDTLSRig starts a site stream log with the two topics, a hub that also
// listens for DTLS, a UDP fault proxy in front of it and an uplink that
// sends through the proxy over DTLS.
func newDTLSRig(t *testing.T, f uplinktest.Fault) (*uplinktest.Rig, *uplinktest.UDPProxy, func() error) {
	t.Helper()
	dir := t.TempDir()
	skerry, tower, err := uplinktest.Build(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := uplinktest.New(dir, skerry, tower, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	if err := r.UseDTLS(); err != nil {
		t.Fatal(err)
	}
	p, err := uplinktest.NewUDPProxy(r.DTLSAddr, f)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	if err := r.StartStreamlog(); err != nil {
		t.Fatal(err)
	}
	for _, n := range topics {
		if _, err := r.Log.CreateTopic(context.Background(), n, wire.TopicConfig{MaxBytes: 1 << 30}); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.StartHub(); err != nil {
		t.Fatal(err)
	}
	startUplink := func() error {
		return r.StartUplink(append(append([]string(nil), uplinkArgs...), uplinktest.DTLSArgs(p.Addr())...)...)
	}
	if err := startUplink(); err != nil {
		t.Fatal(err)
	}
	return r, p, startUplink
}

// TestDTLSLossAndKills replicates over DTLS through 10, 20 and 30 % loss
// each way with 200 ms RTT, killing the hub or the uplink with SIGKILL in
// each round, and checks that every record is at the hub exactly once, in
// order, with its offset.
func TestDTLSLossAndKills(t *testing.T) {
	testenv.Integration(t)
	r, p, startUplink := newDTLSRig(t, uplinktest.Fault{Delay: 100 * time.Millisecond, Loss: 0.1})
	stop := startProducers(t, r)
	for round, loss := range []float64{0.1, 0.2, 0.3, 0.1, 0.3} {
		p.SetFault(uplinktest.Fault{Delay: 100 * time.Millisecond, Loss: loss})
		time.Sleep(time.Duration(1000+rand.IntN(2000)) * time.Millisecond)
		if round%2 == 0 {
			r.KillHub()
			if err := r.StartHub(); err != nil {
				t.Fatalf("round %d: restart hub: %v", round, err)
			}
			t.Logf("round %d: %.0f %% loss, killed and restarted the hub", round, loss*100)
		} else {
			r.KillUplink()
			if err := startUplink(); err != nil {
				t.Fatalf("round %d: restart uplink: %v", round, err)
			}
			t.Logf("round %d: %.0f %% loss, killed and restarted the uplink", round, loss*100)
		}
	}
	time.Sleep(time.Second)
	stop()
	checkHub(t, r)
	t.Logf("proxy: %d datagrams forwarded, %d dropped", p.Forwarded.Load(), p.Dropped.Load())
}

// TestDTLSNATRebinding moves the uplink's source port five times while it
// sends (the proxy switches its outbound socket, as a NAT that lost its
// mapping does): with connection IDs the hub keeps the session, so no new
// handshake happens, and every record arrives exactly once, in order.
func TestDTLSNATRebinding(t *testing.T) {
	testenv.Integration(t)
	r, p, _ := newDTLSRig(t, uplinktest.Fault{Delay: 5 * time.Millisecond})
	stop := startProducers(t, r)
	time.Sleep(time.Second)
	before := p.Handshakes.Load()
	if before == 0 {
		t.Fatal("no DTLS handshake seen through the proxy")
	}
	for i := range 5 {
		if err := p.Rebind(); err != nil {
			t.Fatal(err)
		}
		t.Logf("rebinding %d", i)
		time.Sleep(time.Second)
	}
	stop()
	checkHub(t, r)
	if after := p.Handshakes.Load(); after != before {
		t.Errorf("the uplink started a new session after a rebinding: %d ClientHellos before, %d after", before, after)
	}
}
