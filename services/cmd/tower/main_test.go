package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skerry/skerry/services/tower/towertest"
)

// syncBuffer is written by run and read by the test at the same time.
type syncBuffer = towertest.LogBuffer

// TestRunStartsWithNoSetup starts the tower on an empty directory and
// checks what it creates and that it serves TLS with its own CA.
func TestRunStartsWithNoSetup(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, &stdout, &stderr, []string{"-data", dir, "-listen", "127.0.0.1:0", "-san", "10.0.2.2", "-uplink-listen", "127.0.0.1:0"})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()

	var url string
	for deadline := time.Now().Add(10 * time.Second); url == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, l := range strings.Split(stdout.String(), "\n") {
			if rest, ok := strings.CutPrefix(l, "serving "); ok {
				url, _, _ = strings.Cut(rest, " ")
			}
		}
	}
	if url == "" {
		t.Fatalf("no serving line; stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), "first operator token written to "+filepath.Join(dir, "operator-token")) {
		t.Errorf("stdout does not say where the token is:\n%s", stdout.String())
	}
	for name, mode := range map[string]os.FileMode{"ca.key": 0o600, "operator-token": 0o600, "ca.crt": 0o644, "tower.db": 0o600} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.Mode().Perm() != mode {
			t.Errorf("%s: got %v, %v; want mode %v", name, fi, err, mode)
		}
	}
	caPEM, _ := os.ReadFile(filepath.Join(dir, "ca.crt"))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := hc.Get(url + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("GET /healthz: %s", resp.Status)
	}
	if sans := resp.TLS.PeerCertificates[0].IPAddresses; len(sans) < 2 || !strings.Contains(strings.TrimSpace(strings.Join(ipStrings(sans), " ")), "10.0.2.2") {
		t.Errorf("server certificate IP SANs %v lack -san 10.0.2.2", sans)
	}
}

func ipStrings[T interface{ String() string }](ips []T) []string {
	var out []string
	for _, ip := range ips {
		out = append(out, ip.String())
	}
	return out
}

// TestRunRefusesBadEKRoots: a trust store that cannot be read stops the
// tower at start with a message naming it, rather than trusting nothing
// quietly.
func TestRunRefusesBadEKRoots(t *testing.T) {
	var stdout, stderr syncBuffer
	missing := filepath.Join(t.TempDir(), "no-such-roots")
	err := run(context.Background(), &stdout, &stderr, []string{"-data", t.TempDir(), "-listen", "127.0.0.1:0", "-uplink-listen", "off", "-ek-roots", missing})
	if err == nil || !strings.Contains(err.Error(), "EK roots") || !strings.Contains(err.Error(), "no-such-roots") {
		t.Errorf("run with a missing -ek-roots: %v, want an error naming it", err)
	}
}
