// Package api serves a stream log over HTTP on a unix socket or loopback
// TCP: JSON for topics, cursors, tokens and status, binary frames (package
// wire) for batches of records both ways, Prometheus metrics at /metrics.
// Every request carries a bearer token scoped to one tenant, or the system
// token.
package api
