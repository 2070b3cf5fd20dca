package hub

import (
	"github.com/skerry/skerry/services/streamlog"
	"github.com/skerry/skerry/services/streamlog/wire"
)

func wireHeaders(hs []streamlog.Header) []wire.Header {
	out := make([]wire.Header, len(hs))
	for i, h := range hs {
		out[i] = wire.Header{Key: h.Key, Value: h.Value}
	}
	return out
}
