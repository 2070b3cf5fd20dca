package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/skerry/skerry/services/streamlog/wire"
)

// stalledConfig is the -stalled run: the RSS of a real skerry streamlog
// process against N producers that send the headers of a 16 MiB produce
// request and part of its body, then stall.
type stalledConfig struct {
	counts []int
	part   int           // body bytes each client sends before stalling
	settle time.Duration // how long the clients stall before RSS is read
	maxRSS int           // MB: larger counts are skipped once RSS passes this
	bins   []string      // name=path of each binary to compare
}

func parseStalled(counts, bins string) ([]int, []string, error) {
	var ns []int
	for _, f := range strings.Split(counts, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 {
			return nil, nil, fmt.Errorf("-stalled %q: want a comma-separated list of client counts", counts)
		}
		ns = append(ns, n)
	}
	return ns, strings.Fields(bins), nil
}

// runStalled prints one Markdown row per binary and client count: RSS with
// the clients stalled (the largest sample over the settle time) and idle.
func runStalled(ctx context.Context, work string, c stalledConfig) error {
	fmt.Printf("| binary | stalled clients | RSS idle MB | RSS stalled MB | RssAnon stalled MB | clients answered |\n|---|---:|---:|---:|---:|---:|\n")
	for _, nb := range c.bins {
		name, bin, ok := strings.Cut(nb, "=")
		if !ok {
			return fmt.Errorf("-stalled-bins %q: want name=path", nb)
		}
		over := false
		for i, n := range c.counts {
			if over {
				fmt.Printf("| %s | %d | skipped: RSS above %d MB at fewer clients | | | |\n", name, n, c.maxRSS)
				continue
			}
			rss, err := stalledOnce(ctx, bin, filepath.Join(work, fmt.Sprintf("stalled-%s-%d", name, i)), n, c)
			if err != nil {
				return fmt.Errorf("%s, %d clients: %w", name, n, err)
			}
			fmt.Printf("| %s | %d | %.1f | %.1f | %.1f | %d |\n", name, n, rss.idle, rss.stalled, rss.anon, rss.answered)
			over = rss.stalled > float64(c.maxRSS)
		}
	}
	return nil
}

type stalledRSS struct {
	idle, stalled, anon float64
	answered            int // clients the service answered (busy, timeout) within the settle time
}

func stalledOnce(ctx context.Context, bin, dir string, n int, c stalledConfig) (stalledRSS, error) {
	var out stalledRSS
	s := newSkerry(bin, dir, "")
	if _, err := s.start(); err != nil {
		return out, err
	}
	defer s.close()
	if _, err := s.c.CreateTopic(ctx, "bench/stall", wire.TopicConfig{}); err != nil {
		return out, err
	}
	tok, err := os.ReadFile(s.tokenPath())
	if err != nil {
		return out, err
	}
	time.Sleep(time.Second)
	pid := s.cmd.Process.Pid
	out.idle = float64(rssKB(pid)) / 1024

	const declared = 16 << 20
	head := fmt.Appendf(nil, "POST /v1/topics/bench/stall/records HTTP/1.1\r\nHost: streamlog\r\nAuthorization: Bearer %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\nSKL1\x00\x00\x00\x00",
		strings.TrimSpace(string(tok)), wire.ContentType, declared)
	binary.BigEndian.PutUint32(head[len(head)-4:], declared-8)
	part := make([]byte, c.part)
	var mu sync.Mutex
	var conns []net.Conn
	defer func() {
		mu.Lock()
		for _, cn := range conns {
			cn.Close()
		}
		mu.Unlock()
	}()
	var wg sync.WaitGroup
	answered := make(chan struct{}, n)
	for range n {
		cn, err := net.Dial("unix", s.sock)
		if err != nil {
			return out, fmt.Errorf("connect: %w", err)
		}
		mu.Lock()
		conns = append(conns, cn)
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Past the service's connection bound the writes wait in the
			// socket buffer; the deadline ends them, the connection stays.
			cn.SetWriteDeadline(time.Now().Add(c.settle))
			cn.Write(head)
			cn.Write(part)
		}()
		go func() {
			b := make([]byte, 1)
			cn.SetReadDeadline(time.Now().Add(c.settle))
			if _, err := cn.Read(b); err == nil || err == io.EOF {
				answered <- struct{}{}
			}
		}()
	}
	end := time.Now().Add(c.settle)
	for time.Now().Before(end) {
		if r := float64(rssKB(pid)) / 1024; r > out.stalled {
			out.stalled = r
			out.anon = rssAnonMB(pid)
		}
		time.Sleep(100 * time.Millisecond)
	}
	wg.Wait()
	out.answered = len(answered)
	return out, nil
}

// rssAnonMB reads the anonymous part of a process's RSS (the Go heap and
// stacks; bbolt's mmap is file-backed).
func rssAnonMB(pid int) float64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "RssAnon:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return float64(n) / 1024
		}
	}
	return 0
}

// buildSkerry builds skerry from the working tree into dir.
func buildSkerry(dir string) (string, error) {
	bin := filepath.Join(dir, "skerry")
	cmd := exec.Command("go", "build", "-o", bin, "./services/cmd/skerry")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build skerry: %w", err)
	}
	return bin, nil
}
