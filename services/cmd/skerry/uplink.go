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
	"github.com/skerry/skerry/services/serve"
	"github.com/skerry/skerry/services/siteconfig"
	"github.com/skerry/skerry/services/streamlog/client"
	"github.com/skerry/skerry/services/uplink"
)

// uplinkMain runs the uplink: it replicates the site's stream log topics to
// the parent's MQTT broker with the site's mTLS identity. It never exits
// for want of an identity or a parent: it waits, says why in its log and
// status, and serves its status API throughout.
func uplinkMain(ctx context.Context, stdout, stderr io.Writer, args []string) int {
	fs := flag.NewFlagSet("uplink", flag.ContinueOnError)
	fs.SetOutput(stderr)
	broker := fs.String("broker", "", "the parent's MQTT over TLS address, host:port, or dtls://host:port for DTLS over UDP straight to a hub (default: the site config's uplink.parent, else the one the tower named at enrollment)")
	siteConfig := fs.String("site-config", "", `site config file (default: `+siteconfig.ESPPath+` if present and valid, else `+siteconfig.BakedPath+`)`)
	home := fs.String("identity", agent.DefaultHome, "directory of the site identity (identity.json, written by the agent)")
	tpmPath := fs.String("tpm", agent.DefaultTPM, `TPM holding the site key, or "unix:PATH" for a simulator's command socket`)
	sock := fs.String("streamlog", contract.StreamlogSocket, "the stream log's socket or loopback address")
	tokenFile := fs.String("token-file", filepath.Join(contract.Home("streamlog"), "system.token"), "the stream log's system token")
	rulesFile := fs.String("rules", filepath.Join(contract.Home("uplink"), "rules.json"), "what goes up (JSON, version 1) unless the site config has uplink.rules; defaults when missing")
	statusSock := fs.String("socket", contract.UplinkSocket, `unix socket of the status API ("" for none)`)
	serverName := fs.String("server-name", "", "the parent's name in its certificate (default: the broker's host)")
	maxBatch := fs.Int("max-batch", 4096, "records per batch at most")
	ackTimeout := fs.Duration("ack-timeout", 30*time.Second, "how long to wait for the parent's answer before reconnecting")
	reportEvery := fs.Duration("report-interval", time.Minute, "how often the uplink records its status in "+uplink.StatusTopic+" (also at each change of state)")
	poll := fs.Duration("poll", 5*time.Second, "how often the identity is looked at for a registration or a new parent")
	dtlsMTU := fs.Int("dtls-mtu", uplinkapi.DatagramMTU, "with dtls://: bytes of a datagram's payload at most (the path MTU less 73 bytes of DTLS, UDP and IP headers)")
	dtlsWindow := fs.Int("dtls-window", 512, "with dtls://: batches in flight per topic")
	memLimit := fs.Int64("memory-limit", -1, "soft limit of the Go heap in bytes; 0 disables it (default 12 MiB over MQTT, 16 MiB with dtls://)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var dtlsOpts *uplink.DTLSOptions
	if addr, ok := strings.CutPrefix(*broker, "dtls://"); ok {
		*broker, dtlsOpts = addr, &uplink.DTLSOptions{MTU: *dtlsMTU, Window: *dtlsWindow}
	}
	if *broker != "" {
		if err := siteconfig.CheckHostPort(*broker); err != nil {
			fmt.Fprintf(stderr, "skerry uplink: -broker %q: %v\n", *broker, err)
			return 2
		}
	}
	if *memLimit < 0 {
		// Over MQTT 12 MiB keeps the uplink under 20 MB under full load
		// at the cost of some drain rate; DTLS's window holds more batches
		// and halves its rate at 12 MiB (docs/benchmarks.md, "Idle memory
		// of the skerry services").
		*memLimit = 12 << 20
		if dtlsOpts != nil {
			*memLimit = 16 << 20
		}
	}
	if *memLimit > 0 {
		debug.SetMemoryLimit(*memLimit)
	}
	log := daemon.LoggerTo(stderr, "uplink")
	cfg, err := loadAgentConfig(log, *siteConfig, siteconfig.ESPPath, siteconfig.BakedPath)
	if err != nil {
		fmt.Fprintf(stderr, "skerry uplink: %v\n", err)
		return 2
	}
	err = daemon.RunContext(ctx, log, "uplink", func(ctx context.Context, g *errgroup.Group) error {
		rules, from, ignored, rulesErr := uplink.SiteRules(cfg.Uplink, *rulesFile)
		if ignored {
			log.Warn("the site config's uplink.rules win: ignoring "+*rulesFile, "rules", from)
		}
		sl, err := streamlogClient(*sock, *tokenFile)
		if err != nil {
			return err
		}
		mon := uplink.NewMonitor(sl, rules)
		if *statusSock != "" {
			l, err := serve.Unix(*statusSock, 0o600)
			if err != nil {
				return err
			}
			g.Go(func() error { return serve.HTTP(ctx, mon.Handler(), serve.SiteLimits, log, l) })
		}
		if err := daemon.Ready(); err != nil {
			log.Warn("notify ready", "err", err)
		}
		if rulesErr != nil {
			// Sending everything instead could ship what the rules
			// meant to keep: hold until the file is fixed.
			reason := fmt.Sprintf("%v: fix it (or delete it for the defaults) and restart the uplink", rulesErr)
			mon.SetState(uplinkapi.StateError, reason)
			log.Error("nothing goes up: " + reason)
			<-ctx.Done()
			return nil
		}
		log.Info("rules", "from", from)
		g.Go(func() error { mon.Report(ctx, *reportEvery, log); return nil })
		return uplink.RunSite(ctx, uplink.SiteConfig{
			IdentityDir: *home, Broker: *broker, Site: cfg.Uplink, Poll: *poll,
			Connect: func(parent string) (string, *tls.Config, func(), error) {
				id, err := agent.LoadIdentity(*home)
				if err != nil {
					return "", nil, nil, err
				}
				tc, release, err := identityTLS(id, *tpmPath, parent, *serverName)
				return id.SiteID, tc, release, err
			},
			Uplink: uplink.Config{Log: sl, Rules: rules, MaxBatch: *maxBatch, AckTimeout: *ackTimeout, Logger: log, Monitor: mon, DTLS: dtlsOpts},
		})
	})
	if err != nil {
		fmt.Fprintf(stderr, "skerry uplink: %v\n", err)
		return 1
	}
	return 0
}

// streamlogClient connects to the site's stream log with the system token.
func streamlogClient(sock, tokenFile string) (*client.Client, error) {
	tok, err := os.ReadFile(tokenFile)
	if err != nil {
		return nil, fmt.Errorf("read stream log token: %w", err)
	}
	return client.New(sock, client.WithToken(strings.TrimSpace(string(tok))))
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
