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
// per topic; the parent answers each with an Ack carrying its cumulative
// high-water mark. A batch datagram is
//
//	"SKD1" | uvarint stamp | uvarint len | MQTT batch topic | batch payload
//
// with the MQTT topic (sites/<site>/<tenant>/<name>) and payload of the
// MQTT transport, so the parent decodes and checks it with DecodeBatch and
// refuses a site that is not the certificate's. An answer is
//
//	"SKA1" | uvarint stamp | uvarint len | tenant/name | Ack (JSON)
//
// stamp is the sender's clock (µs) at the batch's transmission, echoed in
// the answer to the newest batch an answer covers: the uplink's RTT samples
// come from it, so a retransmitted batch's answer is never taken for the
// first transmission's (Karn's problem).

// DatagramMTU is the default bound of a datagram's payload (before the
// DTLS record's 13-byte header, 8-byte connection ID and 24 bytes of AES-GCM
// nonce and tag, and 28 bytes of IP and UDP): 1,200 + 45 + 28 fits the
// IPv6 minimum MTU of 1,280 on any path.
const DatagramMTU = 1200

var (
	dgBatch = []byte("SKD1")
	dgAck   = []byte("SKA1")
)

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
// DecodeBatch). The records share memory with p.
func DecodeBatchDatagram(p []byte) (stamp uint64, b Batch, err error) {
	stamp, name, rest, err := datagramHead(p, dgBatch)
	if err != nil {
		return 0, Batch{}, err
	}
	b, err = DecodeBatch(name, rest)
	return stamp, b, err
}

// AppendAckDatagram appends the answer for topic tenant/name to dst. A
// message longer than 512 bytes is cut so that the answer fits a datagram.
func AppendAckDatagram(dst []byte, stamp uint64, name string, a Ack) []byte {
	if len(a.Message) > 512 {
		a.Message = a.Message[:512] + "…"
	}
	dst = append(dst, dgAck...)
	dst = binary.AppendUvarint(dst, stamp)
	dst = binary.AppendUvarint(dst, uint64(len(name)))
	dst = append(dst, name...)
	body, _ := json.Marshal(a) // an Ack always marshals
	return append(dst, body...)
}

// DecodeAckDatagram decodes an answer datagram.
func DecodeAckDatagram(p []byte) (stamp uint64, name string, a Ack, err error) {
	stamp, name, rest, err := datagramHead(p, dgAck)
	if err != nil {
		return 0, "", Ack{}, err
	}
	if err := json.Unmarshal(rest, &a); err != nil {
		return 0, "", Ack{}, fmt.Errorf("%w: answer for %q: %v", ErrBadBatch, name, err)
	}
	return stamp, name, a, nil
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
