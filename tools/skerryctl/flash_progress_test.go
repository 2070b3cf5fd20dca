//go:build linux

package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestProgressLine(t *testing.T) {
	tests := []struct {
		done, total int64
		elapsed     time.Duration
		want        string
	}{
		{0, 734_003_200, 0, "writing   0 B / 734.0 MB    0%  -- MB/s  ETA -:--"},
		{367_001_600, 734_003_200, 10 * time.Second, "writing   367.0 MB / 734.0 MB   50%  36.7 MB/s  ETA 0:10"},
		{100_000_000, 734_003_200, 100 * time.Second, "writing   100.0 MB / 734.0 MB   14%  1.0 MB/s  ETA 10:34"},
		{1_000_000, 8_000_000_000, 1 * time.Second, "writing   1.0 MB / 8.0 GB    0%  1.0 MB/s  ETA 2:13:19"},
		{734_003_200, 734_003_200, 20 * time.Second, "writing   734.0 MB / 734.0 MB  100%  36.7 MB/s  ETA 0:00"},
	}
	for _, tt := range tests {
		if got := progressLine("writing", tt.done, tt.total, tt.elapsed); got != tt.want {
			t.Errorf("progressLine(%d, %d, %v):\n got %q\nwant %q", tt.done, tt.total, tt.elapsed, got, tt.want)
		}
	}
}

// TestMeterNotTerminal checks that off a terminal the meter writes whole
// lines, with no carriage returns or escape sequences.
func TestMeterNotTerminal(t *testing.T) {
	var buf bytes.Buffer
	m := startMeter(&buf, "verifying", 100)
	m.set(100)
	m.finish()
	got := buf.String()
	if !strings.HasPrefix(got, "verifying 100 B / 100 B  100%") || !strings.HasSuffix(got, "\n") || strings.ContainsAny(got, "\r\x1b") {
		t.Errorf("meter output: got %q, want one plain line at 100%%", got)
	}
}
