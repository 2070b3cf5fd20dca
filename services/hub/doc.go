// Package hub receives sites' uplinked records: an embedded MQTT v5 broker
// (mochi-mqtt) authenticates sites by their tower-issued client
// certificates, confines each to its sites/<site>/ names, and stores every
// batch in the hub's own stream log inside the broker's publish hook,
// answering on the batch's response topic only after the fsync. The
// protocol is package uplinkapi's; README.md has the design notes.
package hub
