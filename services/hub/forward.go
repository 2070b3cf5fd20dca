package hub

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/skerry/skerry/services/serve"
	"github.com/skerry/skerry/services/streamlog"
	"github.com/skerry/skerry/services/streamlog/api"
	"github.com/skerry/skerry/services/streamlog/client"
	"github.com/skerry/skerry/services/uplink"
)

// SocketName is the hub's stream log API socket in its data directory, with
// the system token beside it (system.token): the forwarding uplink reads
// the hub's topics through it, as a site's uplink reads the site's, and
// tests and operators can read what the hub holds while it runs.
const SocketName = "streamlog.sock"

// ServeLog serves store's local API on <dir>/streamlog.sock until ctx ends
// and returns a client of it with the system token.
func ServeLog(ctx context.Context, store *streamlog.Store, dir string, log *slog.Logger) (*client.Client, func() error, error) {
	auth, err := api.LoadAuth(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("load stream log tokens: %w", err)
	}
	sock := filepath.Join(dir, SocketName)
	l, err := serve.Unix(sock, 0o600)
	if err != nil {
		return nil, nil, err
	}
	tok, err := os.ReadFile(auth.SystemTokenPath())
	if err != nil {
		l.Close()
		return nil, nil, err
	}
	c, err := client.New(sock, client.WithToken(string(tok)))
	if err != nil {
		l.Close()
		return nil, nil, err
	}
	srv := api.New(store, auth, log)
	return c, func() error { return srv.Serve(ctx, l) }, nil
}

// ForwardConfig configures forwarding to a parent.
type ForwardConfig struct {
	// ID is the hub's ID: the CN of its hub certificate (OU "hub") in TLS.
	ID string
	// Parent is the parent's MQTT over TLS address (a hub or the tower).
	Parent string
	TLS    *tls.Config
	// Log is the hub's own stream log (ServeLog).
	Log    *client.Client
	Policy *Policy
	// AckTimeout bounds the wait for the parent's answer; default 30 s.
	AckTimeout time.Duration
	Logger     *slog.Logger
}

// Forwarder sends what the hub stored up to its parent: the site uplink's
// replicator over the hub's own stream log. Each record keeps the origin's
// headers; the parent, seeing a hub certificate, stores it under the
// origin site (Receiver.ApplyForwarded).
type Forwarder struct {
	up     *uplink.Uplink
	filter *filter
}

// NewForwarder checks c; Run forwards.
func NewForwarder(c ForwardConfig) (*Forwarder, error) {
	if c.Policy == nil {
		return nil, errors.New("hub: forwarding needs a policy (LoadPolicy gives the default)")
	}
	f := &Forwarder{filter: &filter{p: c.Policy}}
	up, err := uplink.New(uplink.Config{Site: c.ID, Broker: c.Parent, TLS: c.TLS, Log: c.Log, Filter: f.filter,
		Consumer: ForwardConsumer, AckTimeout: c.AckTimeout, Logger: c.Logger, Rescan: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("hub forwarding: %w", err)
	}
	f.up = up
	return f, nil
}

// Run forwards until ctx ends, reconnecting after failures.
func (f *Forwarder) Run(ctx context.Context) error { return f.up.Run(ctx) }

// Counts returns records sent, records the parent stored, records whose
// fields were dropped and records withheld by the policy.
func (f *Forwarder) Counts() (sent, forwarded, redacted, withheld uint64) {
	sent, forwarded = f.up.Counts()
	return sent, forwarded, f.filter.redacted.Load(), f.filter.withheld.Load()
}
