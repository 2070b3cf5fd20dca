package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strings"
	"time"

	"github.com/skerry/skerry/services/streamlog/client"
	"github.com/skerry/skerry/services/streamlog/wire"
	"github.com/skerry/skerry/services/uplink/uplinktest"
)

// lossRules drop 10 % of the packets each way inside the hub's namespace:
// the same loss for TCP (MQTT) and UDP (DTLS). The host has no netem.
const lossRules = `table inet loss {
	chain in { type filter hook input priority 0; iifname "lo" accept; numgen random mod 100 < 10 drop; }
	chain out { type filter hook output priority 0; oifname "lo" accept; numgen random mod 100 < 10 drop; }
}`

// lossy measures goodput over a bad link, DTLS next to MQTT over TCP: the
// hub runs in a network namespace behind a veth pair whose nftables drop
// 10 % of packets each way, and a proxy on the host (uplinktest's, TCP for
// MQTT, UDP for DTLS) delays every packet 100 ms each way (200 ms RTT).
// With -n records backlogged at the site, it counts the records the hub
// acknowledged (the uplink's cursor) after -lossy-d.
func lossy(ctx context.Context, c config, work, skerry, tower string) error {
	ns, peer, cleanup, err := netns()
	defer cleanup()
	if err != nil {
		return err
	}
	if err := nsRun(ns, "nft", "-f", "-", lossRules); err != nil {
		return err
	}
	modes := []string{"dtls", "mqtt"}
	res := map[string][]float64{}
	bytes := 0
	for rep := range c.reps {
		for _, mode := range modes {
			dir := fmt.Sprintf("%s/lossy%d-%s", work, rep, mode)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			n, size, err := lossyOnce(ctx, c, dir, skerry, tower, ns, peer, mode)
			if err != nil {
				return fmt.Errorf("rep %d %s: %w", rep, mode, err)
			}
			bytes = size
			res[mode] = append(res[mode], float64(n)/c.lossyD.Seconds())
			fmt.Fprintf(os.Stderr, "rep %d %s: %d records in %v\n", rep, mode, n, c.lossyD)
			os.RemoveAll(dir)
		}
	}
	fmt.Printf("\n%d B records (%d B each on the wire), 10 %% loss each way, 200 ms RTT, backlog %d, %v per run, medians (min–max) of %d runs\n\n",
		c.size, bytes, c.n, c.lossyD, c.reps)
	fmt.Println("| transport | goodput, records/s | goodput, KB/s of records |")
	fmt.Println("|---|---:|---:|")
	med := map[string]float64{}
	for _, mode := range modes {
		v := append([]float64(nil), res[mode]...)
		sort.Float64s(v)
		med[mode] = v[len(v)/2]
		fmt.Printf("| %s | %s (%s–%s) | %s |\n", mode, num(v[len(v)/2]), num(v[0]), num(v[len(v)-1]), num(v[len(v)/2]*float64(bytes)/1000))
	}
	if med["mqtt"] > 0 {
		fmt.Printf("\nDTLS / MQTT: %.2f\n", med["dtls"]/med["mqtt"])
	}
	return nil
}

func lossyOnce(ctx context.Context, c config, dir, skerry, tower, ns, peer, mode string) (acked uint64, wireBytes int, err error) {
	r, err := uplinktest.New(dir, skerry, tower, io.Discard)
	if err != nil {
		return 0, 0, err
	}
	defer r.Close()
	r.HubWrap = []string{"ip", "netns", "exec", ns}
	r.HubAddr = peer + ":8883"
	r.HubArgs = []string{"-san", peer}
	if mode == "dtls" {
		r.DTLSAddr = peer + ":8884"
		r.HubArgs = append(r.HubArgs, "-dtls-listen", r.DTLSAddr)
	}
	if err := r.StartStreamlog(); err != nil {
		return 0, 0, err
	}
	if _, err := r.Log.CreateTopic(ctx, topic, wire.TopicConfig{MaxBytes: 4 << 30}); err != nil {
		return 0, 0, err
	}
	if _, err := produce(ctx, r, c, c.n, nil); err != nil {
		return 0, 0, err
	}
	recs, err := r.Log.Read(ctx, topic, client.From{}, 1)
	if err != nil || len(recs) == 0 {
		return 0, 0, fmt.Errorf("read back: %v", err)
	}
	wireBytes = len(wire.AppendFrame(nil, recs)) - 9
	if err := r.StartHub(); err != nil {
		return 0, 0, err
	}
	var args []string
	if mode == "dtls" {
		p, err := uplinktest.NewUDPProxy(r.DTLSAddr, uplinktest.Fault{Delay: 100 * time.Millisecond})
		if err != nil {
			return 0, 0, err
		}
		defer p.Close()
		args = append(uplinktest.DTLSArgs(p.Addr()), "-dtls-window", fmt.Sprint(c.window))
	} else {
		p, err := uplinktest.NewTCPProxy(r.HubAddr, 100*time.Millisecond)
		if err != nil {
			return 0, 0, err
		}
		defer p.Close()
		args = []string{"-broker", p.Addr()}
	}
	if err := r.StartUplink(append(args, "-server-name", peer)...); err != nil {
		return 0, 0, err
	}
	time.Sleep(c.lossyD)
	cur, err := r.Log.Cursor(ctx, topic, "uplink")
	if err != nil {
		return 0, wireBytes, fmt.Errorf("nothing acknowledged in %v: %w", c.lossyD, err)
	}
	return cur.Offset, wireBytes, nil
}

// netns makes a namespace joined to the host by a veth pair; peer is its
// address inside.
func netns() (name, peer string, cleanup func(), err error) {
	id := os.Getpid() % 100000
	name = fmt.Sprintf("uplb%d", id)
	host, inside := fmt.Sprintf("vbh%d", id), fmt.Sprintf("vbn%d", id)
	subnet := fmt.Sprintf("10.214.%d", id%250)
	peer = subnet + ".2"
	cleanup = func() {
		exec.Command("ip", "netns", "del", name).Run()
		exec.Command("ip", "link", "del", host).Run()
	}
	for _, args := range [][]string{
		{"ip", "netns", "add", name},
		{"ip", "link", "add", host, "type", "veth", "peer", "name", inside},
		{"ip", "link", "set", inside, "netns", name},
		{"ip", "addr", "add", subnet + ".1/24", "dev", host},
		{"ip", "link", "set", host, "up"},
		{"ip", "-n", name, "addr", "add", peer + "/24", "dev", inside},
		{"ip", "-n", name, "link", "set", inside, "up"},
		{"ip", "-n", name, "link", "set", "lo", "up"},
	} {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			return name, peer, cleanup, fmt.Errorf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	return name, peer, cleanup, nil
}

func nsRun(ns string, args ...string) error {
	stdin := args[len(args)-1]
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns}, args[:len(args)-1]...)...)
	cmd.Stdin = strings.NewReader(stdin)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}
