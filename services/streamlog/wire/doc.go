// Package wire is the stream log's local API format, shared by the server
// (services/streamlog/api) and the Go client: the binary frames that carry
// batches of records both ways, and the JSON messages of the control API.
// It imports no storage code so that clients stay small.
package wire
