package main

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/skerry/skerry/services/agent"
	"github.com/skerry/skerry/services/api/uplinkapi"
	"github.com/skerry/skerry/services/contract"
	"github.com/skerry/skerry/services/internal/daemon"
	"github.com/skerry/skerry/services/streamlog/client"
	"github.com/skerry/skerry/services/uplink"
)

// uplinkMain runs the uplink: it replicates the site's stream log topics to
// the parent's MQTT broker with the site's mTLS identity.
func uplinkMain(ctx context.Context, stdout, stderr io.Writer, args []string) int {
	fs := flag.NewFlagSet("uplink", flag.ContinueOnError)
	fs.SetOutput(stderr)
	broker := fs.String("broker", "", "the parent: its MQTT over TLS address host:port, or dtls://host:port for DTLS over UDP to a hub (required)")
	home := fs.String("identity", agent.DefaultHome, "directory of the site identity (identity.json, written by the agent)")
	tpmPath := fs.String("tpm", agent.DefaultTPM, `TPM holding the site key, or "unix:PATH" for a simulator's command socket`)
	sock := fs.String("streamlog", contract.StreamlogSocket, "the stream log's socket or loopback address")
	tokenFile := fs.String("token-file", filepath.Join(contract.Home("streamlog"), "system.token"), "the stream log's system token")
	rulesFile := fs.String("rules", filepath.Join(contract.Home("uplink"), "rules.json"), "what goes up (JSON, version 1); defaults when missing")
	serverName := fs.String("server-name", "", "the parent's name in its certificate (default: the broker's host)")
	maxBatch := fs.Int("max-batch", 4096, "records per batch at most")
	ackTimeout := fs.Duration("ack-timeout", 30*time.Second, "how long to wait for the parent's answer before reconnecting")
	dtlsMTU := fs.Int("dtls-mtu", uplinkapi.DatagramMTU, "with dtls://: bytes of a datagram's payload at most (the path MTU less 73 bytes of DTLS, UDP and IP headers)")
	dtlsWindow := fs.Int("dtls-window", 512, "with dtls://: batches in flight per topic")
	memLimit := fs.Int64("memory-limit", 16<<20, "soft limit of the Go heap in bytes; 0 disables it")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *broker == "" {
		fmt.Fprintln(stderr, "skerry uplink: -broker is required: the parent's host:port")
		return 2
	}
	var dtlsOpts *uplink.DTLSOptions
	if addr, ok := strings.CutPrefix(*broker, "dtls://"); ok {
		*broker, dtlsOpts = addr, &uplink.DTLSOptions{MTU: *dtlsMTU, Window: *dtlsWindow}
	}
	if *memLimit > 0 {
		debug.SetMemoryLimit(*memLimit)
	}
	err := daemon.Run("uplink", func(ctx context.Context, g *errgroup.Group) error {
		log := daemon.Logger("uplink")
		id, err := agent.LoadIdentity(*home)
		if err != nil {
			return fmt.Errorf("load site identity: %w (the agent writes it when the site registers)", err)
		}
		tc, closeKey, err := identityTLS(id, *tpmPath, *broker, *serverName)
		if err != nil {
			return err
		}
		defer closeKey()
		tok, err := os.ReadFile(*tokenFile)
		if err != nil {
			return fmt.Errorf("read stream log token: %w", err)
		}
		sl, err := client.New(*sock, client.WithToken(string(tok)))
		if err != nil {
			return err
		}
		rules, err := uplink.LoadRules(*rulesFile)
		if err != nil {
			return err
		}
		u, err := uplink.New(uplink.Config{Site: id.SiteID, Broker: *broker, TLS: tc, Log: sl, Rules: rules, MaxBatch: *maxBatch, AckTimeout: *ackTimeout, Logger: log, DTLS: dtlsOpts})
		if err != nil {
			return err
		}
		if err := daemon.Ready(); err != nil {
			log.Warn("notify ready", "err", err)
		}
		return u.Run(ctx)
	})
	if err != nil {
		fmt.Fprintf(stderr, "skerry uplink: %v\n", err)
		return 1
	}
	return 0
}

// identityTLS makes the client TLS configuration from the site identity:
// its certificate and key (the TPM's, loaded through go-attestation, or a
// software key), and the tower CA as the only root. release frees the
// TPM; crypto/tls signs with the key at every handshake, so it stays open.
func identityTLS(id *agent.Identity, tpmPath, broker, serverName string) (tc *tls.Config, release func(), err error) {
	release = func() {}
	var key crypto.PrivateKey
	if id.Software {
		if key, err = x509.ParsePKCS8PrivateKey(id.Key); err != nil {
			return nil, release, fmt.Errorf("parse site key: %w", err)
		}
	} else {
		t, err := agent.OpenTPM(tpmPath)
		if err != nil {
			return nil, release, err
		}
		k, err := t.LoadKey(id.Key)
		if err != nil {
			t.Close()
			return nil, release, fmt.Errorf("load the site key into %s: %w", tpmPath, err)
		}
		key = k
		release = func() { k.Close(); t.Close() }
	}
	caCert, err := id.CACert()
	if err != nil {
		release()
		return nil, func() {}, err
	}
	roots := x509.NewCertPool()
	roots.AddCert(caCert)
	if serverName == "" {
		serverName = hostOf(broker)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{id.Certificate}, PrivateKey: key}},
		RootCAs:      roots,
		ServerName:   serverName,
		MinVersion:   tls.VersionTLS13,
	}, release, nil
}

func hostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}
