package uplinkapi

import "time"

// StatusPath is the uplink's status document on its socket
// (contract.UplinkSocket); MetricsPath serves the same figures to
// Prometheus.
const (
	StatusPath  = "/v1/status"
	MetricsPath = "/metrics"
)

// Connection states of Status.State.
const (
	// StateDisabled: the site config says uplink.enabled false.
	StateDisabled = "disabled"
	// StateNoIdentity: the box is not registered yet; the uplink waits for
	// the agent's identity.
	StateNoIdentity = "waiting_for_identity"
	// StateNoParent: registered, but neither the site config
	// (uplink.parent) nor the tower names a parent.
	StateNoParent = "no_parent"
	// StateConnecting: dialing the parent (also after a lost connection).
	StateConnecting = "connecting"
	// StateConnected: a session with the parent is up.
	StateConnected = "connected"
	// StateError: the identity or the site's stream log cannot be used;
	// Reason says what, the uplink tries again.
	StateError = "error"
)

// Status is the uplink's state, from GET StatusPath on its socket and in
// the site status API's "uplink" section.
type Status struct {
	Site string `json:"site,omitempty"`
	// Parent is host:port of the parent, ParentFrom where it came from:
	// "flag", "site config" or "tower" (the site identity).
	Parent     string `json:"parent,omitempty"`
	ParentFrom string `json:"parentFrom,omitempty"`
	State      string `json:"state"`
	// Since is when State began.
	Since time.Time `json:"since"`
	// Reason says why the uplink is not connected and what to do.
	Reason string `json:"reason,omitempty"`
	// LastError is the last failure of the link, if any.
	LastError string        `json:"lastError,omitempty"`
	Topics    []TopicStatus `json:"topics"`
}

// TopicStatus is one topic the rules send up, towards Parent.
type TopicStatus struct {
	// Topic is tenant/name on the site.
	Topic    string `json:"topic"`
	Parent   string `json:"parent,omitempty"`
	Priority int    `json:"priority,omitempty"`
	// LagRecords are the records the parent has not stored yet;
	// LagSeconds is the age of the oldest of them (0 without lag).
	LagRecords uint64  `json:"lagRecords"`
	LagSeconds float64 `json:"lagSeconds"`
	// Counters since the uplink started: records and payload bytes
	// published (including resends), records the parent newly stored
	// (not those it already had: a resent batch the parent stored the
	// first time adds nothing), and batches published again (after a
	// missing answer, a "retry", a gap or a reconnection).
	RecordsSent     uint64 `json:"recordsSent"`
	BytesSent       uint64 `json:"bytesSent"`
	RecordsAcked    uint64 `json:"recordsAcked"`
	Retransmissions uint64 `json:"retransmissions"`
	// LastAck is when the parent last answered "stored" for the topic.
	LastAck time.Time `json:"lastAck,omitzero"`
	// Error says why the topic cannot be read on the site, if it cannot.
	Error string `json:"error,omitempty"`
}
