package uplink

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestRulesLookup(t *testing.T) {
	r := DefaultRules()
	for _, tc := range []struct {
		name string
		want Rule
		ok   bool
	}{
		{"system/control", Rule{Match: "*/control*", Uplink: true, Priority: 10}, true},
		{"acme/alarms", Rule{Match: "*/alarm*", Uplink: true, Priority: 10}, true},
		{"acme/telemetry", Rule{Match: "*/*", Uplink: true}, true},
	} {
		got, ok := r.Lookup(tc.name)
		if ok != tc.ok || !cmp.Equal(got, tc.want) {
			t.Errorf("Lookup(%q): got %+v %v, want %+v %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
	keep, err := ParseRules([]byte(`{"version":1,"rules":[{"match":"acme/secret*","uplink":false},{"match":"*/*","uplink":true}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := keep.Lookup("acme/secrets"); ok {
		t.Error("acme/secrets: goes up, want kept on the site")
	}
	if _, ok := keep.Lookup("acme/x"); !ok {
		t.Error("acme/x: kept, want up")
	}
}

func TestParseRulesRefuses(t *testing.T) {
	for _, tc := range []struct{ name, json string }{
		{"unknown version", `{"version":2,"rules":[]}`},
		{"no version", `{"rules":[]}`},
		{"unknown field", `{"version":1,"rules":[{"match":"*/*","uplnk":true}]}`},
		{"bad pattern", `{"version":1,"rules":[{"match":"[","uplink":true}]}`},
		{"empty pattern", `{"version":1,"rules":[{"match":"","uplink":true}]}`},
		{"not json", `version: 1`},
	} {
		if _, err := ParseRules([]byte(tc.json)); !errors.Is(err, ErrBadConfig) {
			t.Errorf("%s: got %v, want ErrBadConfig", tc.name, err)
		}
	}
	r, err := LoadRules(filepath.Join(t.TempDir(), "missing.json"))
	if err != nil || !cmp.Equal(r, DefaultRules()) {
		t.Errorf("missing file: got %+v, %v; want the defaults", r, err)
	}
}

func TestGateHoldsLowerPriority(t *testing.T) {
	g := newGate()
	ctx := context.Background()
	if err := g.wait(ctx, 0); err != nil {
		t.Fatal(err)
	}
	g.set(10, true)
	released := make(chan struct{})
	go func() {
		g.wait(ctx, 0)
		close(released)
	}()
	if err := g.wait(ctx, 10); err != nil {
		t.Errorf("same priority is held: %v", err)
	}
	select {
	case <-released:
		t.Fatal("priority 0 went ahead while priority 10 had a backlog")
	case <-time.After(50 * time.Millisecond):
	}
	g.set(10, false)
	select {
	case <-released:
	case <-time.After(5 * time.Second):
		t.Fatal("priority 0 still held after the backlog cleared")
	}
}
