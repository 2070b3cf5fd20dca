package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/skerry/skerry/services/hub"
	"github.com/skerry/skerry/services/internal/daemon"
	"github.com/skerry/skerry/services/serve"
	"github.com/skerry/skerry/services/streamlog"
	"github.com/skerry/skerry/services/streamlog/client"
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
	broker := fs.String("broker", "", "receive through this external MQTT v5 broker (host:port, TLS) instead of listening: the broker authenticates sites and enforces the ACL")
	certFile := fs.String("cert", "", "the hub's certificate (PEM) instead of one issued from -ca-dir: a hub away from the tower holds no CA key")
	keyFile := fs.String("key", "", "the key of -cert (PEM)")
	metrics := fs.String("metrics", "", "serve Prometheus metrics on this `address` (/metrics), e.g. 127.0.0.1:9883")
	caCert := fs.String("ca-cert", "", "the tower CA certificate (PEM) that issued the sites' certificates, with -cert")
	parent := fs.String("parent", "", "forward what the hub stores to this parent (host:port, MQTT over TLS: another hub or the tower)")
	id := fs.String("id", "", "the hub's ID, the CN of its hub certificate (with -parent; issued from -ca-dir unless -parent-cert)")
	parentCert := fs.String("parent-cert", "", "the hub's certificate (PEM, OU hub) to authenticate to -parent, instead of one issued from -ca-dir")
	parentKey := fs.String("parent-key", "", "the key of -parent-cert (PEM)")
	parentName := fs.String("parent-server-name", "", "the parent's name in its certificate (default: -parent's host)")
	policy := fs.String("config", "", "the hub's configuration (JSON, version 1): what it keeps, forwards, and which fields it drops; none forwards everything")
	ackTimeout := fs.Duration("ack-timeout", 30*time.Second, "with -parent: how long to wait for the parent's answer before reconnecting")
	towerURL := fs.String("tower", "", "the tower's API `URL` (https://host:port): fetch its revoked sites and hubs with the -parent-cert hub certificate and refuse them")
	revEvery := fs.Duration("revocations-every", 30*time.Second, "with -tower: how often to fetch the revocation list")
	dtlsListen := fs.String("dtls-listen", "", "also receive over DTLS 1.2 (UDP) on this `address`, e.g. :8884, for lossy or UDP-only links (uplink -broker dtls://host:port)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *policy != "" && *parent == "" {
		fmt.Fprintln(os.Stderr, "tower hub: -config says what the hub forwards: it needs -parent")
		return 2
	}
	if (*parent == "") != (*id == "") {
		fmt.Fprintln(os.Stderr, "tower hub: -parent and -id go together: the hub forwards under its own ID")
		return 2
	}
	if *towerURL != "" && (*parentCert == "" || *broker != "") {
		fmt.Fprintln(os.Stderr, "tower hub: -tower fetches the revocation list with the hub's certificate from skerryctl tower hubs add: give it as -parent-cert and -parent-key (not with -broker)")
		return 2
	}
	err := daemon.Run("hub", func(ctx context.Context, g *errgroup.Group) error {
		c := hubConfig{data: *data, caDir: *caDir, listen: *listen, broker: *broker, maxBytes: *maxBytes,
			hosts:    append([]string{"localhost", "127.0.0.1", "::1"}, hosts...),
			certFile: *certFile, keyFile: *keyFile, caCert: *caCert, metrics: *metrics, dtlsListen: *dtlsListen,
			parent: *parent, id: *id, parentCert: *parentCert, parentKey: *parentKey, parentName: *parentName,
			policy: *policy, ackTimeout: *ackTimeout, tower: *towerURL, revEvery: *revEvery}
		return runHub(ctx, g, os.Stdout, c)
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "tower hub: %v\n", err)
		return 1
	}
	return 0
}

type hubConfig struct {
	data, caDir, listen, broker string
	certFile, keyFile, caCert   string
	metrics, dtlsListen         string
	hosts                       []string
	maxBytes                    int64

	parent, id, parentCert, parentKey, parentName, policy string
	ackTimeout                                            time.Duration

	tower    string // the tower's API URL, for the revocation list
	revEvery time.Duration
}

// hubIdentity loads what the hub presents and the CA it trusts: the files
// given, or a certificate issued from the tower CA in caDir (a server
// certificate, or a client one named "hub" to log in to a broker).
func hubIdentity(c hubConfig, client bool) (tls.Certificate, *x509.CertPool, error) {
	if c.certFile != "" {
		cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
		if err != nil {
			return cert, nil, fmt.Errorf("load -cert and -key: %w", err)
		}
		pemCA, err := os.ReadFile(c.caCert)
		if err != nil {
			return cert, nil, fmt.Errorf("read -ca-cert (the tower CA, needed with -cert): %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemCA) {
			return cert, nil, fmt.Errorf("-ca-cert %s: no PEM certificate in it", c.caCert)
		}
		return cert, pool, nil
	}
	if err := os.MkdirAll(c.caDir, 0o700); err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("create CA directory: %w", err)
	}
	authority, err := ca.LoadOrCreate(c.caDir, "Skerry tower CA")
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("load CA: %w", err)
	}
	if client {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return tls.Certificate{}, nil, err
		}
		cert, err := authority.SiteCert("hub", key.Public(), 365*24*time.Hour)
		if err != nil {
			return tls.Certificate{}, nil, err
		}
		return tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key}, authority.Pool(), nil
	}
	cert, key, err := authority.ServerCert(c.hosts)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	return tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key}, authority.Pool(), nil
}

func runHub(ctx context.Context, g *errgroup.Group, stdout io.Writer, c hubConfig) error {
	log := daemon.Logger("hub")
	var ml net.Listener
	if c.metrics != "" {
		var err error
		if ml, err = serve.TCP(c.metrics, serve.Network); err != nil {
			return err
		}
	}
	cert, pool, err := hubIdentity(c, c.broker != "")
	if err != nil {
		return err
	}
	store, err := streamlog.Open(c.data, streamlog.WithLogger(log))
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	topics := streamlog.TopicConfig{MaxBytes: c.maxBytes, MaxRecordBytes: int(min(streamlog.HardMaxRecordBytes, c.maxBytes))}
	if c.broker != "" {
		return runHubClient(ctx, g, stdout, c, cert, pool, store, topics, ml, log)
	}
	admit, err := startRevocations(ctx, g, c, pool, log)
	if err != nil {
		store.Close()
		return err
	}
	var relay *hub.Relay
	if c.parent != "" {
		// The control records of the sites below come down from the
		// parent: downlink/<site> here, relayed from the parent's.
		tc, err := parentTLS(c, pool)
		if err != nil {
			store.Close()
			return err
		}
		relay = hub.NewRelay(hub.RelayConfig{ID: c.id, Parent: c.parent, TLS: tc, Store: store, Log: log})
		g.Go(func() error { relay.Run(ctx); return nil })
	}
	h, err := hub.New(hub.Config{
		Listen:      c.listen,
		TLS:         hub.ServerTLS(cert, pool),
		Store:       store,
		TopicConfig: topics,
		Log:         log,
		Admit:       admit,
		Relay:       relay,
	})
	if err != nil {
		store.Close()
		return err
	}
	// The store's API on <data>/streamlog.sock: the forwarder reads
	// through it, and so can an operator or a test.
	lctx, stopLog := context.WithCancel(context.Background())
	sl, serveLog, err := hub.ServeLog(lctx, store, c.data, log)
	if err != nil {
		stopLog()
		store.Close()
		return err
	}
	var extra []prometheus.Collector
	if c.parent != "" {
		f, err := startForwarder(ctx, g, c, pool, sl, h.Receiver(), log)
		if err != nil {
			stopLog()
			store.Close()
			return err
		}
		extra = append(extra, f.Collector(store, h.Receiver()))
	}
	serveMetrics(ctx, g, ml, h.Receiver(), log, extra...)
	dtlsDone, err := serveDTLS(ctx, c, cert, pool, h.Receiver(), stdout, log)
	if err != nil {
		stopLog()
		store.Close()
		return err
	}
	logDone := make(chan error, 1)
	go func() { logDone <- serveLog() }()
	g.Go(func() error {
		err := h.Serve(ctx)
		<-dtlsDone // its sessions store until they end
		stopLog()
		<-logDone
		if cerr := store.Close(); cerr != nil && err == nil {
			err = cerr
		}
		return err
	})
	fmt.Fprintf(stdout, "hub serving mqtts://%s, storing in %s\n", c.listen, c.data)
	log.Info("serving", "listen", c.listen, "data", c.data)
	return daemon.Ready()
}

// runHubClient receives through an external broker with cert as the
// client certificate (CN "hub" when issued here: the broker's ACL must let
// user hub read sites/# and write the answers).
func runHubClient(ctx context.Context, g *errgroup.Group, stdout io.Writer, c hubConfig, cert tls.Certificate, pool *x509.CertPool, store *streamlog.Store, topics streamlog.TopicConfig, ml net.Listener, log *slog.Logger) error {
	host, _, _ := net.SplitHostPort(c.broker)
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, ServerName: host, MinVersion: tls.VersionTLS12}
	recv := hub.NewReceiver(store, topics, log)
	serveMetrics(ctx, g, ml, recv, log)
	if c.parent != "" {
		store.Close()
		return errors.New("-parent with -broker is not built: forward from a hub that listens itself")
	}
	g.Go(func() error {
		err := recv.RunClient(ctx, hub.ClientConfig{Broker: c.broker, TLS: tc, ClientID: "hub", Log: log})
		if cerr := store.Close(); cerr != nil && err == nil {
			err = cerr
		}
		return err
	})
	fmt.Fprintf(stdout, "hub serving through broker mqtts://%s, storing in %s\n", c.broker, c.data)
	return daemon.Ready()
}

// serveMetrics serves recv's counters and the Go runtime's on l, if any.
func serveMetrics(ctx context.Context, g *errgroup.Group, l net.Listener, recv *hub.Receiver, log *slog.Logger, extra ...prometheus.Collector) {
	if l == nil {
		return
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(recv.Collector(), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(extra...)
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	g.Go(func() error { return serve.HTTP(ctx, mux, serve.TowerLimits, log, l) })
}

// startForwarder forwards the hub's forwarded topics to c.parent under the
// hub certificate (OU hub) named c.id, and holds back sites when a topic's
// unforwarded records reach its retention.
func startForwarder(ctx context.Context, g *errgroup.Group, c hubConfig, pool *x509.CertPool, sl *client.Client, recv *hub.Receiver, log *slog.Logger) (*hub.Forwarder, error) {
	policy := &hub.Policy{Version: hub.PolicyVersion} // forward everything
	if c.policy != "" {
		var err error
		if policy, err = hub.LoadPolicy(c.policy); err != nil {
			return nil, err
		}
	}
	tc, err := parentTLS(c, pool)
	if err != nil {
		return nil, err
	}
	f, err := hub.NewForwarder(hub.ForwardConfig{ID: c.id, Parent: c.parent, Log: sl, Policy: policy, AckTimeout: c.ackTimeout, Logger: log.With("part", "forward"), TLS: tc})
	if err != nil {
		return nil, err
	}
	recv.HoldUnforwarded(policy.Forwards)
	g.Go(func() error { return f.Run(ctx) })
	log.Info("forwarding", "parent", c.parent, "id", c.id)
	return f, nil
}

// parentTLS is the client TLS configuration towards c.parent: the hub
// certificate, the tower CA, the parent's name.
func parentTLS(c hubConfig, pool *x509.CertPool) (*tls.Config, error) {
	cert, err := hubClientCert(c)
	if err != nil {
		return nil, err
	}
	name := c.parentName
	if name == "" {
		name, _, _ = net.SplitHostPort(c.parent)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, ServerName: name, MinVersion: tls.VersionTLS13}, nil
}

// hubClientCert is the hub's certificate towards its parent: -parent-cert
// or one issued from the CA in -ca-dir (OU hub, CN -id).
func hubClientCert(c hubConfig) (tls.Certificate, error) {
	if c.parentCert != "" {
		cert, err := tls.LoadX509KeyPair(c.parentCert, c.parentKey)
		if err != nil {
			return cert, fmt.Errorf("load -parent-cert and -parent-key: %w", err)
		}
		return cert, nil
	}
	authority, err := ca.LoadOrCreate(c.caDir, "Skerry tower CA")
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("load CA to issue the hub certificate (or give -parent-cert): %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	cert, err := authority.HubCert(c.id, key.Public(), 365*24*time.Hour)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key}, nil
}

// startRevocations, with -tower, loads the revocation list kept in the
// data directory and fetches the tower's every -revocations-every; its
// Admit refuses what the list names. nil without -tower.
func startRevocations(ctx context.Context, g *errgroup.Group, c hubConfig, pool *x509.CertPool, log *slog.Logger) (func(string, bool, *x509.Certificate) error, error) {
	if c.tower == "" {
		return nil, nil
	}
	cert, err := hubClientCert(c)
	if err != nil {
		return nil, err
	}
	rev, err := hub.NewRevocations(hub.RevocationsConfig{Tower: c.tower, File: filepath.Join(c.data, "revocations.json"), Log: log.With("part", "revocations"),
		TLS: &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS12}})
	if err != nil {
		return nil, err
	}
	g.Go(func() error { rev.Run(ctx, c.revEvery); return nil })
	log.Info("refusing revoked sites and hubs", "tower", c.tower, "every", c.revEvery)
	return rev.Admit, nil
}
