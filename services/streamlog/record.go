package streamlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/skerry/skerry/services/streamlog/wire"
)

// Record is one entry of a topic, the same type the API's frames carry (so
// that nothing is copied between a store record and a wire record). Offset
// and Time are set by the store at append; whatever the producer put there
// is ignored.
type Record = wire.Record

// Header is one key/value pair attached to a record.
type Header = wire.Header

// errCorrupt marks a stored record that does not decode; it can only come
// from a damaged file, since the store encodes every record itself.
var errCorrupt = errors.New("corrupt stored record")

// encodeStored appends the stored form of r, without its offset (the bbolt
// key holds it):
//
//	time (int64 unix ns, big endian) | uvarint len(key) | key |
//	uvarint len(headers) | { uvarint len(k) | k | uvarint len(v) | v } |
//	value (the rest)
func encodeStored(dst []byte, ts int64, r *Record) []byte {
	dst = binary.BigEndian.AppendUint64(dst, uint64(ts))
	dst = binary.AppendUvarint(dst, uint64(len(r.Key)))
	dst = append(dst, r.Key...)
	dst = binary.AppendUvarint(dst, uint64(len(r.Headers)))
	for _, h := range r.Headers {
		dst = binary.AppendUvarint(dst, uint64(len(h.Key)))
		dst = append(dst, h.Key...)
		dst = binary.AppendUvarint(dst, uint64(len(h.Value)))
		dst = append(dst, h.Value...)
	}
	return append(dst, r.Value...)
}

// storedTime reads only the timestamp of a stored record, for retention and
// time lookups that must not decode whole records.
func storedTime(v []byte) int64 {
	if len(v) < 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(v))
}

// decodeStored decodes a stored record. The result shares no memory with v,
// which points into bbolt's mmap and is valid only inside its transaction.
func decodeStored(off uint64, v []byte) (Record, error) {
	if len(v) < 8 {
		return Record{}, fmt.Errorf("decode offset %d: %w", off, errCorrupt)
	}
	b := append([]byte(nil), v[8:]...)
	r := Record{Offset: off, Time: time.Unix(0, storedTime(v)).UTC()}
	var err error
	if r.Key, b, err = readBytes(b); err != nil {
		return r, fmt.Errorf("decode offset %d key: %w", off, err)
	}
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return r, fmt.Errorf("decode offset %d headers: %w", off, errCorrupt)
	}
	b = b[k:]
	if n > 0 {
		r.Headers = make([]Header, 0, n)
	}
	for i := uint64(0); i < n; i++ {
		var hk, hv []byte
		if hk, b, err = readBytes(b); err != nil {
			return r, fmt.Errorf("decode offset %d header: %w", off, err)
		}
		if hv, b, err = readBytes(b); err != nil {
			return r, fmt.Errorf("decode offset %d header: %w", off, err)
		}
		r.Headers = append(r.Headers, Header{Key: string(hk), Value: hv})
	}
	r.Value = b
	return r, nil
}

func readBytes(b []byte) (field, rest []byte, err error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return nil, nil, errCorrupt
	}
	end := k + int(n)
	return b[k:end:end], b[end:], nil
}

// storedOverhead approximates what bbolt spends per record beyond the value:
// the 8-byte key and the 16-byte leaf element header. Retention counts it so
// that MaxBytes bounds the file, not just the payload.
const storedOverhead = 24

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func be64(b []byte) uint64 { return binary.BigEndian.Uint64(b) }
