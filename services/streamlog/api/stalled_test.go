package api

import (
	"encoding/binary"
	"fmt"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/skerry/skerry/services/streamlog"
)

// TestStalledProducersBounded opens producers that send headers declaring
// a 16 MiB body and 512 KiB of it, then stall. The service must hold about
// what they sent up to its body budget, not what they declared (before:
// 16 MiB each, allocated at once).
func TestStalledProducersBounded(t *testing.T) {
	const budget = 2 << 20
	e := start(t, WithBodyBudget(budget))
	tok, err := readToken(e.srv.auth.SystemTokenPath())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.CreateTopic("acme/stall", streamlog.TopicConfig{}); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	const clients = 12
	part := make([]byte, 512<<10) // shared: only the service's memory should grow
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range clients {
		c, err := net.Dial("unix", e.sock)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		const declared = 16 << 20
		fmt.Fprintf(c, "POST /v1/topics/acme/stall/records HTTP/1.1\r\nHost: s\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n", tok, declared)
		hdr := []byte{'S', 'K', 'L', '1', 0, 0, 0, 0}
		binary.BigEndian.PutUint32(hdr[4:], declared-8)
		c.Write(hdr)
		go c.Write(part) // blocks once the budget is spent
	}
	time.Sleep(time.Second)
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	grew := int64(after.HeapInuse) - int64(before.HeapInuse)
	t.Logf("%d stalled producers: heap in use grew by %.1f MiB (budget %d MiB)", clients, float64(grew)/(1<<20), budget>>20)
	if limit := int64(2*budget + 4<<20); grew > limit {
		t.Errorf("heap grew by %d bytes under %d stalled producers, want at most %d (twice the body budget, plus connections)", grew, clients, limit)
	}
}
