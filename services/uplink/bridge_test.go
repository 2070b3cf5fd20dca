package uplink_test

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/skerry/skerry/qemu/testenv"
	"github.com/skerry/skerry/services/uplink/uplinktest"
)

// TestMosquittoBridgeBaseline carries numbered records from a site's
// mosquitto to a hub's mosquitto over a `connection` bridge (cleansession
// false, QoS 1, persistence on: default autosave, then a save after every
// change) through the fault scenario of
// TestKillUplinkAndHub: ten SIGKILLs of the site's or the hub's broker at
// random points while producing. It counts what the brokers lost,
// duplicated and reordered of the records the site's broker acknowledged
// (PUBACK), the baseline for the uplink's zero of each (docs/benchmarks.md).
// It fails only when the rig did not work (nothing produced or carried).
func TestMosquittoBridgeBaseline(t *testing.T) {
	testenv.Integration(t, testenv.Tools("mosquitto"))
	for _, eager := range []bool{false, true} {
		name := "default-autosave"
		if eager {
			name = "autosave-every-change"
		}
		t.Run(name, func(t *testing.T) { bridgeFaults(t, eager) })
	}
}

func bridgeFaults(t *testing.T, eager bool) {
	b, err := uplinktest.NewBridge(t.TempDir(), eager, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	if err := b.StartHub(); err != nil {
		t.Fatal(err)
	}
	if err := b.StartSite(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	col := &collector{}
	go col.run(ctx, b.HubAddr)
	time.Sleep(500 * time.Millisecond) // the collector's session exists before anything is sent
	var acked []uint64
	pctx, stopProducer := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		acked = produce(pctx, b.SiteAddr)
	}()
	for round := range 10 {
		time.Sleep(time.Duration(100+rand.IntN(900)) * time.Millisecond)
		if rand.IntN(2) == 0 {
			b.KillHub()
			time.Sleep(time.Duration(rand.IntN(300)) * time.Millisecond)
			err = b.StartHub()
		} else {
			b.KillSite()
			err = b.StartSite()
		}
		if err != nil {
			t.Fatalf("round %d: restart: %v", round, err)
		}
	}
	stopProducer()
	<-done
	// Let the bridge drain: until nothing new arrived for 5 s.
	for last, still := col.count(), 0; still < 50; time.Sleep(100 * time.Millisecond) {
		if n := col.count(); n != last {
			last, still = n, 0
		} else {
			still++
		}
	}
	got := col.snapshot()
	seen := map[uint64]int{}
	var reordered int
	var top uint64
	for i, s := range got {
		seen[s]++
		if i > 0 && s < top && seen[s] == 1 {
			reordered++
		}
		top = max(top, s)
	}
	var lost, dups int
	for _, s := range acked {
		if seen[s] == 0 {
			lost++
		}
	}
	for _, n := range seen {
		dups += n - 1
	}
	t.Logf("mosquitto bridge: %d records acknowledged by the site's broker, %d deliveries at the hub: %d lost, %d duplicated, %d out of order",
		len(acked), len(got), lost, dups, reordered)
	if len(acked) < 100 || len(got) == 0 {
		t.Fatalf("the rig did not carry records: %d acknowledged, %d delivered", len(acked), len(got))
	}
}

// produce publishes numbered records (QoS 1) to the site's broker until
// ctx ends, reconnecting after each failure; it returns the numbers the
// broker acknowledged: what the site was told is stored.
func produce(ctx context.Context, addr string) []uint64 {
	var acked []uint64
	var seq uint64
	for ctx.Err() == nil {
		pc, err := connect(ctx, addr, "producer", true, nil)
		if err != nil {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		for ctx.Err() == nil {
			seq++
			pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			_, err := pc.Publish(pctx, &paho.Publish{QoS: 1, Topic: "records/t", Payload: binary.BigEndian.AppendUint64(nil, seq)})
			cancel()
			if err != nil {
				break
			}
			acked = append(acked, seq)
			time.Sleep(time.Duration(rand.IntN(2)) * time.Millisecond)
		}
		pc.Disconnect(&paho.Disconnect{})
	}
	return acked
}

// collector receives records at the hub's broker with a persistent
// session (clean start off, session kept an hour), reconnecting.
type collector struct {
	mu  sync.Mutex
	got []uint64
}

func (c *collector) count() int { c.mu.Lock(); defer c.mu.Unlock(); return len(c.got) }
func (c *collector) snapshot() []uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]uint64(nil), c.got...)
}

func (c *collector) run(ctx context.Context, addr string) {
	for ctx.Err() == nil {
		pc, err := connect(ctx, addr, "collector", false, func(pr paho.PublishReceived) (bool, error) {
			if len(pr.Packet.Payload) == 8 {
				c.mu.Lock()
				c.got = append(c.got, binary.BigEndian.Uint64(pr.Packet.Payload))
				c.mu.Unlock()
			}
			return true, nil
		})
		if err != nil {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		if _, err := pc.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "records/#", QoS: 1}}}); err == nil {
			select {
			case <-pc.Done():
			case <-ctx.Done():
			}
		}
		pc.Disconnect(&paho.Disconnect{})
	}
}

// connect opens an MQTT v5 session over plain TCP.
func connect(ctx context.Context, addr, id string, clean bool, recv func(paho.PublishReceived) (bool, error)) (*paho.Client, error) {
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return nil, err
	}
	cfg := paho.ClientConfig{Conn: conn, ClientID: id}
	if recv != nil {
		cfg.OnPublishReceived = []func(paho.PublishReceived) (bool, error){recv}
	}
	pc := paho.NewClient(cfg)
	expiry := uint32(3600)
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	ca, err := pc.Connect(cctx, &paho.Connect{ClientID: id, CleanStart: clean, KeepAlive: 5,
		Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry}})
	if err == nil && ca.ReasonCode != 0 {
		err = net.ErrClosed
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	return pc, nil
}
