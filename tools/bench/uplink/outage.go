package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/skerry/skerry/services/api/uplinkapi"
	"github.com/skerry/skerry/services/streamlog/client"
	"github.com/skerry/skerry/services/streamlog/wire"
	"github.com/skerry/skerry/services/uplink/uplinktest"
)

// controlTopic matches the default rule "*/control*" (priority 10): it
// goes up before bench/data (priority 0) after an outage.
const controlTopic = "bench/control"

// outage measures the drain after an outage (issue 9): the uplink runs
// while the hub is down, -n records of the bulk topic pile up at the site,
// then one record on the control topic; the hub starts and a producer
// keeps writing the bulk topic at each fixed rate of rates (records/s).
// Per run: the time from the hub's start (and from the uplink's connect)
// until the uplink's lag is zero, the drain rate, and when the control
// record is stored at the hub, with the bulk records stored before it.
// OUTAGE_DEBUG=1 prints the site's end and the hub's mark every second.
func outage(ctx context.Context, c config, work, skerry, tower, rates string) error {
	modes := []string{"embedded"}
	if c.only != "" {
		modes = strings.Split(c.only, ",")
	}
	var rs []int
	for _, f := range strings.Split(rates, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || v <= 0 {
			return fmt.Errorf("-outage %q: want ingest rates in records/s, comma-separated (e.g. 2000,5000)", rates)
		}
		rs = append(rs, v)
	}
	type key struct {
		mode string
		rate int
	}
	res := map[key]map[string][]float64{}
	var order []string
	for rep := range c.reps {
		for _, mode := range modes {
			for _, rate := range rs {
				k := key{mode, rate}
				if res[k] == nil {
					res[k] = map[string][]float64{}
				}
				dir := fmt.Sprintf("%s/outage%d-%s-%d", work, rep, mode, rate)
				if err := os.MkdirAll(dir, 0o755); err != nil {
					return err
				}
				m, err := outageOnce(ctx, c, dir, skerry, tower, mode, rate)
				os.RemoveAll(dir)
				if err != nil {
					return fmt.Errorf("rep %d %s %d/s: %w", rep, mode, rate, err)
				}
				fmt.Fprintf(os.Stderr, "rep %d %s %d/s:", rep, mode, rate)
				for _, mv := range m {
					if !slices.Contains(order, mv.k) {
						order = append(order, mv.k)
					}
					res[k][mv.k] = append(res[k][mv.k], mv.v)
					fmt.Fprintf(os.Stderr, " %s=%s;", mv.k, num(mv.v))
				}
				fmt.Fprintln(os.Stderr)
			}
		}
	}
	fmt.Printf("\nDrain after an outage: %d records of %d B backlogged on %s and 1 on %s, medians (min–max) of %d runs\n\n",
		c.n, c.size, topic, controlTopic, c.reps)
	var cols []key
	fmt.Print("| metric |")
	for _, mode := range modes {
		for _, rate := range rs {
			cols = append(cols, key{mode, rate})
			fmt.Printf(" %s, ingest %d/s |", mode, rate)
		}
	}
	fmt.Printf("\n|---|%s\n", strings.Repeat("---:|", len(cols)))
	for _, name := range order {
		fmt.Printf("| %s |", name)
		for _, k := range cols {
			v := append([]float64(nil), res[k][name]...)
			sort.Float64s(v)
			fmt.Printf(" %s (%s–%s) |", num(v[len(v)/2]), num(v[0]), num(v[len(v)-1]))
		}
		fmt.Println()
	}
	return nil
}

type metric struct {
	k string
	v float64
}

func outageOnce(ctx context.Context, c config, dir, skerry, tower, mode string, rate int) ([]metric, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	r, err := uplinktest.New(dir, skerry, tower, io.Discard)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var uplinkArgs []string
	if mode == "dtls" {
		if err := r.UseDTLS(); err != nil {
			return nil, err
		}
		uplinkArgs = append(uplinktest.DTLSArgs(r.DTLSAddr), "-dtls-window", fmt.Sprint(c.window))
	} else if mode != "embedded" {
		return nil, fmt.Errorf("mode %q: the outage bench runs embedded or dtls", mode)
	}
	if err := r.StartStreamlog(); err != nil {
		return nil, err
	}
	for _, t := range []string{topic, controlTopic} {
		if _, err := r.Log.CreateTopic(ctx, t, wire.TopicConfig{MaxBytes: 4 << 30}); err != nil {
			return nil, err
		}
	}
	// The outage: the uplink runs, the hub is down, the backlog piles up,
	// and the alarm comes at its end.
	if err := r.StartUplink(uplinkArgs...); err != nil {
		return nil, err
	}
	if _, err := produce(ctx, r, c, c.n, nil); err != nil {
		return nil, err
	}
	if _, err := r.Log.Append(ctx, controlTopic, "", 0, []wire.Record{{Value: []byte("alarm: door open")}}); err != nil {
		return nil, err
	}
	hubBulk, _ := uplinkapi.HubTopic(uplinktest.Site, "bench", "data")
	hubControl, _ := uplinkapi.HubTopic(uplinktest.Site, "bench", "control")

	began := time.Now()
	if err := r.StartHub(); err != nil {
		return nil, err
	}
	// Producers keep writing at rate from the hub's start.
	var written atomic.Int64
	stop := make(chan struct{})
	prodErr := make(chan error, 1)
	go func() { prodErr <- paced(ctx, r, c, rate, began, &written, stop) }()
	defer func() { close(stop); <-prodErr }()

	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", r.UplinkSocket())
	}}}
	var hl *client.Client
	var lastDbg time.Time
	var connected, control, drained, zero time.Time
	var bulkBefore uint64
	var writtenAtDrain int64
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("lag not zero after %v (connected %v, control stored %v)", time.Since(began).Round(time.Second), !connected.IsZero(), !control.IsZero())
		case err := <-prodErr:
			prodErr <- err // for the deferred stop
			return nil, fmt.Errorf("producer: %v", err)
		case <-time.After(5 * time.Millisecond):
		}
		if connected.IsZero() {
			if st, err := uplinkStatus(ctx, hc); err == nil && st.State == uplinkapi.StateConnected {
				connected = st.Since
				if connected.Before(began) {
					return nil, fmt.Errorf("uplink connected at %v, before the hub started", st.Since)
				}
			}
		}
		if control.IsZero() {
			if hl == nil {
				hl, _ = uplinktest.HubLog(r.HubData())
			}
			if hl != nil {
				if info, err := hl.Topic(ctx, hubControl); err == nil && info.Next > 0 {
					control = time.Now()
					// Read after: an upper bound of the bulk records stored first.
					if b, err := hl.Topic(ctx, hubBulk); err == nil {
						bulkBefore = b.Next
					}
				}
			}
		}
		// Lag: the records the site held before the hub was read that
		// the hub has not stored. Producers append every 10 ms and each
		// append takes a round trip and the hub's fsync to go up, so at
		// the steady state the lag is seldom exactly zero: caught up is a
		// lag of at most 100 ms of ingest; zero is recorded too.
		info, err := r.Log.Topic(ctx, topic)
		if err != nil {
			return nil, err
		}
		w := written.Load()
		if hl == nil || control.IsZero() {
			continue
		}
		hb, err := hl.Topic(ctx, hubBulk)
		if err != nil {
			continue
		}
		if os.Getenv("OUTAGE_DEBUG") != "" && time.Since(lastDbg) > time.Second {
			lastDbg = time.Now()
			fmt.Fprintf(os.Stderr, "%.1fs site %d hub %d\n", time.Since(began).Seconds(), info.Next, hb.Next)
		}
		if drained.IsZero() && hb.Next+uint64(rate/10) >= info.Next {
			drained, writtenAtDrain = time.Now(), w
		}
		if zero.IsZero() && hb.Next >= info.Next {
			zero = time.Now()
		}
		if !drained.IsZero() && (!zero.IsZero() || time.Since(drained) > 30*time.Second) {
			break
		}
	}
	if connected.IsZero() {
		return nil, fmt.Errorf("drained but the status API never said connected")
	}
	total := float64(c.n) + float64(writtenAtDrain)
	d := drained.Sub(began).Seconds()
	dc := drained.Sub(connected).Seconds()
	return []metric{
		{"hub start → uplink connected, s", connected.Sub(began).Seconds()},
		{"hub start → lag ≤ 100 ms of ingest, s", d},
		{"hub start → lag zero, s (0: not within 30 s)", sinceOr0(zero, began)},
		{"records written during the drain", float64(writtenAtDrain)},
		{"drain from hub start, records/s", total / d},
		{"drain / ingest (from hub start)", total / d / float64(rate)},
		{"drain from connect, records/s", total / dc},
		{"drain / ingest (from connect)", total / dc / float64(rate)},
		{"hub start → control stored at hub, s", control.Sub(began).Seconds()},
		{"connect → control stored at hub, s", control.Sub(connected).Seconds()},
		{"bulk records at hub when control seen (upper bound)", float64(bulkBefore)},
	}, nil
}

// paced appends records to the bulk topic at rate records/s from began,
// in appends every 10 ms, until stop closes; written counts them.
func paced(ctx context.Context, r *uplinktest.Rig, c config, rate int, began time.Time, written *atomic.Int64, stop chan struct{}) error {
	val := make([]byte, c.size)
	recs := make([]wire.Record, c.batch)
	for i := range recs {
		recs[i].Value = val
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return nil
		case <-tick.C:
		}
		due := int64(time.Since(began).Seconds()*float64(rate)) - written.Load()
		for due > 0 {
			k := min(int(due), len(recs))
			if _, err := r.Log.Append(ctx, topic, "", 0, recs[:k]); err != nil {
				return err
			}
			written.Add(int64(k))
			due -= int64(k)
		}
	}
}

func uplinkStatus(ctx context.Context, hc *http.Client) (*uplinkapi.Status, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://uplink"+uplinkapi.StatusPath, nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var st uplinkapi.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return nil, err
	}
	return &st, nil
}

func sinceOr0(t, from time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return t.Sub(from).Seconds()
}
