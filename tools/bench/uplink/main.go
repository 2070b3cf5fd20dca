// Command uplink benchmarks replication from a site to a hub: the real
// skerry streamlog, tower hub and skerry uplink binaries as processes on
// loopback, MQTT v5 over TLS, every batch acknowledged after the hub's
// fsync. It measures, per repetition:
//
//   - site produce: the site stream log's own ingest rate of the records
//     (the baseline: the uplink cannot go faster than the site stores);
//   - drain: a backlog of -n records sent up from a standing start;
//   - steady: producers at full speed for -d with the uplink running:
//     records acknowledged by the hub per second, and the lag at the end;
//   - hub CPU per million records and uplink/hub RSS;
//
// once with the hub's embedded broker and once through Debian's mosquitto
// (the hub its client), side by side.
//
// It prints a Markdown table of medians; docs/benchmarks.md records it.
//
//	go run ./tools/bench/uplink -reps 3
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/skerry/skerry/services/streamlog/wire"
	"github.com/skerry/skerry/services/uplink/uplinktest"
)

const topic = "bench/data"

type config struct {
	n, size, reps, producers, batch int
	d, lossyD                       time.Duration
	work, only                      string
	window                          int
}

func main() {
	var c config
	flag.IntVar(&c.n, "n", 300000, "records in the backlog to drain")
	flag.IntVar(&c.size, "size", 128, "record value size in bytes")
	flag.IntVar(&c.reps, "reps", 3, "repetitions (medians are reported)")
	flag.IntVar(&c.producers, "producers", 4, "concurrent producers into the site log")
	flag.IntVar(&c.batch, "batch", 1000, "records per produce request")
	flag.DurationVar(&c.d, "d", 10*time.Second, "duration of the steady run")
	flag.StringVar(&c.work, "work", "", "work directory (default: a temporary one, removed after)")
	flag.StringVar(&c.only, "only", "", "run these modes only, comma-separated: embedded, mosquitto, dtls; MODE:ARGS adds skerry uplink arguments (space-separated)")
	flag.DurationVar(&c.lossyD, "lossy-d", 0, "instead: goodput through 10 % loss each way and 200 ms RTT for this long, DTLS next to MQTT (root, ip, nft)")
	flag.IntVar(&c.window, "dtls-window", 512, "DTLS batches in flight per topic")
	flag.Parse()
	if err := run(context.Background(), c); err != nil {
		fmt.Fprintln(os.Stderr, "uplink bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, c config) error {
	work := c.work
	if work == "" {
		var err error
		if work, err = os.MkdirTemp("", "uplink-bench"); err != nil {
			return err
		}
		defer os.RemoveAll(work)
	}
	skerry, tower, err := uplinktest.Build(work)
	if err != nil {
		return err
	}
	modes := []string{"embedded", "mosquitto"}
	if c.only != "" {
		modes = strings.Split(c.only, ",")
	}
	if c.lossyD > 0 {
		return lossy(ctx, c, work, skerry, tower)
	}
	res := map[string]map[string][]float64{} // mode -> metric -> values
	var order []string
	for rep := range c.reps {
		for i, mode := range modes {
			if res[mode] == nil {
				res[mode] = map[string][]float64{}
			}
			add := func(k string, v float64) {
				if !slices.Contains(order, k) {
					order = append(order, k)
				}
				res[mode][k] = append(res[mode][k], v)
			}
			dir := fmt.Sprintf("%s/rep%d-%d", work, rep, i)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			if err := once(ctx, c, dir, skerry, tower, mode, add); err != nil {
				return fmt.Errorf("rep %d %s: %w", rep, mode, err)
			}
			os.RemoveAll(dir)
		}
	}
	fmt.Printf("\n%d B records, backlog %d, steady %v, %d producers x %d records per request, medians (min–max) of %d runs\n\n",
		c.size, c.n, c.d, c.producers, c.batch, c.reps)
	fmt.Printf("| metric | %s |\n|---|%s\n", strings.Join(modes, " | "), strings.Repeat("---:|", len(modes)))
	for _, k := range order {
		fmt.Printf("| %s |", k)
		for _, mode := range modes {
			v := append([]float64(nil), res[mode][k]...)
			if len(v) == 0 {
				fmt.Print(" - |")
				continue
			}
			sort.Float64s(v)
			fmt.Printf(" %s (%s–%s) |", num(v[len(v)/2]), num(v[0]), num(v[len(v)-1]))
		}
		fmt.Println()
	}
	return nil
}

func once(ctx context.Context, c config, dir, skerry, tower, mode string, add func(string, float64)) error {
	r, err := uplinktest.New(dir, skerry, tower, io.Discard)
	if err != nil {
		return err
	}
	defer r.Close()
	// A mode may carry extra arguments of skerry uplink after a colon
	// ("embedded:-memory-limit=10485760"): variants side by side, in turn.
	mode, extra, _ := strings.Cut(mode, ":")
	var uplinkArgs []string
	switch mode {
	case "mosquitto":
		if err := r.UseMosquitto(); err != nil {
			return err
		}
	case "dtls":
		if err := r.UseDTLS(); err != nil {
			return err
		}
		uplinkArgs = append(uplinktest.DTLSArgs(r.DTLSAddr), "-dtls-window", fmt.Sprint(c.window))
	}
	if err := r.StartStreamlog(); err != nil {
		return err
	}
	if _, err := r.Log.CreateTopic(ctx, topic, wire.TopicConfig{MaxBytes: 4 << 30}); err != nil {
		return err
	}
	// Baseline: the site log's own ingest of the backlog.
	began := time.Now()
	if _, err := produce(ctx, r, c, c.n, nil); err != nil {
		return err
	}
	siteRate := float64(c.n) / time.Since(began).Seconds()
	add("site produce, records/s (baseline)", siteRate)

	if err := r.StartHub(); err != nil {
		return err
	}
	cpu0 := cpuSeconds(r.HubPID())
	began = time.Now()
	if err := r.StartUplink(append(uplinkArgs, strings.Fields(extra)...)...); err != nil {
		return err
	}
	if err := r.WaitCaughtUp(ctx, topic); err != nil {
		return err
	}
	drain := float64(c.n) / time.Since(began).Seconds()
	add("drain backlog site → hub, records/s", drain)
	add("drain / site produce", drain/siteRate)
	add("hub CPU s per million records (drain)", (cpuSeconds(r.HubPID())-cpu0)/float64(c.n)*1e6)

	// Steady: produce at full speed while the uplink runs.
	start, err := r.Log.Cursor(ctx, topic, "uplink")
	if err != nil {
		return err
	}
	stop := make(chan struct{})
	var produced atomic.Int64
	done := make(chan error, 1)
	go func() {
		n, err := produce(ctx, r, c, -1, stop)
		produced.Store(int64(n))
		done <- err
	}()
	time.Sleep(c.d)
	end, err := r.Log.Cursor(ctx, topic, "uplink")
	if err != nil {
		return err
	}
	close(stop)
	if err := <-done; err != nil {
		return err
	}
	info, err := r.Log.Topic(ctx, topic)
	if err != nil {
		return err
	}
	add("steady site produce, records/s", float64(produced.Load())/c.d.Seconds())
	add("steady site → hub stored, records/s", float64(end.Offset-start.Offset)/c.d.Seconds())
	add("steady lag at end, records", float64(info.Next-end.Offset))
	add("uplink RSS, MB", rss(r.UplinkPID(), "VmRSS"))
	add("uplink RSS anonymous (heap, stacks), MB", rss(r.UplinkPID(), "RssAnon"))
	add("uplink RSS file-backed (binary), MB", rss(r.UplinkPID(), "RssFile"))
	add("uplink peak RSS, MB", rss(r.UplinkPID(), "VmHWM"))
	add("hub peak RSS, MB", rss(r.HubPID(), "VmHWM"))
	return nil
}

// produce appends n records (or until stop closes when n < 0) with
// c.producers concurrent requests of c.batch records.
func produce(ctx context.Context, r *uplinktest.Rig, c config, n int, stop chan struct{}) (int, error) {
	var left atomic.Int64
	left.Store(int64(n))
	var total atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, c.producers)
	val := make([]byte, c.size)
	for range c.producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			recs := make([]wire.Record, c.batch)
			for i := range recs {
				recs[i].Value = val
			}
			for {
				k := c.batch
				if n >= 0 {
					got := left.Add(-int64(k))
					if got+int64(k) <= 0 {
						return
					}
					if got < 0 {
						k += int(got)
					}
				} else {
					select {
					case <-stop:
						return
					default:
					}
				}
				if _, err := r.Log.Append(ctx, topic, "", 0, recs[:k]); err != nil {
					errs <- err
					return
				}
				total.Add(int64(k))
			}
		}()
	}
	wg.Wait()
	close(errs)
	return int(total.Load()), <-errs
}

// cpuSeconds is the user+system CPU time of pid.
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	u, _ := strconv.ParseFloat(f[11], 64)
	k, _ := strconv.ParseFloat(f[12], 64)
	return (u + k) / 100 // USER_HZ
}

// rss reads a memory field of /proc/pid/status in MB.
func rss(pid int, field string) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

func num(v float64) string {
	switch {
	case v >= 1000:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}
