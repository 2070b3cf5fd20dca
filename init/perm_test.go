package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCountBoot(t *testing.T) {
	p := filepath.Join(t.TempDir(), ".skerry", "boots")
	for want := 1; want <= 3; want++ {
		n, err := countBoot(p)
		if err != nil || n != want {
			t.Fatalf("countBoot: %d, %v; want %d", n, err, want)
		}
		data, err := os.ReadFile(p)
		if err != nil || strings.TrimSpace(string(data)) != strings.TrimSpace(string(rune('0'+want))) {
			t.Fatalf("counter file %q, %v; want %d", data, err, want)
		}
	}
	// No temporary file is left beside it.
	ents, _ := os.ReadDir(filepath.Dir(p))
	if len(ents) != 1 {
		t.Errorf("directory holds %d entries, want only the counter", len(ents))
	}
	// A damaged counter is said so, and counting starts again.
	if err := os.WriteFile(p, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if n, err := countBoot(p); n != 1 || err == nil || !strings.Contains(err.Error(), "not a count") {
		t.Errorf("countBoot over garbage: %d, %v; want 1 and an error saying so", n, err)
	}
	if n, err := countBoot(p); n != 2 || err != nil {
		t.Errorf("countBoot after a damaged counter: %d, %v; want 2", n, err)
	}
}
