// Package agent is the site's registration agent: it gives the box an
// identity rooted in its TPM, enrolls that identity with the tower named in
// the site config, keeps it under its home directory so that later boots
// reuse it, and then reports the site's status to the tower over mutual TLS.
//
// README.md beside this file describes the identity's life: what is kept,
// when the agent enrolls again, and what it does when the tower says
// "pending" or "rejected".
package agent
