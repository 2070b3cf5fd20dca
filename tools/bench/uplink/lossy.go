package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"github.com/skerry/skerry/services/streamlog/client"
	"github.com/skerry/skerry/services/streamlog/wire"
	"github.com/skerry/skerry/services/uplink/uplinktest"
)

// lossy measures goodput over a bad link, DTLS next to MQTT over TCP: the
// hub runs in a network namespace reached through uplinktest.TUNLink,
// which delays every IP packet 100 ms each way (200 ms RTT) and drops 10 %
// each way, so TCP and DTLS see the same loss and RTT end to end (in
// order, as netem's fixed delay). With -n records backlogged at the site,
// it counts the records the hub acknowledged (the uplink's cursor) after
// -lossy-d; -n must be more than that.
func lossy(ctx context.Context, c config, work, skerry, tower string) error {
	link, err := uplinktest.NewTUNLink(os.Getpid(), uplinktest.Fault{Delay: 100 * time.Millisecond, Loss: 0.1})
	if err != nil {
		return err
	}
	defer link.Close()
	modes := []string{"dtls", "mqtt"}
	res := map[string][]float64{}
	bytes := 0
	for rep := range c.reps {
		for _, mode := range modes {
			dir := fmt.Sprintf("%s/lossy%d-%s", work, rep, mode)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			n, size, err := lossyOnce(ctx, c, dir, skerry, tower, link, mode)
			if err != nil {
				return fmt.Errorf("rep %d %s: %w", rep, mode, err)
			}
			bytes = size
			res[mode] = append(res[mode], float64(n)/c.lossyD.Seconds())
			fmt.Fprintf(os.Stderr, "rep %d %s: %d records in %v (link: %d packets through, %d dropped)\n", rep, mode, n, c.lossyD, link.Sent.Load(), link.Dropped.Load())
			if n >= uint64(c.n)*99/100 {
				fmt.Fprintf(os.Stderr, "rep %d %s: the backlog was (almost) all sent: goodput is more than this, raise -n\n", rep, mode)
			}
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

func lossyOnce(ctx context.Context, c config, dir, skerry, tower string, link *uplinktest.TUNLink, mode string) (acked uint64, wireBytes int, err error) {
	peer := link.Peer
	r, err := uplinktest.New(dir, skerry, tower, io.Discard)
	if err != nil {
		return 0, 0, err
	}
	defer r.Close()
	r.HubWrap = link.Wrap()
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
	args := []string{"-broker", r.HubAddr}
	if mode == "dtls" {
		args = append(uplinktest.DTLSArgs(r.DTLSAddr), "-dtls-window", fmt.Sprint(c.window))
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
