package tower

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/skerry/skerry/services/hub"
	"github.com/skerry/skerry/services/streamlog"
	"github.com/skerry/skerry/services/tower/store"
)

// UplinkDir is the subdirectory of the data directory that holds the
// embedded hub's stream log: the records sites uplinked to the tower.
const UplinkDir = "uplink"

// uplinkTopicMaxBytes is the retention of one site topic at the tower, as
// the hub role's -topic-max-bytes default.
const uplinkTopicMaxBytes = 1 << 30

// uplink is the tower's embedded hub (services/hub): an MQTT v5 broker on
// its own TLS listener whose publish hook stores sites' batches, and the
// stream log the site topic API reads them back from.
type uplink struct {
	listen    string // MQTT over TLS listen address
	advertise string // host:port told to sites; empty: derived per request
	store     *streamlog.Store
	port      atomic.Value // string: the port the broker listens on, once serving
	held      *holds       // long-polls of site topic reads
}

// uplinkConfig is what the options say; Open makes an uplink of it.
type uplinkConfig struct{ listen, advertise string }

// WithUplink embeds the hub receiver: sites uplink their records to the
// tower itself over MQTT with TLS on listen (e.g. ":8883"), stored under
// DIR/uplink by Open and readable through /v1/sites/{site}/topics. Empty
// turns it off.
func WithUplink(listen string) Option { return func(s *Server) { s.uplinkConfig.listen = listen } }

// WithUplinkAddress sets the host:port sites are told to uplink to
// (enrollment result and status report header) instead of the host each
// site used for the tower with the uplink listener's port: for a tower
// behind a proxy or NAT, or sites that should send to a hub.
func WithUplinkAddress(addr string) Option {
	return func(s *Server) { s.uplinkConfig.advertise = addr }
}

// openUplink opens the embedded hub's stream log in dir.
func (s *Server) openUplink(dir string) error {
	if s.uplinkConfig.listen == "" {
		return nil
	}
	st, err := streamlog.Open(filepath.Join(dir, UplinkDir), streamlog.WithLogger(s.log.With("part", "uplink")))
	if err != nil {
		return fmt.Errorf("open uplink store: %w", err)
	}
	s.uplink = &uplink{listen: s.uplinkConfig.listen, advertise: s.uplinkConfig.advertise, store: st, held: newHolds()}
	return nil
}

// closeUplink closes the embedded hub's stream log.
func (s *Server) closeUplink() error {
	if s.uplink == nil || s.uplink.store == nil {
		return nil
	}
	return s.uplink.store.Close()
}

// serveUplink starts the embedded broker with cert and returns a function
// that stops it. Its counters join the tower's /metrics.
func (s *Server) serveUplink(cert tls.Certificate) (stop func(), err error) {
	if s.uplink == nil || s.uplink.store == nil {
		return func() {}, nil
	}
	h, err := hub.New(hub.Config{
		Listen:      s.uplink.listen,
		TLS:         hub.ServerTLS(cert, s.ca.Pool()),
		Store:       s.uplink.store,
		TopicConfig: streamlog.TopicConfig{MaxBytes: uplinkTopicMaxBytes, MaxRecordBytes: streamlog.HardMaxRecordBytes},
		Log:         s.log.With("part", "hub"),
		Admit:       s.admitUplink,
	})
	if err != nil {
		return nil, fmt.Errorf("uplink listener: %w", err)
	}
	if err := h.Start(); err != nil {
		return nil, fmt.Errorf("uplink listener %s: %w", s.uplink.listen, err)
	}
	if _, port, err := net.SplitHostPort(h.Addr()); err == nil {
		s.uplink.port.Store(port)
	}
	if err := s.registry.Register(h.Receiver().Collector()); err != nil && !errors.As(err, new(prometheus.AlreadyRegisteredError)) {
		h.Close()
		return nil, err
	}
	s.log.Info("receiving uplinked records", "listen", h.Addr())
	return func() { h.Close() }, nil
}

// UplinkAddr is the address the embedded broker listens on, once Serve
// started it; empty without one.
func (s *Server) UplinkAddr() string {
	if s.uplink == nil {
		return ""
	}
	port, _ := s.uplink.port.Load().(string)
	if port == "" {
		return ""
	}
	host, _, _ := net.SplitHostPort(s.uplink.listen)
	return net.JoinHostPort(host, port)
}

// admitUplink lets a site's connection to the embedded broker through only
// while the tower knows the site, has not revoked it, and the certificate
// is its current one (or the renewed one it has not used yet): the broker
// sees only that the CA signed it. A hub (OU hub) forwarding its sites'
// records gets through only while it holds the certificate POST /v1/hubs
// issued it and is not revoked.
func (s *Server) admitUplink(site string, isHub bool, cert *x509.Certificate) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if isHub {
		_, err := s.knownHub(ctx, cert)
		return err
	}
	var st store.Site
	err := s.store.View(ctx, func(tx store.Tx) (err error) {
		st, err = tx.Site(site)
		return err
	})
	if err != nil {
		return fmt.Errorf("look up site %s: %w", site, err)
	}
	if st.Revoked {
		return fmt.Errorf("site %s was revoked", site)
	}
	serial := cert.SerialNumber.Text(16)
	if serial != st.CertSerial && (st.NextCert == nil || serial != st.NextCert.Serial) {
		return fmt.Errorf("certificate %s of site %s was replaced by %s", serial, site, st.CertSerial)
	}
	return nil
}

// uplinkAddress is what a site is told to uplink to: -uplink-address, or
// the host the site reached the tower by (its request's Host, so a QEMU
// guest that sees the host as 10.0.2.2 is told 10.0.2.2) with the
// broker's port. Empty when the tower receives no uplink.
func (s *Server) uplinkAddress(r *http.Request) string {
	if s.uplink == nil || s.uplink.store == nil {
		return ""
	}
	if s.uplink.advertise != "" {
		return s.uplink.advertise
	}
	port, _ := s.uplink.port.Load().(string)
	if port == "" {
		_, port, _ = net.SplitHostPort(s.uplink.listen)
	}
	host := strings.Trim(r.Host, "[]") // a literal IPv6 address without a port
	if h, _, err := net.SplitHostPort(r.Host); err == nil {
		host = h
	}
	if host == "" || port == "" {
		return ""
	}
	return net.JoinHostPort(host, port)
}
