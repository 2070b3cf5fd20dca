package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// ContentType marks a body of record frames.
const ContentType = "application/vnd.skerry.records"

// Limits of a frame; a decoder refuses anything larger before allocating.
const (
	MaxFrameBytes      = 16 << 20
	MaxFrameRecords    = 1 << 16
	MaxRecordHeaders   = 64
	frameHeaderBytes   = 8
	minEncodedRecBytes = 5 // offset, time, key, headers, value lengths
)

var frameMagic = [4]byte{'S', 'K', 'L', '1'}

// ErrBadFrame is returned for bytes that are not a valid frame.
var ErrBadFrame = errors.New("bad record frame")

// Record is one record of a topic, in the store and on the wire. Producers
// leave Offset and Time zero; the server sets them.
type Record struct {
	Offset  uint64
	Time    time.Time
	Key     []byte
	Headers []Header
	Value   []byte
}

// Header is a record header.
type Header struct {
	Key   string
	Value []byte
}

// Size is what counts against a topic's max record bytes: key, header keys
// and values, and value.
func (r *Record) Size() int {
	n := len(r.Key) + len(r.Value)
	for _, h := range r.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return n
}

// AppendFrame appends one frame holding recs to dst:
//
//	"SKL1" | uint32 payload length (big endian) | payload
//	payload: uvarint count | count x record
//	record:  uvarint offset | varint unix ns | uvarint len | key |
//	         uvarint headers | { uvarint len | k | uvarint len | v } |
//	         uvarint len | value
//
// Length-prefixed frames let a reader of a live tail take one batch at a
// time without buffering the stream.
func AppendFrame(dst []byte, recs []Record) []byte {
	start := len(dst)
	dst = append(dst, frameMagic[:]...)
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.AppendUvarint(dst, uint64(len(recs)))
	for i := range recs {
		r := &recs[i]
		dst = binary.AppendUvarint(dst, r.Offset)
		var ns int64
		if !r.Time.IsZero() {
			ns = r.Time.UnixNano()
		}
		dst = binary.AppendVarint(dst, ns)
		dst = appendBytes(dst, r.Key)
		dst = binary.AppendUvarint(dst, uint64(len(r.Headers)))
		for _, h := range r.Headers {
			dst = appendBytes(dst, []byte(h.Key))
			dst = appendBytes(dst, h.Value)
		}
		dst = appendBytes(dst, r.Value)
	}
	binary.BigEndian.PutUint32(dst[start+4:], uint32(len(dst)-start-frameHeaderBytes))
	return dst
}

func appendBytes(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

// ReadFrame reads one frame from r. It returns io.EOF at a clean end of
// stream, and ErrBadFrame (wrapped with what was wrong) for anything else
// that is not a frame.
func ReadFrame(r io.Reader, buf []byte) ([]Record, []byte, error) {
	var hdr [frameHeaderBytes]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, buf, fmt.Errorf("%w: truncated header", ErrBadFrame)
		}
		return nil, buf, err
	}
	if [4]byte(hdr[:4]) != frameMagic {
		return nil, buf, fmt.Errorf("%w: magic %q, want %q", ErrBadFrame, hdr[:4], frameMagic[:])
	}
	n := binary.BigEndian.Uint32(hdr[4:])
	if n > MaxFrameBytes {
		return nil, buf, fmt.Errorf("%w: payload of %d bytes above the limit of %d", ErrBadFrame, n, MaxFrameBytes)
	}
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, buf, fmt.Errorf("%w: truncated payload: %v", ErrBadFrame, err)
	}
	recs, err := DecodePayload(buf)
	return recs, buf, err
}

// ErrBatchTooLarge is returned by ReadBatch for a body over its limit.
var ErrBatchTooLarge = errors.New("batch too large")

// readChunk is how much of a frame ReadBatch reads (and charges) at a time.
const readChunk = 64 << 10

// ReadBatch reads the frames of a produce body from r to its end, at most
// limit bytes in all, as one batch. Memory grows with the bytes that arrive,
// never with what a frame header declares: a payload is read in chunks of
// at most 64 KiB into a buffer that grows as they come, and charge (if not
// nil) is called with each chunk's size before it is read, so that a
// server can bound what all requests hold together. An error from charge
// is returned as it is.
func ReadBatch(r io.Reader, limit int64, charge func(n int) error) ([]Record, error) {
	var out []Record
	var total int64
	for {
		var hdr [frameHeaderBytes]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if err == io.EOF {
				return out, nil
			}
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, fmt.Errorf("%w: truncated header at byte %d", ErrBadFrame, total)
			}
			return nil, err
		}
		if [4]byte(hdr[:4]) != frameMagic {
			return nil, fmt.Errorf("%w: missing frame header at byte %d", ErrBadFrame, total)
		}
		n := int(binary.BigEndian.Uint32(hdr[4:]))
		total += frameHeaderBytes + int64(n)
		if n > MaxFrameBytes || total > limit {
			return nil, fmt.Errorf("%w: body above %d bytes", ErrBatchTooLarge, limit)
		}
		buf := make([]byte, 0, min(n, readChunk))
		for len(buf) < n {
			k := min(readChunk, n-len(buf))
			if charge != nil {
				if err := charge(k); err != nil {
					return nil, err
				}
			}
			if cap(buf)-len(buf) < k {
				nb := make([]byte, len(buf), min(max(2*cap(buf), len(buf)+k), n))
				copy(nb, buf)
				buf = nb
			}
			if _, err := io.ReadFull(r, buf[len(buf):len(buf)+k]); err != nil {
				if errors.Is(err, io.ErrUnexpectedEOF) || err == io.EOF {
					return nil, fmt.Errorf("%w: truncated payload: %d of %d bytes", ErrBadFrame, len(buf), n)
				}
				return nil, err
			}
			buf = buf[:len(buf)+k]
		}
		recs, err := DecodePayload(buf)
		if err != nil {
			return nil, err
		}
		if len(out)+len(recs) > MaxFrameRecords {
			return nil, fmt.Errorf("%w: more than %d records", ErrBadFrame, MaxFrameRecords)
		}
		out = append(out, recs...)
	}
}

// DecodeFrames decodes a whole body of frames, as a produce request sends.
func DecodeFrames(b []byte) ([]Record, error) {
	var out []Record
	for len(b) > 0 {
		if len(b) < frameHeaderBytes || [4]byte(b[:4]) != frameMagic {
			return nil, fmt.Errorf("%w: missing frame header at byte %d", ErrBadFrame, len(b))
		}
		n := binary.BigEndian.Uint32(b[4:])
		if uint64(n) > uint64(len(b)-frameHeaderBytes) {
			return nil, fmt.Errorf("%w: frame of %d bytes, only %d present", ErrBadFrame, n, len(b)-frameHeaderBytes)
		}
		recs, err := DecodePayload(b[frameHeaderBytes : frameHeaderBytes+int(n)])
		if err != nil {
			return nil, err
		}
		if len(out)+len(recs) > MaxFrameRecords {
			return nil, fmt.Errorf("%w: more than %d records", ErrBadFrame, MaxFrameRecords)
		}
		out = append(out, recs...)
		b = b[frameHeaderBytes+int(n):]
	}
	return out, nil
}

// DecodePayload decodes a frame's payload. Records share memory with p.
func DecodePayload(p []byte) ([]Record, error) {
	d := decoder{b: p}
	count := d.uvarint()
	if d.err == nil && (count > MaxFrameRecords || count > uint64(len(p))/minEncodedRecBytes) {
		return nil, fmt.Errorf("%w: %d records cannot fit in %d bytes", ErrBadFrame, count, len(p))
	}
	recs := make([]Record, 0, count)
	for i := uint64(0); i < count && d.err == nil; i++ {
		var r Record
		r.Offset = d.uvarint()
		if ns := d.varint(); ns != 0 {
			r.Time = time.Unix(0, ns).UTC()
		}
		r.Key = d.bytes()
		nh := d.uvarint()
		if nh > MaxRecordHeaders {
			return nil, fmt.Errorf("%w: record %d has %d headers, at most %d", ErrBadFrame, i, nh, MaxRecordHeaders)
		}
		for j := uint64(0); j < nh && d.err == nil; j++ {
			k := d.bytes()
			r.Headers = append(r.Headers, Header{string(k), d.bytes()})
		}
		r.Value = d.bytes()
		recs = append(recs, r)
	}
	if d.err != nil {
		return nil, fmt.Errorf("%w: record %d: %v", ErrBadFrame, len(recs), d.err)
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrBadFrame, len(d.b))
	}
	return recs, nil
}

type decoder struct {
	b   []byte
	err error
}

var errShort = errors.New("truncated")

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errShort
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errShort
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.err = fmt.Errorf("field of %d bytes, %d left", n, len(d.b))
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}
