package hub

import (
	"github.com/skerry/skerry/services/streamlog"
	"github.com/skerry/skerry/services/streamlog/wire"
)

func wireHeaders(hs []streamlog.Header) []wire.Header {
	// streamlog.Header is wire.Header: one record type across the log.
	return hs
}
