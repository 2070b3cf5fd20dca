// Command tower runs the Skerry tower: the API that sites enroll with and
// operators manage them through. It needs no setup:
//
//	tower -data /var/lib/tower -listen 127.0.0.1:8443 -san 10.0.2.2
//
// creates the data directory, its bbolt store and CA on first start, and
// writes the first operator token to DIR/operator-token.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/skerry/skerry/services/internal/daemon"
	"github.com/skerry/skerry/services/tower"
	"github.com/skerry/skerry/services/tower/ca"
	"github.com/skerry/skerry/services/tower/ektrust"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "hub" {
		os.Exit(hubMain(os.Args[2:])) // the hub role: see hub.go
	}
	err := daemon.Run("tower", func(ctx context.Context, _ *errgroup.Group) error {
		return run(ctx, os.Stdout, os.Stderr, os.Args[1:])
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "tower: %v\n", err)
		os.Exit(1)
	}
}

// sans collects -san flags; each may hold a comma-separated list.
type sans []string

func (s *sans) String() string { return strings.Join(*s, ",") }
func (s *sans) Set(v string) error {
	for _, h := range strings.Split(v, ",") {
		if h = strings.TrimSpace(h); h != "" {
			*s = append(*s, h)
		}
	}
	return nil
}

// uplinkListenAddr is -uplink-listen: off (or set empty) turns it off;
// unset, it is the API's listen host with the MQTT over TLS port 8883.
func uplinkListenAddr(fs *flag.FlagSet, v, listen string) string {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == "uplink-listen" })
	switch {
	case v == "off" || (set && v == ""):
		return ""
	case set:
		return v
	}
	host, _, _ := net.SplitHostPort(listen)
	return net.JoinHostPort(host, "8883")
}

func run(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	fs := flag.NewFlagSet("tower", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "tower-data", "data `directory`: store, CA, first operator token")
	listen := fs.String("listen", "127.0.0.1:8443", "TLS listen `address`")
	var extra sans
	fs.Var(&extra, "san", "extra `host` names or IPs for the server certificate (repeatable; e.g. 10.0.2.2 for QEMU guests)")
	report := fs.Duration("report-interval", 30*time.Second, "status report interval suggested to sites; offline after 3 missed")
	pending := fs.Duration("pending-retry", 30*time.Second, "retry delay suggested to sites in the pending queue")
	challenge := fs.Duration("challenge-ttl", 5*time.Minute, "how long an enrollment challenge can be answered")
	var ekRoots sans
	fs.Var(&ekRoots, "ek-roots", "`path`s (files or directories of PEM/DER certificates) of the TPM makers whose EK certificates the tower trusts (repeatable); a TPM without such a certificate is a software identity")
	shipped := fs.Bool("ek-roots-shipped", true, "also trust the TPM makers' EK CAs shipped with the tower (services/tower/ektrust/roots, SOURCES.md there says where each came from)")
	rate := fs.Float64("enroll-rate", 1, "enrollment requests a second per source address, after the burst (0: no limit)")
	burst := fs.Int("enroll-burst", 30, "enrollment requests a source address may send at once")
	maxPending := fs.Int("max-pending", 10000, "most boxes in the pending queue; more are refused pending_full")
	uplinkListen := fs.String("uplink-listen", "", "MQTT over TLS listen `address` of the embedded hub that receives sites' uplinked records (stored under DATA/uplink); default: the -listen host, port 8883; off: none")
	uplinkAddr := fs.String("uplink-address", "", "`host:port` sites are told to uplink to; default: the host each site reached the tower by, with the -uplink-listen port")
	debug := fs.Bool("debug", false, "log at debug level")
	if err := fs.Parse(args); err != nil {
		return err
	}
	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})).With("service", "tower")

	roots, err := ektrust.Load(ekRoots...)
	if err != nil {
		return err
	}
	if *shipped {
		if roots, err = roots.WithShipped(); err != nil {
			return err
		}
	}
	if roots.Len() == 0 {
		log.Warn("no TPM maker roots (-ek-roots, -ek-roots-shipped=false): every box is a software identity, which only tenants with allowSoftwareIdentity take")
	}
	*uplinkListen = uplinkListenAddr(fs, *uplinkListen, *listen)
	if *uplinkAddr != "" {
		if _, _, err := net.SplitHostPort(*uplinkAddr); err != nil {
			return fmt.Errorf("-uplink-address %q: want host:port: %w", *uplinkAddr, err)
		}
	}
	o, err := tower.Open(ctx, *data, tower.WithLogger(log), tower.WithReportInterval(*report),
		tower.WithPendingRetry(*pending), tower.WithChallengeTTL(*challenge), tower.WithEKRoots(roots),
		tower.WithEnrollRateLimit(*rate, *burst), tower.WithMaxPending(*maxPending),
		tower.WithUplink(*uplinkListen), tower.WithUplinkAddress(*uplinkAddr))
	if err != nil {
		return err
	}
	defer o.Close()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	host, _, _ := net.SplitHostPort(*listen)
	hosts := append([]string{"localhost", "127.0.0.1", "::1"}, extra...)
	if host != "" && host != "0.0.0.0" && host != "::" && !slices.Contains(hosts, host) {
		hosts = append(hosts, host)
	}
	if o.TokenCreated {
		fmt.Fprintf(stdout, "first operator token written to %s (mode 0600)\n", o.TokenFile)
	} else {
		fmt.Fprintf(stdout, "operator token of the first start: %s\n", o.TokenFile)
	}
	fmt.Fprintf(stdout, "tower CA certificate (for site configs and skerryctl --ca): %s\n", filepath.Join(*data, ca.CertFile))
	fmt.Fprintf(stdout, "serving https://%s (certificate for %s)\n", ln.Addr(), strings.Join(hosts, ", "))
	if *uplinkListen != "" {
		fmt.Fprintf(stdout, "receiving uplinked records on mqtts://%s, stored in %s\n", *uplinkListen, filepath.Join(*data, tower.UplinkDir))
	}
	fmt.Fprintf(stdout, "log in: skerryctl tower login --tower https://%s --token $(cat %s) --ca %s\n", ln.Addr(), o.TokenFile, filepath.Join(*data, ca.CertFile))
	if err := daemon.Ready(); err != nil {
		return err
	}
	return o.Serve(ctx, ln, hosts)
}
