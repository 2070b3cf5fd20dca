package main

import (
	"context"
	"fmt"
	"log"
	"sort"
	"sync"
	"time"
)

// load is the outcome of one produce run.
type load struct {
	acked   int
	errs    int // records the server refused (e.g. JetStream's 429)
	elapsed time.Duration
	lat     []time.Duration
	peakKB  int
}

func (l load) rate() float64 { return float64(l.acked) / l.elapsed.Seconds() }

func (l load) pct(p float64) float64 {
	if len(l.lat) == 0 {
		return 0
	}
	sort.Slice(l.lat, func(i, j int) bool { return l.lat[i] < l.lat[j] })
	return float64(l.lat[int(p*float64(len(l.lat)-1))].Microseconds()) / 1000
}

// produce runs np producers for d (or until each has sent max records)
// with at most window records in flight each. perSec > 0 paces each
// producer at perSec records/s, and latency counts from the time a record
// was due, so a stalled server is not hidden by a stalled sender.
func produce(ctx context.Context, s system, np, size int, d time.Duration, window, perSec, max int) (load, error) {
	var mu sync.Mutex
	var res load
	stop := make(chan struct{})
	go func() { // sample RSS
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if kb := rssKB(s.proc().Process.Pid); kb > 0 {
					mu.Lock()
					res.peakKB = max2(res.peakKB, kb)
					mu.Unlock()
				}
			}
		}
	}()
	defer close(stop)
	val := make([]byte, size)
	start := time.Now()
	var wg sync.WaitGroup
	errc := make(chan error, np)
	for i := 0; i < np; i++ {
		p, err := s.producer(ctx)
		if err != nil {
			return res, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem := make(chan struct{}, window)
			var lat []time.Duration
			var failed int
			defer func() {
				p.close()
				mu.Lock()
				res.lat = append(res.lat, lat...)
				res.acked += len(lat)
				res.errs += failed
				mu.Unlock()
			}()
			interval := time.Duration(0)
			if perSec > 0 {
				interval = time.Second / time.Duration(perSec)
			}
			due := start
			for n := 0; time.Since(start) < d && (max == 0 || n < max); n++ {
				if interval > 0 {
					due = due.Add(interval)
					if w := time.Until(due); w > 0 {
						time.Sleep(w)
					}
				} else {
					due = time.Now()
				}
				sem <- struct{}{}
				t0 := due
				err := p.send(val, func(err error) {
					if err != nil {
						failed++
					} else {
						lat = append(lat, time.Since(t0))
					}
					<-sem
				})
				if err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	select {
	case err := <-errc:
		return res, err
	default:
	}
	return res, nil
}

func max2(a, b int) int {
	if a > b {
		return a
	}
	return b
}

// benchSystem runs every measurement on one server. Each produce run uses a
// fresh topic or stream; the servers keep running between runs, as a site's
// would, except where a fresh process is the point (idle RSS, fixed rate,
// restart).
func benchSystem(ctx context.Context, c config, s system, r *results) error {
	name := s.name()
	if _, err := s.start(); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	defer s.close()
	if err := s.reset(ctx); err != nil {
		return err
	}
	time.Sleep(time.Second)
	r.add(name, "RSS idle (MB)", float64(rssKB(s.proc().Process.Pid))/1024)
	sizes, nps := []int{128, 1024}, []int{1, 4}
	if c.fixedOnly {
		sizes = nil
	}
	for _, size := range sizes {
		for _, np := range nps {
			if err := s.reset(ctx); err != nil {
				return err
			}
			before := duBytes(s.dir())
			l, err := produce(ctx, s, np, size, c.dur, c.window, 0, 0)
			if err != nil {
				return fmt.Errorf("produce %d B x%d: %w", size, np, err)
			}
			key := fmt.Sprintf("%s x%d", sizeName(size), np)
			r.add(name, "records/s "+key, l.rate())
			r.add(name, "ack p50 ms "+key, l.pct(0.5))
			r.add(name, "ack p99 ms "+key, l.pct(0.99))
			r.add(name, "RSS peak MB "+key, float64(l.peakKB)/1024)
			if size == 128 && np == 1 { // the first run, on an empty data dir
				time.Sleep(200 * time.Millisecond)
				r.add(name, "disk bytes/record 128 B", float64(duBytes(s.dir())-before)/float64(l.acked))
			}
			log.Printf("%s %s: %.0f records/s (%d refused), p99 %.1f ms, RSS %d kB", name, key, l.rate(), l.errs, l.pct(0.99), l.peakKB)
		}
	}
	// The fixed-rate run measures latency and memory at the target load,
	// in a fresh process so that earlier runs' peaks do not count.
	kill(s.proc())
	if _, err := s.start(); err != nil {
		return fmt.Errorf("restart: %w", err)
	}
	if err := s.reset(ctx); err != nil {
		return err
	}
	time.Sleep(time.Second)
	r.add(name, "RSS idle, fresh (MB)", float64(rssKB(s.proc().Process.Pid))/1024)
	l, err := produce(ctx, s, 4, 128, c.dur, c.window, c.rate/4, 0)
	if err != nil {
		return fmt.Errorf("fixed rate: %w", err)
	}
	fr := fmt.Sprintf("at %d/s 128 B x4", c.rate)
	r.add(name, "records/s "+fr, l.rate())
	r.add(name, "ack p50 ms "+fr, l.pct(0.5))
	r.add(name, "ack p99 ms "+fr, l.pct(0.99))
	r.add(name, "RSS peak MB "+fr, float64(l.peakKB)/1024)
	log.Printf("%s %s: %.0f records/s (%d refused), p50 %.2f ms p99 %.2f ms, RSS %d kB (now %s)", name, fr, l.rate(), l.errs, l.pct(0.5), l.pct(0.99), l.peakKB, rssSplit(s.proc().Process.Pid))
	if d := s.diag(ctx); d != "" {
		log.Printf("%s commits: %s", name, d)
	}
	// Reads and restarts do not depend on the sync interval, and filling
	// JetStream with a sync per message would take many minutes: the
	// js-default run stands for both JetStream configurations there.
	if name == "js-always" || c.fixedOnly {
		return nil
	}
	// Catch-up read of readN records written beforehand.
	if err := s.reset(ctx); err != nil {
		return err
	}
	if _, err := produce(ctx, s, 4, 128, time.Hour, c.window, 0, c.readN/4); err != nil {
		return fmt.Errorf("fill for catch-up: %w", err)
	}
	begin := time.Now()
	if err := s.catchUp(ctx, c.readN/4*4); err != nil {
		return fmt.Errorf("catch-up: %w", err)
	}
	cu := float64(c.readN/4*4) / time.Since(begin).Seconds()
	r.add(name, "catch-up read records/s", cu)
	log.Printf("%s catch-up: %.0f records/s", name, cu)
	if c.restartGB <= 0 {
		return nil
	}
	// Kill with restartGB of data, then time the restart until the data
	// is served.
	if err := s.reset(ctx); err != nil {
		return err
	}
	n := int(c.restartGB*(1<<30)) / 1024 / 4
	if _, err := produce(ctx, s, 4, 1024, time.Hour, c.window, 0, n); err != nil {
		return fmt.Errorf("fill for restart: %w", err)
	}
	kill(s.proc())
	took, err := s.start()
	if err != nil {
		return fmt.Errorf("restart: %w", err)
	}
	if err := waitFor(5*time.Minute, func() error { return s.ready(ctx, n*4) }); err != nil {
		return fmt.Errorf("after restart: %w", err)
	}
	took = max(took, time.Duration(0))
	r.add(name, fmt.Sprintf("restart after kill, %.0f GB (s)", c.restartGB), took.Seconds())
	r.add(name, "RSS after restart (MB)", float64(rssKB(s.proc().Process.Pid))/1024)
	log.Printf("%s restart with %.1f GB: %v", name, c.restartGB, took)
	return nil
}

func sizeName(n int) string {
	if n >= 1024 {
		return fmt.Sprintf("%d KiB", n/1024)
	}
	return fmt.Sprintf("%d B", n)
}
