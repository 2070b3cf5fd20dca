package hub

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/pion/dtls/v3"

	"github.com/skerry/skerry/services/api/uplinkapi"
)

// DTLSConfig configures the hub's DTLS listener: the same certificate and
// site CA as the MQTT listener.
type DTLSConfig struct {
	// Listen is the UDP address, e.g. ":8884".
	Listen string
	Cert   tls.Certificate
	Sites  *x509.CertPool
	// Idle ends a session that received nothing for this long (the site
	// is gone, or reconnected with a new session); default 5 minutes.
	Idle time.Duration
	Log  *slog.Logger
	// Admit, if set, is asked about every site that completes a
	// handshake, as Config.Admit is for MQTT (a revoked site is refused
	// on either transport).
	Admit func(id string, hub bool, cert *x509.Certificate) error
}

// DTLSServer receives batches over DTLS and stores them through the
// Receiver, like the broker hook.
type DTLSServer struct {
	c    DTLSConfig
	l    net.Listener
	recv *Receiver
}

// cidBytes is the length of the connection IDs the hub hands out: the site
// sends it in every record, so a new source address (a NAT rebinding)
// still finds its session (RFC 9146).
const cidBytes = 8

// ListenDTLS opens the UDP listener; Serve accepts sessions.
func ListenDTLS(c DTLSConfig, recv *Receiver) (*DTLSServer, error) {
	if c.Idle <= 0 {
		c.Idle = 5 * time.Minute
	}
	addr, err := net.ResolveUDPAddr("udp", c.Listen)
	if err != nil {
		return nil, fmt.Errorf("dtls listen address %q: %w", c.Listen, err)
	}
	l, err := dtls.ListenWithOptions("udp", addr,
		dtls.WithCertificates(c.Cert),
		dtls.WithClientAuth(dtls.RequireAndVerifyClientCert),
		dtls.WithClientCAs(c.Sites),
		dtls.WithExtendedMasterSecret(dtls.RequireExtendedMasterSecret),
		dtls.WithConnectionIDGenerator(dtls.RandomCIDGenerator(cidBytes)),
		dtls.WithListenConfig(net.ListenConfig{Control: bigReadBuffer}),
	)
	if err != nil {
		return nil, fmt.Errorf("dtls listen %s: %w", c.Listen, err)
	}
	return &DTLSServer{c: c, l: l, recv: recv}, nil
}

// bigReadBuffer asks for a 4 MiB socket receive buffer (the kernel caps it
// at net.core.rmem_max): every site's window lands on the one socket, and
// what overflows it is lost and sent again only after a timeout.
func bigReadBuffer(_, _ string, c syscall.RawConn) error {
	c.Control(func(fd uintptr) {
		syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4<<20)
	})
	return nil
}

// Addr is the UDP address the hub listens on.
func (s *DTLSServer) Addr() string { return s.l.Addr().String() }

// Serve accepts sessions until ctx ends.
func (s *DTLSServer) Serve(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { s.l.Close() })
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := s.l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			// A full accept queue or a refused attempt ends nothing.
			s.c.Log.Warn("dtls accept", "err", err)
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.session(ctx, c.(*dtls.Conn))
		}()
	}
}

// siteOfDTLS returns the site of a session: the CN of its certificate,
// which pion verified against Sites, and which must be a site certificate
// (OU "site") as for MQTT.
func siteOfDTLS(c *dtls.Conn) (string, *x509.Certificate, error) {
	st, ok := c.ConnectionState()
	if !ok || len(st.PeerCertificates) == 0 {
		return "", nil, errors.New("no client certificate")
	}
	cert, err := x509.ParseCertificate(st.PeerCertificates[0])
	if err != nil {
		return "", nil, fmt.Errorf("client certificate: %w", err)
	}
	subj := cert.Subject
	if !slices.Contains(subj.OrganizationalUnit, "site") || uplinkapi.ValidateSite(subj.CommonName) != nil {
		return "", nil, fmt.Errorf("certificate %q is not a site certificate", subj.CommonName)
	}
	return subj.CommonName, cert, nil
}

// session runs one site's DTLS session: the read loop hands each batch to
// its topic's worker, which stores and answers.
func (s *DTLSServer) session(ctx context.Context, c *dtls.Conn) {
	defer c.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	hctx, hcancel := context.WithTimeout(ctx, 30*time.Second)
	err := c.HandshakeContext(hctx)
	hcancel()
	if err != nil {
		s.c.Log.Warn("dtls handshake", "remote", c.RemoteAddr(), "err", err)
		return
	}
	site, cert, err := siteOfDTLS(c)
	if err == nil && s.c.Admit != nil {
		if aerr := s.c.Admit(site, false, cert); aerr != nil {
			err = fmt.Errorf("site %s not admitted: %w", site, aerr)
		}
	}
	if err != nil {
		s.c.Log.Warn("refused dtls session", "remote", c.RemoteAddr(), "err", err)
		return
	}
	log := s.c.Log.With("site", site, "transport", "dtls")
	log.Info("dtls session", "remote", c.RemoteAddr())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	topics := map[string]*dtlsTopic{}
	var lastWarn time.Time
	buf := make([]byte, 64<<10)
	for {
		c.SetReadDeadline(time.Now().Add(s.c.Idle))
		n, err := c.Read(buf)
		if err != nil {
			log.Info("dtls session ended", "err", err)
			return
		}
		p := append([]byte(nil), buf[:n]...)
		stamp, b, err := uplinkapi.DecodeBatchDatagram(p)
		if err == nil && b.Site != site {
			err = fmt.Errorf("site %s may not send for %s", site, b.Site)
			a := uplinkapi.Ack{Status: uplinkapi.StatusRefused, Code: uplinkapi.CodeForbidden, Message: err.Error()}
			name := b.Tenant + "/" + b.Topic
			if uplinkapi.ReadsSACK(p) {
				c.Write(uplinkapi.AppendAckDatagram(nil, stamp, name, a, nil))
			} else {
				c.Write(uplinkapi.AppendAckDatagramV1(nil, stamp, name, a))
			}
		}
		if err != nil {
			s.recv.refused.Add(1)
			if time.Since(lastWarn) > time.Second {
				lastWarn = time.Now()
				log.Warn("refused datagram", "err", err)
			}
			continue
		}
		name := b.Tenant + "/" + b.Topic
		t := topics[name]
		if t == nil {
			t = &dtlsTopic{name: name, in: make(chan *dtlsItem, dtlsMaxPending)}
			topics[name] = t
			wg.Add(1)
			go func() {
				defer wg.Done()
				t.run(ctx, s.recv, c)
			}()
		}
		select {
		case t.in <- &dtlsItem{stamp: stamp, sack: uplinkapi.ReadsSACK(p), b: b}:
		default: // the worker is behind: the site sends it again
		}
	}
}
