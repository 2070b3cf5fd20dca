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

// TestDTLSSelectiveAcks sends a backlog of about 5,000 datagrams through
// 10 % loss each way and 100 ms RTT and counts the batches the uplink
// sent again: with the hub's held ranges it sends again what the path
// dropped (and a little for lost answers), not the batches the hub holds
// behind a hole, as cumulative answers alone would have it do.
func TestDTLSSelectiveAcks(t *testing.T) {
	testenv.Integration(t)
	r, p, _ := newDTLSRig(t, uplinktest.Fault{Delay: 50 * time.Millisecond, Loss: 0.1})
	ctx := context.Background()
	recs := make([]wire.Record, 1000)
	for i := range recs {
		recs[i] = wire.Record{Key: []byte{byte(i)}, Headers: []wire.Header{{Key: "n", Value: []byte{byte(i)}}}, Value: make([]byte, 100)}
	}
	for i := range 40 {
		if _, err := r.Log.Append(ctx, topics[i%2], "", 0, recs); err != nil {
			t.Fatal(err)
		}
	}
	wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if err := r.WaitCaughtUp(wctx, topics...); err != nil {
		t.Fatal(err)
	}
	var resent uint64
	for _, n := range topics {
		ts, _ := find(status(t, r), n)
		resent += ts.Retransmissions
	}
	dropped := p.ClientDropped.Load()
	t.Logf("%d batches sent again, %d of the uplink's datagrams dropped by the link", resent, dropped)
	if limit := uint64(2*dropped + 100); resent > limit {
		t.Errorf("%d batches sent again for %d datagrams lost: want at most %d (the lost ones, once or twice)", resent, dropped, limit)
	}
	checkHub(t, r)
}
