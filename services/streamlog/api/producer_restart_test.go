package api

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/skerry/skerry/qemu/testenv"
	"github.com/skerry/skerry/services/streamlog/client"
	"github.com/skerry/skerry/services/streamlog/wire"
)

// TestProducerSurvivesSlowRestart stops the service for longer than the
// producer's old retry budget (about 3 s), keeps sending while it is away,
// and restarts it: every record sent must be stored exactly once, with
// dense offsets, and the producer must go on sending afterwards.
func TestProducerSurvivesSlowRestart(t *testing.T) {
	testenv.Integration(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "s.sock")
	svc, c := startChild(t, dir, sock)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := c.CreateTopic(ctx, "system/restart", wire.TopicConfig{}); err != nil {
		t.Fatal(err)
	}
	p := c.NewProducer(ctx, "system/restart", client.ProducerOptions{ID: "slow-restart"})
	var results []*client.Result
	send := func(n int) {
		for range n {
			results = append(results, p.Send(wire.Record{Value: fmt.Appendf(nil, "r%d", len(results))}))
		}
	}
	send(100)
	if _, err := results[len(results)-1].Wait(ctx); err != nil {
		t.Fatalf("before the restart: %v", err)
	}
	svc.kill()
	send(100) // while the service is away
	time.Sleep(5 * time.Second)
	send(100)
	svc.start()
	send(100) // after it is back
	p.Close()
	for i, r := range results {
		off, err := r.Wait(ctx)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if off != uint64(i) {
			t.Errorf("record %d stored at offset %d, want %d", i, off, i)
		}
	}
	recs, err := c.Read(ctx, "system/restart", client.From{}, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != len(results) {
		t.Fatalf("topic holds %d records, want %d (none lost, none twice)", len(recs), len(results))
	}
	for i, r := range recs {
		if want := fmt.Sprintf("r%d", i); string(r.Value) != want {
			t.Fatalf("offset %d holds %q, want %q", i, r.Value, want)
		}
	}
}

// TestProducerStopsWithContext: with no service at all, a producer keeps
// its batch until its context ends, then fails it and every later record
// with the context's error.
func TestProducerStopsWithContext(t *testing.T) {
	c, _ := client.New(filepath.Join(t.TempDir(), "nobody.sock"))
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	p := c.NewProducer(ctx, "acme/x", client.ProducerOptions{})
	first := p.Send(wire.Record{Value: []byte("a")})
	select {
	case <-first.Done():
		t.Fatalf("the batch was given up before the context ended: %v", first.Err)
	case <-time.After(300 * time.Millisecond):
	}
	if _, err := first.Wait(context.Background()); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("record sent while the service is away: got %v, want the context's error", err)
	}
	later := p.Send(wire.Record{Value: []byte("b")})
	if _, err := later.Wait(context.Background()); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("record sent after the context ended: got %v, want the context's error", err)
	}
	p.Close()
}
