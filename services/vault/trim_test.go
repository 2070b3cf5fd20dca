package vault

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestTrimBinaryPages: the test binary's read-only mappings are dropped
// from its resident set, and it goes on running (the pages come back
// from the page cache).
func TestTrimBinaryPages(t *testing.T) {
	before := rssFile(t)
	n, err := TrimBinaryPages()
	if err != nil || n == 0 {
		t.Fatalf("trim: %d bytes, %v; want some mappings dropped", n, err)
	}
	after := rssFile(t)
	if after >= before {
		t.Errorf("RssFile %d kB before, %d kB after the trim: want less", before, after)
	}
	// Code runs on: a store opens and serves.
	memVault(t)
}

func rssFile(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "RssFile:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	t.Fatal("no RssFile in /proc/self/status")
	return 0
}
