// Command streamlog benchmarks the stream log against NATS JetStream in the
// same run, on the same machine, at the same durability: Skerry persistent
// topics against JetStream file storage with sync_interval: always, and
// JetStream with its default sync for a non-durable comparison. It builds
// both servers (nats-server from the module version pinned in go.mod),
// runs them as separate processes, and prints a Markdown table of medians
// over -reps repetitions. docs/benchmarks.md records its output.
//
//	go run ./tools/bench/streamlog -reps 3
//
// With -stalled it measures instead the RSS of skerry streamlog against N
// stalled producers (headers and part of a 16 MiB body, then nothing), for
// each binary of -stalled-bins (default: this tree's):
//
//	go run ./tools/bench/streamlog -stalled 0,10,100,1000 -stalled-bins "base=/tmp/base/skerry head="
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

type config struct {
	work      string
	dur       time.Duration
	reps      int
	window    int
	rate      int
	restartGB float64
	readN     int
	only      string
	fixedOnly bool
	extra     string
	stalled   string
	bins      string
	part      int
	settle    time.Duration
	maxRSS    int
}

func main() {
	var c config
	flag.StringVar(&c.work, "work", "", "scratch directory (default: a new one under $TMPDIR)")
	flag.DurationVar(&c.dur, "dur", 5*time.Second, "duration of each produce run")
	flag.IntVar(&c.reps, "reps", 3, "repetitions; figures are medians")
	flag.IntVar(&c.window, "window", 4096, "records each producer may have unacknowledged")
	flag.IntVar(&c.rate, "rate", 50000, "records/s of the fixed-rate latency run (4 producers)")
	flag.Float64Var(&c.restartGB, "restart-gb", 1, "GB of 1 KiB records written before the kill-and-restart measurement (0 skips)")
	flag.IntVar(&c.readN, "read-n", 1000000, "records of 128 B written for the catch-up read")
	flag.StringVar(&c.only, "only", "", "run only this system: skerry, js-always or js-default")
	flag.BoolVar(&c.fixedOnly, "fixed-only", false, "run only the fixed-rate latency run (diagnosis)")
	flag.StringVar(&c.extra, "skerry-args", "", "extra flags for skerry streamlog, space separated")
	flag.StringVar(&c.stalled, "stalled", "", "measure RSS against these counts of stalled producers, e.g. 0,10,100,1000, instead of the comparison")
	flag.StringVar(&c.bins, "stalled-bins", "head=", "name=path of each skerry binary to measure with -stalled; an empty path builds this tree")
	flag.IntVar(&c.part, "stalled-part", 256<<10, "body bytes each stalled producer sends")
	flag.DurationVar(&c.settle, "stalled-settle", 5*time.Second, "how long the producers stall before RSS is read")
	flag.IntVar(&c.maxRSS, "stalled-max-rss", 4096, "MB: skip larger counts for a binary once its RSS passes this")
	flag.Parse()
	if err := run(context.Background(), c); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, c config) error {
	if c.work == "" {
		d, err := os.MkdirTemp("", "streamlog-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		c.work = d
	}
	bin := filepath.Join(c.work, "bin")
	if c.stalled != "" {
		counts, bins, err := parseStalled(c.stalled, c.bins)
		if err != nil {
			return err
		}
		for i, nb := range bins {
			if name, path, _ := strings.Cut(nb, "="); path == "" {
				if path, err = buildSkerry(bin); err != nil {
					return err
				}
				bins[i] = name + "=" + path
			}
		}
		return runStalled(ctx, c.work, stalledConfig{counts: counts, part: c.part, settle: c.settle, maxRSS: c.maxRSS, bins: bins})
	}
	for _, b := range [][]string{
		{"-o", filepath.Join(bin, "skerry"), "./services/cmd/skerry"},
		{"-o", filepath.Join(bin, "nats-server"), "github.com/nats-io/nats-server/v2"},
	} {
		cmd := exec.Command("go", append([]string{"build"}, b...)...)
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("build %s: %w", b[len(b)-1], err)
		}
	}
	systems := []func(dir string) system{
		func(dir string) system { return newSkerry(filepath.Join(bin, "skerry"), dir, c.extra) },
		func(dir string) system { return newJetStream(filepath.Join(bin, "nats-server"), dir, true) },
		func(dir string) system { return newJetStream(filepath.Join(bin, "nats-server"), dir, false) },
	}
	res := newResults()
	for rep := 0; rep < c.reps; rep++ {
		for i, mk := range systems {
			s := mk(filepath.Join(c.work, fmt.Sprintf("data-%d-%d", rep, i)))
			if c.only != "" && s.name() != c.only {
				continue
			}
			if err := benchSystem(ctx, c, s, res); err != nil {
				return fmt.Errorf("%s: %w", s.name(), err)
			}
		}
	}
	res.print(os.Stdout, c)
	return nil
}
