package uplinkapi

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/skerry/skerry/services/streamlog"
	"github.com/skerry/skerry/services/streamlog/wire"
)

// Headers the parent adds to every stored record.
const (
	HeaderSiteOffset = "site.offset"
	HeaderSiteTime   = "site.time"
	HeaderSiteEpoch  = "site.epoch"
)

// HeaderHop is the header a parent adds to a record a hub forwarded: the
// forwarding hub's offset and topic epoch (16 bytes big endian), the
// sender-side mark of a forwarded topic. Each hop replaces it; the origin's
// three headers travel unchanged to the top.
const HeaderHop = "hop"

// MaxSiteHeaders is how many headers a record may carry to go up: the
// parent adds three, a forwarded record one more (HeaderHop), and a stored
// record holds at most wire.MaxRecordHeaders.
const MaxSiteHeaders = wire.MaxRecordHeaders - 4

// RoleSite and RoleHub are the certificate roles (the subject's OU) the
// parent tells its peers apart by: a site publishes its own topics, a hub
// forwards other sites' records (see ForwardedTopic). Only the tower CA
// gives a certificate its role, so a site cannot claim to be a hub.
const (
	RoleSite = "site"
	RoleHub  = "hub"
)

// Ack statuses.
const (
	// StatusStored: every record up to Next-1 is fsynced at the parent.
	StatusStored = "stored"
	// StatusGap: the batch starts past Next; resume reading at Next.
	StatusGap = "gap"
	// StatusRefused: the batch is wrong and will stay wrong (Code says
	// why); nothing of it was stored.
	StatusRefused = "refused"
	// StatusRetry: the parent could not store now (disk full, I/O error,
	// shutting down); send the same batch again later.
	StatusRetry = "retry"
)

// Refusal codes.
const (
	CodeBadBatch  = "bad_batch"
	CodeBadTopic  = "bad_topic"
	CodeForbidden = "forbidden"
	CodeStore     = "store_failed"
	// CodeEpoch: the site's topic is not the one the parent holds records
	// of (its log was wiped or the topic recreated: offsets start again).
	// Nothing is stored until an operator moves the parent's topic aside.
	CodeEpoch = "site_topic_reset"
	// CodeFull (with StatusRetry): a hub cannot store more of the topic
	// without dropping records its parent does not have yet; keep them
	// and send again later (back-pressure).
	CodeFull = "full"
)

// Ack is the parent's answer to a batch, on the batch's response topic.
type Ack struct {
	Status string `json:"status"`
	// Next is the parent's high-water mark for the topic after the batch:
	// the next site offset it expects.
	Next uint64 `json:"next"`
	// Stored counts records newly stored, Duplicates records dropped as
	// already stored, Lost offsets the site declared dropped by retention.
	Stored     int    `json:"stored,omitempty"`
	Duplicates int    `json:"duplicates,omitempty"`
	Lost       uint64 `json:"lost,omitempty"`
	Code       string `json:"code,omitempty"`
	Message    string `json:"message,omitempty"`
}

// Batch is one topic's contiguous records from one site.
type Batch struct {
	Site, Tenant, Topic string
	// From is the offset the uplink read from; see the package doc.
	From uint64
	// Epoch names the site topic's incarnation (its creation time, unix
	// ns): offsets are only comparable within one.
	Epoch   uint64
	Records []wire.Record
}

// ErrBadBatch is returned for a payload or MQTT topic that is not a batch.
var ErrBadBatch = errors.New("bad uplink batch")

var batchMagic = []byte("SKU1")

// MQTTTopic returns the MQTT topic of b.
func (b *Batch) MQTTTopic() string { return BatchTopic(b.Site, b.Tenant, b.Topic) }

// BatchTopic is the MQTT topic a site publishes tenant/topic's batches to.
func BatchTopic(site, tenant, topic string) string {
	return "sites/" + site + "/" + tenant + "/" + topic
}

// AckTopic is where a site's uplink with MQTT client id client hears its
// answers.
func AckTopic(site, client string) string { return "sites/" + site + "/_ack/" + client }

// SitePrefix is the part of every MQTT topic a site may use.
func SitePrefix(site string) string { return "sites/" + site + "/" }

// AppendPayload appends the MQTT payload of b to dst.
func (b *Batch) AppendPayload(dst []byte) []byte {
	dst = append(dst, batchMagic...)
	dst = binary.AppendUvarint(dst, b.From)
	dst = binary.AppendUvarint(dst, b.Epoch)
	return wire.AppendFrame(dst, b.Records)
}

// ParseTopic splits an MQTT batch topic into site, tenant and topic, and
// checks each against the stream log's name rules.
func ParseTopic(s string) (site, tenant, topic string, err error) {
	parts := strings.Split(s, "/")
	if len(parts) != 4 || parts[0] != "sites" {
		return "", "", "", fmt.Errorf("%w: topic %q: want sites/<site>/<tenant>/<topic>", ErrBadBatch, s)
	}
	site, tenant, topic = parts[1], parts[2], parts[3]
	if err := ValidateSite(site); err != nil {
		return "", "", "", err
	}
	if err := (streamlog.Name{Tenant: tenant, Topic: topic}).Validate(); err != nil {
		return "", "", "", fmt.Errorf("%w: topic %q: %w", ErrBadBatch, s, err)
	}
	return site, tenant, topic, nil
}

// ValidateSite checks a site ID: the stream log's rules for a tenant (1-32
// of a-z 0-9 _ -, starting with a letter or digit; the tower issues 16 hex
// digits), so that <site>.<topic> is a topic name at the hub.
func ValidateSite(site string) error {
	if err := streamlog.ValidateTenant(site); err != nil {
		return fmt.Errorf("%w: site %q: %w", ErrBadBatch, site, err)
	}
	return nil
}

// DecodeBatch decodes the payload published to the MQTT topic mqttTopic and
// checks what the parent relies on: at least one record, contiguous
// offsets starting at or after From, header counts within the limit. The
// records share memory with payload.
func DecodeBatch(mqttTopic string, payload []byte) (Batch, error) {
	return decodeBatch(mqttTopic, payload, MaxSiteHeaders)
}

// DecodeForwarded decodes a batch a hub forwarded: as DecodeBatch, but its
// records already carry the origin's headers (and a previous HeaderHop the
// parent replaces), so the stream log's own limit applies.
func DecodeForwarded(mqttTopic string, payload []byte) (Batch, error) {
	return decodeBatch(mqttTopic, payload, wire.MaxRecordHeaders)
}

func decodeBatch(mqttTopic string, payload []byte, maxHeaders int) (Batch, error) {
	var b Batch
	var err error
	if b.Site, b.Tenant, b.Topic, err = ParseTopic(mqttTopic); err != nil {
		return Batch{}, err
	}
	if !bytes.HasPrefix(payload, batchMagic) {
		return Batch{}, fmt.Errorf("%w: payload does not start with %q", ErrBadBatch, batchMagic)
	}
	p := payload[len(batchMagic):]
	from, n := binary.Uvarint(p)
	if n <= 0 {
		return Batch{}, fmt.Errorf("%w: bad from offset", ErrBadBatch)
	}
	b.From = from
	p = p[n:]
	if b.Epoch, n = binary.Uvarint(p); n <= 0 {
		return Batch{}, fmt.Errorf("%w: bad epoch", ErrBadBatch)
	}
	if b.Records, err = wire.DecodeFrames(p[n:]); err != nil {
		return Batch{}, fmt.Errorf("%w: %w", ErrBadBatch, err)
	}
	if len(b.Records) == 0 {
		return Batch{}, fmt.Errorf("%w: no records", ErrBadBatch)
	}
	if b.Records[0].Offset < b.From {
		return Batch{}, fmt.Errorf("%w: first offset %d below from %d", ErrBadBatch, b.Records[0].Offset, b.From)
	}
	for i := range b.Records {
		r := &b.Records[i]
		if i > 0 && r.Offset != b.Records[i-1].Offset+1 {
			return Batch{}, fmt.Errorf("%w: offset %d follows %d: a batch holds contiguous offsets", ErrBadBatch, r.Offset, b.Records[i-1].Offset)
		}
		if len(r.Headers) > maxHeaders {
			return Batch{}, fmt.Errorf("%w: record %d has %d headers, at most %d go up", ErrBadBatch, r.Offset, len(r.Headers), maxHeaders)
		}
	}
	return b, nil
}

// HubTopic is the stream log topic (tenant/name) the parent stores a site's
// tenant/topic in.
func HubTopic(site, tenant, topic string) (string, error) {
	name := site + "." + topic
	if len(name) > 128 {
		return "", fmt.Errorf("%w: %s.%s is longer than the 128 characters of a stream log topic at the parent", ErrBadBatch, site, topic)
	}
	return tenant + "/" + name, nil
}

// SiteHeaders returns the headers the parent appends to a stored record.
func SiteHeaders(offset uint64, t time.Time, epoch uint64) [3]wire.Header {
	var ns int64
	if !t.IsZero() {
		ns = t.UnixNano()
	}
	return [3]wire.Header{
		{Key: HeaderSiteOffset, Value: binary.BigEndian.AppendUint64(nil, offset)},
		{Key: HeaderSiteTime, Value: binary.BigEndian.AppendUint64(nil, uint64(ns))},
		{Key: HeaderSiteEpoch, Value: binary.BigEndian.AppendUint64(nil, epoch)},
	}
}

// SiteEpoch reads the site topic's epoch from a stored record's headers.
func SiteEpoch(hs []wire.Header) (uint64, bool) {
	var epoch uint64
	var ok bool
	for _, h := range hs {
		if h.Key == HeaderSiteEpoch && len(h.Value) == 8 {
			epoch, ok = binary.BigEndian.Uint64(h.Value), true
		}
	}
	return epoch, ok
}

// SiteOrigin reads the site's offset and time back from a stored record's
// headers; ok is false when they are missing.
func SiteOrigin(hs []wire.Header) (offset uint64, t time.Time, ok bool) {
	var gotOff, gotTime bool
	for _, h := range hs {
		switch {
		case h.Key == HeaderSiteOffset && len(h.Value) == 8:
			offset, gotOff = binary.BigEndian.Uint64(h.Value), true
		case h.Key == HeaderSiteTime && len(h.Value) == 8:
			t, gotTime = time.Unix(0, int64(binary.BigEndian.Uint64(h.Value))).UTC(), true
		}
	}
	return offset, t, gotOff && gotTime
}

// ForwardedTopic splits the topic of a batch a hub forwarded, stored at
// the hub as <origin>.<topic> (HubTopic), into the origin site and its
// topic. Site IDs hold no '.', so the first '.' separates them.
func ForwardedTopic(topic string) (origin, name string, err error) {
	origin, name, ok := strings.Cut(topic, ".")
	if !ok || name == "" {
		return "", "", fmt.Errorf("%w: forwarded topic %q: want <origin site>.<topic>", ErrBadBatch, topic)
	}
	if err := ValidateSite(origin); err != nil {
		return "", "", err
	}
	return origin, name, nil
}

// HopHeader is the HeaderHop header for a record at offset of the
// forwarding hub's topic of epoch.
func HopHeader(offset, epoch uint64) wire.Header {
	v := binary.BigEndian.AppendUint64(make([]byte, 0, 16), offset)
	return wire.Header{Key: HeaderHop, Value: binary.BigEndian.AppendUint64(v, epoch)}
}

// Hop reads HeaderHop from a stored record's headers.
func Hop(hs []wire.Header) (offset, epoch uint64, ok bool) {
	for _, h := range hs {
		if h.Key == HeaderHop && len(h.Value) == 16 {
			offset, epoch, ok = binary.BigEndian.Uint64(h.Value), binary.BigEndian.Uint64(h.Value[8:]), true
		}
	}
	return offset, epoch, ok
}

// Downlink: the parent sends a site the records of its control topic (at
// the parent, DownlinkTopic) as Batches on DownTopic, each with a response
// topic under DownAckPrefix; the site appends them to its local topic
// SiteDownlinkTopic, keeping the parent's offset, time and epoch in the
// three site headers, and answers with an Ack exactly as a parent does
// (stored after its fsync, gap, refused). The parent moves its cursor
// DownlinkConsumer only on stored.
const (
	DownlinkTenant    = "downlink"
	DownlinkConsumer  = "site"
	SiteDownlinkTopic = "system/downlink"
)

// DownlinkTopic is the parent's stream log topic of site's control records.
func DownlinkTopic(site string) string { return DownlinkTenant + "/" + site }

// DownTopic is where a site's client hears its downlink batches.
func DownTopic(site, client string) string { return "sites/" + site + "/_down/" + client }

// DownAckPrefix starts the topics a site answers downlink batches on: the
// only names under sites/<site>/_ a site may publish to.
func DownAckPrefix(site string) string { return "sites/" + site + "/_downack/" }
