// Package uplink replicates a site's stream log topics to its parent over
// MQTT v5 (paho.golang) with the site's mTLS identity. The stream log is
// the queue: a durable cursor per topic moves only when the parent answers
// that it stored the records. README.md has the design notes.
package uplink
