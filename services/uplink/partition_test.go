package uplink_test

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/skerry/skerry/qemu/testenv"
	"github.com/skerry/skerry/services/uplink/uplinktest"
)

// netns is a network namespace joined to the host by a veth pair: the hub
// runs inside, the uplink outside, and a black hole is an nftables table
// in the namespace that drops every packet both ways.
type netns struct {
	t          *testing.T
	name, peer string
}

func run(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func newNetns(t *testing.T) *netns {
	id := os.Getpid() % 100000
	n := &netns{t: t, name: fmt.Sprintf("uplt%d", id)}
	host, inside := fmt.Sprintf("vuh%d", id), fmt.Sprintf("vun%d", id)
	subnet := fmt.Sprintf("10.213.%d", id%250)
	n.peer = subnet + ".2"
	run(t, "ip", "netns", "add", n.name)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", n.name).Run() })
	run(t, "ip", "link", "add", host, "type", "veth", "peer", "name", inside)
	t.Cleanup(func() { exec.Command("ip", "link", "del", host).Run() })
	run(t, "ip", "link", "set", inside, "netns", n.name)
	run(t, "ip", "addr", "add", subnet+".1/24", "dev", host)
	run(t, "ip", "link", "set", host, "up")
	run(t, "ip", "-n", n.name, "addr", "add", n.peer+"/24", "dev", inside)
	run(t, "ip", "-n", n.name, "link", "set", inside, "up")
	run(t, "ip", "-n", n.name, "link", "set", "lo", "up")
	return n
}

func (n *netns) nft(rules string) {
	n.t.Helper()
	cmd := exec.Command("ip", "netns", "exec", n.name, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		n.t.Fatalf("nft: %v\n%s", err, out)
	}
}

const blackHoleRules = `table inet blackhole {
	chain in { type filter hook input priority 0; policy drop; }
	chain out { type filter hook output priority 0; policy drop; }
}`

// TestBlackHolePartition cuts the link between uplink and hub (every
// packet dropped, both ways) several times for seconds while the site
// keeps producing, once with a hub kill inside the partition, and checks
// that the hub ends with every record exactly once, in order.
func TestBlackHolePartition(t *testing.T) {
	testenv.Integration(t, testenv.Root(), testenv.Tools("ip", "nft"))
	n := newNetns(t)
	r := newRig(t, func(r *uplinktest.Rig) {
		r.HubWrap = []string{"ip", "netns", "exec", n.name}
		r.HubArgs = []string{"-san", n.peer}
		r.HubAddr = n.peer + ":8883"
	})
	stop := startProducers(t, r)
	for round, hold := range []time.Duration{2 * time.Second, 5 * time.Second, 8 * time.Second} {
		time.Sleep(time.Second)
		n.nft(blackHoleRules)
		t.Logf("round %d: black hole for %v", round, hold)
		time.Sleep(hold)
		if round == 1 {
			// The hub dies inside the partition: the uplink's connection
			// is half open and must be given up.
			r.KillHub()
			if err := r.StartHub(); err != nil {
				t.Fatal(err)
			}
		}
		n.nft("delete table inet blackhole")
	}
	time.Sleep(time.Second)
	stop()
	checkHub(t, r)
}
