package main

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/skerry/skerry/services/siteconfig"
)

// TestReservedPorts: the site's own TCP ports go to skerry-workload as
// -reserved-port; an address without a port, or port 0, reserves none.
func TestReservedPorts(t *testing.T) {
	cfg := siteconfig.Default()
	cfg.Debug.ContainerdTCP = "0.0.0.0:2375"
	want := []string{
		"-reserved-port", "tcp/8080=the site's status API (site config health.listen)",
		"-reserved-port", "tcp/2375=the containerd debug proxy (site config debug.containerdTCP)",
	}
	if diff := cmp.Diff(want, reservedPorts(cfg)); diff != "" {
		t.Errorf("reserved ports (-want +got):\n%s", diff)
	}
	cfg.Health.Listen, cfg.Debug.ContainerdTCP = "", "127.0.0.1:0"
	if got := reservedPorts(cfg); len(got) != 0 {
		t.Errorf("no ports: got %v", got)
	}
}
