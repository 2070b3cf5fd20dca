// Package mqttconn is how Skerry's MQTT v5 clients (the uplink, and a hub
// behind an external broker) connect: TLS, a clean session every time, no
// keepalive, and a reconnect loop. Nothing is owed across sessions: the
// stream log is the queue, never the MQTT session.
//
// Keepalive is off because paho.golang writes a PUBLISH as several Write
// calls without a lock and its pinger writes from its own goroutine: over
// TLS a PINGREQ can land inside a PUBLISH. Callers write from one
// goroutine at a time (or under a mutex) and notice a dead link by a
// missing answer instead.
package mqttconn

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

// Dial connects to addr over TLS and sends CONNECT with a clean start;
// cfg.Conn is set here. On error nothing is left open.
func Dial(ctx context.Context, addr string, tc *tls.Config, cfg paho.ClientConfig) (*paho.Client, error) {
	d := tls.Dialer{Config: tc}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	cfg.Conn = conn
	pc := paho.NewClient(cfg)
	ca, err := pc.Connect(dctx, &paho.Connect{ClientID: cfg.ClientID, CleanStart: true, KeepAlive: 0})
	if err == nil && ca.ReasonCode != 0 {
		err = fmt.Errorf("refused, reason %d", ca.ReasonCode)
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("connect %s: %w", addr, err)
	}
	return pc, nil
}

// Retry runs session until ctx ends, again after each failure with a
// backoff from 100 ms doubling up to max (back to 100 ms after a session
// that lasted 10 s).
func Retry(ctx context.Context, log *slog.Logger, max time.Duration, session func(context.Context) error) {
	backoff := 100 * time.Millisecond
	for {
		began := time.Now()
		err := session(ctx)
		if ctx.Err() != nil {
			return
		}
		if time.Since(began) > 10*time.Second {
			backoff = 100 * time.Millisecond
		}
		log.Warn("session ended; reconnecting", "err", err, "in", backoff)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return
		}
		backoff = min(2*backoff, max)
	}
}
