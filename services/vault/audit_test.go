package vault

import (
	"fmt"
	"log/slog"
	"runtime"
	"testing"
)

// TestAuditQueue checks the queue's bound and order, and that its memory
// follows the backlog: an idle auditor holds no slots.
func TestAuditQueue(t *testing.T) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	a := NewAuditor(slog.New(slog.DiscardHandler))
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 4096 {
		t.Errorf("NewAuditor allocated %d bytes; want a queue that grows with the backlog, not %d slots up front", got, AuditQueue)
	}
	for i := range AuditQueue + 5 {
		a.Record(Event{Object: fmt.Sprint(i)})
	}
	if got := a.Dropped(); got != 5 {
		t.Errorf("Dropped: got %d, want 5", got)
	}
	var n int
	for {
		es := a.take(256)
		if len(es) == 0 {
			break
		}
		for _, e := range es {
			if e.Object != fmt.Sprint(n) {
				t.Fatalf("event %d: got object %q, want %d", n, e.Object, n)
			}
			n++
		}
	}
	if n != AuditQueue {
		t.Errorf("took %d events, want %d", n, AuditQueue)
	}
	if a.q != nil {
		t.Errorf("drained queue still holds an array of %d", cap(a.q))
	}
}
