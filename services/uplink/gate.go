package uplink

import (
	"context"
	"sync"
)

// gate holds lower-priority topics back while a higher-priority topic has
// records waiting, so that after an outage a control topic goes first.
type gate struct {
	mu      sync.Mutex
	backlog map[int]int // priority -> topics with records waiting
	changed chan struct{}
}

func newGate() *gate { return &gate{backlog: map[int]int{}, changed: make(chan struct{})} }

// set marks one topic of priority p as having (or not) a backlog.
func (g *gate) set(p int, waiting bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if waiting {
		g.backlog[p]++
	} else {
		g.backlog[p]--
	}
	close(g.changed)
	g.changed = make(chan struct{})
}

// wait returns once no topic above priority p has a backlog.
func (g *gate) wait(ctx context.Context, p int) error {
	for {
		g.mu.Lock()
		blocked := false
		for q, n := range g.backlog {
			if q > p && n > 0 {
				blocked = true
			}
		}
		ch := g.changed
		g.mu.Unlock()
		if !blocked {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
