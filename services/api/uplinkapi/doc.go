// Package uplinkapi is the replication protocol between a site's uplink and
// its parent (a hub or the tower), carried over MQTT v5, or over DTLS
// directly to a hub (datagrams: see dtls.go).
//
// # Names
//
// A site publishes the records of its topic tenant/name to the MQTT topic
//
//	sites/<site>/<tenant>/<name>
//
// and receives the parent's answers on sites/<site>/_ack/<client>. The
// broker's ACL lets a site (the CN of its mTLS client certificate) publish
// and subscribe only under sites/<site>/. Tenants start with a letter or
// digit, so "_ack" is never a tenant.
//
// # Batch
//
// One PUBLISH (QoS 1) carries one Batch: records of one topic with the
// site's own offsets and timestamps, contiguous, oldest first, plus From,
// the offset the uplink asked its stream log for. When From is below the
// first record's offset, the site no longer holds [From, first): retention
// dropped them before they went up. The payload is
//
//	"SKU1" | uvarint From | uvarint Epoch | one stream log record frame
//
// Epoch is the site topic's creation time (unix ns): offsets are only
// comparable within one incarnation of a topic. A parent that holds
// records of another epoch refuses the batch (site_topic_reset) instead of
// taking the new offsets for duplicates of the old ones.
//
// The PUBLISH carries the MQTT v5 Response Topic and Correlation Data; the
// parent answers there with an Ack (JSON).
//
// # Parent
//
// Per site topic the parent keeps its high-water mark H: the next site
// offset it expects. For a batch whose first record is r0:
//
//   - r0 <= H: records below H are duplicates and dropped; the rest are
//     stored. Status "stored", Next the new H.
//   - r0 > H and From <= H: the site lost [H, r0) to its retention; the
//     parent stores the batch, counts the loss (Lost) and moves on.
//   - r0 > H and From > H: a gap. Status "gap", Next = H: the uplink
//     resumes reading at H.
//
// The parent answers "stored" only after the records are fsynced, and the
// uplink moves its durable cursor in the site's stream log only on that
// answer: neither the MQTT session nor a PUBACK is trusted with data.
// Records of a batch that was stored but whose answer was lost come again
// and are dropped as duplicates; nothing is lost and nothing is stored
// twice.
//
// # Storage at the parent
//
// The parent stores sites/<site>/<tenant>/<name> in its own stream log as
// topic <tenant>/<site>.<name> (HubTopic): the tenant stays a tenant, so
// tenant tokens at the parent see only their tenant, and site IDs have no
// '.', so the name splits unambiguously. Stream log offsets there are dense
// and the parent's own; each record keeps the site's offset and timestamp in
// three headers appended after the site's (HeaderSiteOffset,
// HeaderSiteTime, HeaderSiteEpoch, 8 bytes big endian each). The parent recovers H after a restart from the
// last record's HeaderSiteOffset.
//
// # Forwarding and downlink
//
// A hub forwards what it stores with the same batches, under its own
// names: sites/<hub>/<tenant>/<origin>.<topic>, records carrying the
// origin's three headers. A parent that sees a hub certificate (OU
// RoleHub; a site's is RoleSite) decodes them with DecodeForwarded, stores
// them under the origin (ForwardedTopic) with the origin's headers kept,
// and runs the protocol above in the hub's offsets, kept in HeaderHop.
// The downlink reverses the protocol: see DownlinkTopic, DownTopic and
// SiteDownlinkTopic.
package uplinkapi
