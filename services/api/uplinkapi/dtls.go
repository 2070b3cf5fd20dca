package uplinkapi

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"

	"github.com/skerry/skerry/services/streamlog/wire"
)

// DTLS datagrams. Over DTLS (pion/dtls v3, DTLS 1.2 with connection IDs)
// one write is one record is one UDP datagram: the uplink packs records
// into batches that fit DatagramMTU and keeps a window of them in flight
// per topic; the parent answers with an Ack carrying its cumulative
// high-water mark and, past it, the ranges of offsets it holds in memory
// (selective acknowledgement: batches that came after a hole, not stored
// yet). A batch datagram is
//
//	"SKD2" | uvarint stamp | uvarint len | MQTT batch topic | batch payload
//
// with the MQTT topic (sites/<site>/<tenant>/<name>) and payload of the
// MQTT transport, so the parent decodes and checks it with DecodeBatch and
// refuses a site that is not the certificate's. An answer is
//
//	"SKA2" | uvarint stamp | uvarint len | tenant/name |
//	    uvarint n<<1|cut | n × (uvarint gap, uvarint length-1) | Ack (JSON)
//
// where the n ranges of held offsets are ascending and disjoint, each one's
// gap counted from one past the previous range's last offset (the first
// one's from 0), and cut says the parent held more than MaxSACKRanges
// ranges and listed the lowest. stamp is the sender's clock (µs) at the
// transmission of the newest batch the parent received when it answered:
// the uplink's RTT samples come from it, so a retransmitted batch's answer
// is never taken for the first transmission's (Karn's problem), and a batch
// sent before it that the answer neither covers nor lists was lost (the
// path keeps order; RACK's reasoning, RFC 8985).
//
// Before selective acknowledgements batches were "SKD1" and answers "SKA1"
// (no ranges): a parent answers a "SKD1" batch with "SKA1", so an older
// uplink keeps working with a newer hub (not the reverse: upgrade hubs
// first).

// DatagramMTU is the default bound of a datagram's payload (before the
// DTLS record's 13-byte header, 8-byte connection ID and 24 bytes of AES-GCM
// nonce and tag, and 28 bytes of IP and UDP): 1,200 + 45 + 28 fits the
// IPv6 minimum MTU of 1,280 on any path.
const DatagramMTU = 1200

var (
	dgBatch   = []byte("SKD2")
	dgBatchV1 = []byte("SKD1")
	dgAck     = []byte("SKA2")
	dgAckV1   = []byte("SKA1")
)

// HeldBatches is how many batches per topic a parent holds in memory past
// its high-water mark (it drops the furthest beyond that): an uplink sends
// no batch further than that from the mark.
const HeldBatches = 1024

// MaxSACKRanges bounds the ranges an answer lists: with gaps and lengths
// of a few bytes each it stays far below a datagram.
const MaxSACKRanges = 128

// Range is the offsets First to Last, both included.
type Range struct{ First, Last uint64 }

// SACK is what a parent holds past its high-water mark (Ack.Next):
// batches that came after a hole, kept in memory, neither stored nor
// acknowledged, so the uplink sends again only what is missing.
type SACK struct {
	// Held are ascending, disjoint ranges past Ack.Next.
	Held []Range
	// Complete says Held is all the parent holds: a batch sent before the
	// answer's stamp that Ack.Next and Held do not cover did not arrive.
	// False when the list was cut at MaxSACKRanges, and in a "SKA1"
	// answer (no list).
	Complete bool
}

// AppendBatchDatagram appends b's datagram to dst.
func AppendBatchDatagram(dst []byte, stamp uint64, b *Batch) []byte {
	dst = append(dst, dgBatch...)
	dst = binary.AppendUvarint(dst, stamp)
	t := b.MQTTTopic()
	dst = binary.AppendUvarint(dst, uint64(len(t)))
	dst = append(dst, t...)
	return b.AppendPayload(dst)
}

// DecodeBatchDatagram decodes and checks a batch datagram (see
// DecodeBatch), "SKD2" or "SKD1". The records share memory with p.
func DecodeBatchDatagram(p []byte) (stamp uint64, b Batch, err error) {
	magic := dgBatch
	if bytes.HasPrefix(p, dgBatchV1) {
		magic = dgBatchV1
	}
	stamp, name, rest, err := datagramHead(p, magic)
	if err != nil {
		return 0, Batch{}, err
	}
	b, err = DecodeBatch(name, rest)
	return stamp, b, err
}

// ReadsSACK says whether the sender of batch datagram p reads answers
// with held ranges ("SKD2"); answer one that does not ("SKD1") with
// AppendAckDatagramV1.
func ReadsSACK(p []byte) bool { return bytes.HasPrefix(p, dgBatch) }

// AppendAckDatagram appends the answer for topic tenant/name to dst with
// the ranges held past a.Next (the lowest MaxSACKRanges of them). A
// message longer than 512 bytes is cut so that the answer fits a datagram.
func AppendAckDatagram(dst []byte, stamp uint64, name string, a Ack, held []Range) []byte {
	dst = ackHead(dst, dgAck, stamp, name)
	n, cut := len(held), uint64(0)
	if n > MaxSACKRanges {
		n, cut = MaxSACKRanges, 1
	}
	dst = binary.AppendUvarint(dst, uint64(n)<<1|cut)
	var end uint64 // one past the previous range
	for _, r := range held[:n] {
		dst = binary.AppendUvarint(dst, r.First-end)
		dst = binary.AppendUvarint(dst, r.Last-r.First)
		end = r.Last + 1
	}
	return appendAckBody(dst, a)
}

// AppendAckDatagramV1 appends an answer without ranges ("SKA1"), for an
// uplink that sends "SKD1".
func AppendAckDatagramV1(dst []byte, stamp uint64, name string, a Ack) []byte {
	return appendAckBody(ackHead(dst, dgAckV1, stamp, name), a)
}

func ackHead(dst, magic []byte, stamp uint64, name string) []byte {
	dst = append(dst, magic...)
	dst = binary.AppendUvarint(dst, stamp)
	dst = binary.AppendUvarint(dst, uint64(len(name)))
	return append(dst, name...)
}

func appendAckBody(dst []byte, a Ack) []byte {
	if len(a.Message) > 512 {
		a.Message = a.Message[:512] + "…"
	}
	body, _ := json.Marshal(a) // an Ack always marshals
	return append(dst, body...)
}

// DecodeAckDatagram decodes an answer datagram, "SKA2" or "SKA1", without
// its held ranges.
func DecodeAckDatagram(p []byte) (stamp uint64, name string, a Ack, err error) {
	stamp, name, a, _, err = DecodeSACKDatagram(p)
	return stamp, name, a, err
}

// DecodeSACKDatagram decodes an answer datagram, "SKA2" or "SKA1", and
// checks that its held ranges are ascending, disjoint and past a.Next.
func DecodeSACKDatagram(p []byte) (stamp uint64, name string, a Ack, s SACK, err error) {
	v1 := bytes.HasPrefix(p, dgAckV1)
	magic := dgAck
	if v1 {
		magic = dgAckV1
	}
	stamp, name, rest, err := datagramHead(p, magic)
	if err != nil {
		return 0, "", Ack{}, SACK{}, err
	}
	bad := func(what string) error { return fmt.Errorf("%w: answer for %q: %s", ErrBadBatch, name, what) }
	if !v1 {
		v, k := binary.Uvarint(rest)
		if k <= 0 || v>>1 > MaxSACKRanges {
			return 0, "", Ack{}, SACK{}, bad("bad count of held ranges")
		}
		rest = rest[k:]
		s.Complete = v&1 == 0
		var end uint64
		for i := range v >> 1 {
			gap, k1 := binary.Uvarint(rest)
			if k1 <= 0 {
				return 0, "", Ack{}, SACK{}, bad(fmt.Sprintf("held range %d does not parse", i))
			}
			length, k2 := binary.Uvarint(rest[k1:])
			if k2 <= 0 {
				return 0, "", Ack{}, SACK{}, bad(fmt.Sprintf("held range %d does not parse", i))
			}
			rest = rest[k1+k2:]
			first := end + gap
			last := first + length
			if first < end || last < first || last == ^uint64(0) {
				return 0, "", Ack{}, SACK{}, bad(fmt.Sprintf("held range %d overflows", i))
			}
			s.Held = append(s.Held, Range{first, last})
			end = last + 1
		}
	}
	if err := json.Unmarshal(rest, &a); err != nil {
		return 0, "", Ack{}, SACK{}, bad(err.Error())
	}
	if len(s.Held) > 0 && s.Held[0].First < a.Next {
		return 0, "", Ack{}, SACK{}, bad(fmt.Sprintf("held range from %d is below the high-water mark %d", s.Held[0].First, a.Next))
	}
	return stamp, name, a, s, nil
}

func datagramHead(p, magic []byte) (stamp uint64, name string, rest []byte, err error) {
	if !bytes.HasPrefix(p, magic) {
		return 0, "", nil, fmt.Errorf("%w: datagram does not start with %q", ErrBadBatch, magic)
	}
	p = p[len(magic):]
	stamp, n := binary.Uvarint(p)
	if n <= 0 {
		return 0, "", nil, fmt.Errorf("%w: datagram: bad stamp", ErrBadBatch)
	}
	p = p[n:]
	l, n := binary.Uvarint(p)
	if n <= 0 || l > uint64(len(p)-n) || l > 512 {
		return 0, "", nil, fmt.Errorf("%w: datagram: bad topic length", ErrBadBatch)
	}
	p = p[n:]
	return stamp, string(p[:l]), p[l:], nil
}

// DatagramOverhead is a batch datagram's size without its records: magic,
// stamp, topic, From, Epoch and the record frame's header, at their largest.
func DatagramOverhead(b *Batch) int {
	t := len(b.MQTTTopic())
	return len(dgBatch) + binary.MaxVarintLen64 + binary.MaxVarintLen16 + t +
		len(batchMagic) + 2*binary.MaxVarintLen64 + 8 + binary.MaxVarintLen32
}

// EncodedSize is the bytes r takes in a record frame (see wire.AppendFrame).
func EncodedSize(r *wire.Record) int {
	var ns int64
	if !r.Time.IsZero() {
		ns = r.Time.UnixNano()
	}
	n := uvarintLen(r.Offset) + varintLen(ns) + bytesLen(len(r.Key)) + uvarintLen(uint64(len(r.Headers))) + bytesLen(len(r.Value))
	for _, h := range r.Headers {
		n += bytesLen(len(h.Key)) + bytesLen(len(h.Value))
	}
	return n
}

func bytesLen(n int) int { return uvarintLen(uint64(n)) + n }

func uvarintLen(v uint64) int {
	var b [binary.MaxVarintLen64]byte
	return binary.PutUvarint(b[:], v)
}

func varintLen(v int64) int {
	var b [binary.MaxVarintLen64]byte
	return binary.PutVarint(b[:], v)
}
