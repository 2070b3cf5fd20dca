package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// stalledCounts is -stalled.
var stalledCounts string

// stalled measures the tower's RSS while n clients each hold a connection
// with a request in its worst state: TLS done, headers of an enrollment
// start sent with Content-Length 65536 (the most the endpoint takes), one
// byte of body, then nothing. A server that allocates what a client
// declares, or has no bound on connections or requests in flight, grows
// with n; under serve.TowerLimits it must not grow past its stated bound.
// The peak RSS over the hold (8 s, inside the body timeout of 30 s) is
// reported against the idle RSS of the same run.
func stalled(ctx context.Context, url string, caPEM []byte, pid int, idle int64, counts string) error {
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	addr := strings.TrimPrefix(url, "https://")
	fmt.Printf("tower RSS idle: %.1f MiB\n", mib(idle))
	fmt.Printf("%-8s %-8s %-14s %-10s\n", "stalled", "open", "peak RSS MiB", "vs idle")
	for _, f := range strings.Split(counts, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return fmt.Errorf("-stalled %q: %w", f, err)
		}
		conns, err := openStalled(addr, roots, n)
		if err != nil {
			return err
		}
		var peak int64
		for end := time.Now().Add(8 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
			peak = max(peak, rss(pid))
		}
		fmt.Printf("%-8d %-8d %-14.1f %-10.2f\n", n, len(conns), mib(peak), float64(peak)/float64(idle))
		for _, c := range conns {
			c.Close()
		}
		time.Sleep(2 * time.Second) // let the tower drop them
	}
	return nil
}

// openStalled opens n stalled requests, 64 handshakes at a time. Past the
// tower's connection limit handshakes wait in the kernel backlog: they
// are counted as open once the TCP connect returns.
func openStalled(addr string, roots *x509.CertPool, n int) ([]net.Conn, error) {
	var mu sync.Mutex
	var conns []net.Conn
	var firstErr error
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	req := "POST /v1/enroll/start HTTP/1.1\r\nHost: tower\r\nContent-Type: application/json\r\nContent-Length: 65536\r\n\r\n{"
	for range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			raw, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				mu.Lock()
				firstErr = err
				mu.Unlock()
				return
			}
			c := tls.Client(raw, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})
			c.SetDeadline(time.Now().Add(3 * time.Second))
			if err := c.Handshake(); err == nil {
				c.SetDeadline(time.Time{})
				c.Write([]byte(req))
			}
			mu.Lock()
			conns = append(conns, raw)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(conns) == 0 && firstErr != nil {
		return nil, firstErr
	}
	return conns, nil
}
