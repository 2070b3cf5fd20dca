package uplink_test

import (
	"strings"
	"testing"

	"github.com/skerry/skerry/services/streamlog/client"
	"github.com/skerry/skerry/services/streamlog/wire"
)

func clientFrom(off uint64) client.From { return client.From{Offset: off} }

func cut(name string) (tenant, topic string, ok bool) { return strings.Cut(name, "/") }

// readAll pages through a topic from offset 0.
func readAll(t *testing.T, read func(from uint64) ([]wire.Record, error)) []wire.Record {
	t.Helper()
	var out []wire.Record
	for from := uint64(0); ; {
		recs, err := read(from)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			return out
		}
		out = append(out, recs...)
		from = recs[len(recs)-1].Offset + 1
	}
}
