package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"os"

	"golang.org/x/sync/errgroup"

	"github.com/skerry/skerry/services/hub"
	"github.com/skerry/skerry/services/internal/daemon"
	"github.com/skerry/skerry/services/streamlog"
	"github.com/skerry/skerry/services/tower/ca"
)

// hubMain runs "tower hub": an MQTT v5 broker that stores what sites send
// in a stream log of its own, acknowledging after fsync.
func hubMain(args []string) int {
	fs := flag.NewFlagSet("tower hub", flag.ContinueOnError)
	data := fs.String("data", "hub-data", "stream log `directory` of the received records")
	caDir := fs.String("ca-dir", "tower-data", "`directory` of the tower CA (ca.crt, ca.key): it verifies sites and issues the hub's server certificate")
	listen := fs.String("listen", "127.0.0.1:8883", "MQTT over TLS listen `address`")
	var hosts sans
	fs.Var(&hosts, "san", "host names or IPs for the server certificate (repeatable)")
	maxBytes := fs.Int64("topic-max-bytes", 1<<30, "retention per site topic at the hub, in bytes")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	err := daemon.Run("hub", func(ctx context.Context, g *errgroup.Group) error {
		return runHub(ctx, g, os.Stdout, *data, *caDir, *listen, append([]string{"localhost", "127.0.0.1", "::1"}, hosts...), *maxBytes)
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "tower hub: %v\n", err)
		return 1
	}
	return 0
}

func runHub(ctx context.Context, g *errgroup.Group, stdout io.Writer, data, caDir, listen string, hosts []string, maxBytes int64) error {
	log := daemon.Logger("hub")
	authority, err := ca.LoadOrCreate(caDir, "Skerry tower CA")
	if err != nil {
		return fmt.Errorf("load CA: %w", err)
	}
	cert, key, err := authority.ServerCert(hosts)
	if err != nil {
		return err
	}
	store, err := streamlog.Open(data, streamlog.WithLogger(log))
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	h, err := hub.New(hub.Config{
		Listen:      listen,
		TLS:         hub.ServerTLS(tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key}, authority.Pool()),
		Store:       store,
		TopicConfig: streamlog.TopicConfig{MaxBytes: maxBytes, MaxRecordBytes: streamlog.HardMaxRecordBytes},
		Log:         log,
	})
	if err != nil {
		store.Close()
		return err
	}
	g.Go(func() error {
		err := h.Serve(ctx)
		if cerr := store.Close(); cerr != nil && err == nil {
			err = cerr
		}
		return err
	})
	fmt.Fprintf(stdout, "hub serving mqtts://%s, storing in %s\n", listen, data)
	log.Info("serving", "listen", listen, "data", data)
	return daemon.Ready()
}
