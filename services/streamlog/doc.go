// Package streamlog is the site's durable, multi-tenant event log: topics of
// records with dense offsets, stored in rotating bbolt segment files so that
// retention really frees disk, appended through one group-commit writer that
// acknowledges producers only after fsync.
//
// README.md beside this file describes the on-disk layout, the disk bound, the
// idempotency rules and the flow control of live tails.
package streamlog
