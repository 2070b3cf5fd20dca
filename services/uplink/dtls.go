package uplink

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/dtls/v3"
	"golang.org/x/sync/errgroup"

	"github.com/skerry/skerry/services/api/uplinkapi"
)

// DTLSOptions tune the DTLS transport: batches that fit one datagram, a
// window of them in flight per topic, cumulative and selective answers,
// retransmission of what is missing by an RFC 6298 timer and as soon as
// an answer to a later batch shows it missing.
type DTLSOptions struct {
	// MTU bounds a datagram's payload; default uplinkapi.DatagramMTU.
	MTU int
	// Window is the batches in flight per topic that the hub does not
	// hold yet (in the network, or lost); default 512 (600 KB at the
	// default MTU: 3 MB/s at 200 ms RTT), at most uplinkapi.HeldBatches,
	// which also bounds how far past the hub's mark a batch may go.
	Window int
}

// dtlsLink is one DTLS session to the hub: every topic's sender writes on
// it, and its read loop routes each answer to its topic.
type dtlsLink struct {
	u     *Uplink
	conn  *dtls.Conn
	rtt   *rttEstimator
	start time.Time
	mtu   int
	win   int

	mu     sync.Mutex
	topics map[string]chan dtlsAnswer

	lastAnswer  atomic.Int64 // unix ns
	retransmits atomic.Uint64
}

// dtlsAnswer is an answer with the time it came.
type dtlsAnswer struct {
	stamp uint64
	ack   uplinkapi.Ack
	sack  uplinkapi.SACK
	at    time.Time
}

// dtlsSession dials the hub, handshakes with the site's certificate (its
// key may be a TPM's crypto.Signer: pion signs through it) and replicates
// until the link fails.
func (u *Uplink) dtlsSession(ctx context.Context) error {
	raddr, err := net.ResolveUDPAddr("udp", u.c.Broker)
	if err != nil {
		return fmt.Errorf("parent address %q: %w", u.c.Broker, err)
	}
	pc, err := net.ListenUDP("udp", nil)
	if err != nil {
		return err
	}
	defer pc.Close()
	conn, err := dtls.ClientWithOptions(pc, raddr,
		dtls.WithCertificates(u.c.TLS.Certificates...),
		dtls.WithRootCAs(u.c.TLS.RootCAs),
		dtls.WithServerName(u.c.TLS.ServerName),
		dtls.WithExtendedMasterSecret(dtls.RequireExtendedMasterSecret),
		// The hub gives us a connection ID to send; we need none back
		// (our side does not move).
		dtls.WithConnectionIDGenerator(dtls.OnlySendCIDGenerator()),
	)
	if err != nil {
		return fmt.Errorf("dtls %s: %w", u.c.Broker, err)
	}
	defer conn.Close()
	hctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = conn.HandshakeContext(hctx)
	cancel()
	if err != nil {
		return fmt.Errorf("dtls handshake with %s: %w", u.c.Broker, err)
	}
	l := &dtlsLink{u: u, conn: conn, rtt: newRTTEstimator(), start: time.Now(),
		mtu: u.c.DTLS.MTU, win: u.c.DTLS.Window, topics: map[string]chan dtlsAnswer{}}
	if l.mtu <= 0 {
		l.mtu = uplinkapi.DatagramMTU
	}
	if l.win <= 0 {
		l.win = 512
	}
	l.win = min(l.win, uplinkapi.HeldBatches)
	l.lastAnswer.Store(time.Now().UnixNano())
	u.c.Logger.Info("connected", "parent", "dtls://"+u.c.Broker, "mtu", l.mtu, "window", l.win)
	u.c.Monitor.SetState(uplinkapi.StateConnected, "")
	defer func() {
		rto, srtt := l.rtt.get()
		u.c.Logger.Info("dtls session ended", "retransmits", l.retransmits.Load(), "srtt", srtt, "rto", rto)
	}()
	g, gctx := errgroup.WithContext(ctx)
	// A topic's link error ends the session: the read loop ends with the
	// connection.
	stop := context.AfterFunc(gctx, func() { conn.Close() })
	defer stop()
	g.Go(func() error { return l.readLoop(gctx) })
	g.Go(func() error { return u.discover(gctx, g, func(r *replicator) { r.dl = l }) })
	return g.Wait()
}

// readLoop routes answers to their topics until the connection fails.
func (l *dtlsLink) readLoop(ctx context.Context) error {
	buf := make([]byte, 64<<10)
	for {
		n, err := l.conn.Read(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return &linkError{fmt.Errorf("dtls read: %w", err)}
		}
		stamp, name, ack, sack, err := uplinkapi.DecodeSACKDatagram(buf[:n])
		if err != nil {
			l.u.c.Logger.Warn("answer that does not parse", "err", err)
			continue
		}
		now := time.Now()
		l.lastAnswer.Store(now.UnixNano())
		l.mu.Lock()
		ch := l.topics[name]
		l.mu.Unlock()
		if ch == nil {
			continue
		}
		select {
		case ch <- dtlsAnswer{stamp, ack, sack, now}:
		default: // the topic is behind; a later answer says as much
		}
	}
}

func (l *dtlsLink) register(name string) chan dtlsAnswer {
	ch := make(chan dtlsAnswer, 1024)
	l.mu.Lock()
	l.topics[name] = ch
	l.mu.Unlock()
	return ch
}

func (l *dtlsLink) unregister(name string) {
	l.mu.Lock()
	delete(l.topics, name)
	l.mu.Unlock()
}

// stamp is the link's clock in µs, never 0.
func (l *dtlsLink) stamp(t time.Time) uint64 { return uint64(t.Sub(l.start)/time.Microsecond) + 1 }

// sampleRTT takes the RTT of an answer from its echoed stamp.
func (l *dtlsLink) sampleRTT(a dtlsAnswer) {
	now := l.stamp(a.at)
	if a.stamp == 0 || a.stamp > now {
		return
	}
	l.rtt.sample(time.Duration(now-a.stamp) * time.Microsecond)
}

// silent says whether the hub has answered nothing for the ack timeout.
func (l *dtlsLink) silent() error {
	since := time.Since(time.Unix(0, l.lastAnswer.Load()))
	if since > l.u.c.AckTimeout {
		return &linkError{errors.New("no answer from the hub over dtls for " + since.Round(time.Millisecond).String())}
	}
	return nil
}
