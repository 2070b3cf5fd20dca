package uplinktest

import (
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Fault is what a proxy does to traffic: each datagram (or each chunk of
// a TCP stream) waits Delay (one way: the RTT grows by twice it) and a
// datagram is dropped with probability Loss, each direction on its own.
// The host has no netem; a TCP stream cannot lose bytes in user space, so
// TCP loss (and loss and delay the same for TCP and UDP) is TUNLink's.
type Fault struct {
	Delay time.Duration
	Loss  float64
}

// UDPProxy forwards one client's datagrams to a target and the answers
// back, through Fault. Rebind moves its outbound side to a new socket (a
// new source port), as a NAT that forgot the mapping does.
type UDPProxy struct {
	in     *net.UDPConn
	target *net.UDPAddr

	mu     sync.Mutex
	fault  Fault
	out    *net.UDPConn
	client *net.UDPAddr
	closed bool

	// Handshakes counts client datagrams that start with a DTLS handshake
	// record of epoch 0 (a ClientHello): a new session.
	Handshakes atomic.Int64
	Forwarded  atomic.Int64
	Dropped    atomic.Int64
	// ClientDropped counts the client's datagrams among Dropped.
	ClientDropped atomic.Int64
}

// NewUDPProxy listens on a free loopback port and forwards to target.
func NewUDPProxy(target string, f Fault) (*UDPProxy, error) {
	ta, err := net.ResolveUDPAddr("udp", target)
	if err != nil {
		return nil, err
	}
	in, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	p := &UDPProxy{in: in, target: ta, fault: f}
	if err := p.Rebind(); err != nil {
		in.Close()
		return nil, err
	}
	go p.fromClient()
	return p, nil
}

// Addr is where the client sends.
func (p *UDPProxy) Addr() string { return p.in.LocalAddr().String() }

// SetFault changes the fault from now on.
func (p *UDPProxy) SetFault(f Fault) {
	p.mu.Lock()
	p.fault = f
	p.mu.Unlock()
}

// Rebind sends from a new socket from now on; answers to the old one are
// lost.
func (p *UDPProxy) Rebind() error {
	var local *net.UDPAddr // a target in a namespace is reached from the host's side
	if p.target.IP.IsLoopback() {
		local = &net.UDPAddr{IP: p.target.IP}
	}
	out, err := net.ListenUDP("udp", local)
	if err != nil {
		return err
	}
	p.mu.Lock()
	old := p.out
	p.out = out
	p.mu.Unlock()
	if old != nil {
		old.Close()
	}
	go p.fromTarget(out)
	return nil
}

// Close stops forwarding.
func (p *UDPProxy) Close() {
	p.mu.Lock()
	p.closed = true
	out := p.out
	p.mu.Unlock()
	p.in.Close()
	out.Close()
}

// pass says whether a datagram goes through and after how long.
func (p *UDPProxy) pass() (time.Duration, bool) {
	p.mu.Lock()
	f := p.fault
	p.mu.Unlock()
	if f.Loss > 0 && rand.Float64() < f.Loss {
		p.Dropped.Add(1)
		return 0, false
	}
	p.Forwarded.Add(1)
	return f.Delay, true
}

func (p *UDPProxy) fromClient() {
	line := newDelayLine()
	defer close(line)
	buf := make([]byte, 65536)
	for {
		n, from, err := p.in.ReadFromUDP(buf)
		if err != nil {
			return
		}
		// A DTLS record: content type 22 (handshake), epoch 0 at bytes 3-4.
		if n > 13 && buf[0] == 22 && buf[3] == 0 && buf[4] == 0 && buf[13] == 1 {
			p.Handshakes.Add(1)
		}
		p.mu.Lock()
		p.client = from
		out := p.out
		p.mu.Unlock()
		d, ok := p.pass()
		if ok {
			line.later(d, append([]byte(nil), buf[:n]...), func(b []byte) { out.WriteToUDP(b, p.target) })
		} else {
			p.ClientDropped.Add(1)
		}
	}
}

func (p *UDPProxy) fromTarget(out *net.UDPConn) {
	line := newDelayLine()
	defer close(line)
	buf := make([]byte, 65536)
	for {
		n, _, err := out.ReadFromUDP(buf)
		if err != nil {
			return
		}
		p.mu.Lock()
		client := p.client
		p.mu.Unlock()
		if d, ok := p.pass(); ok && client != nil {
			line.later(d, append([]byte(nil), buf[:n]...), func(b []byte) { p.in.WriteToUDP(b, client) })
		}
	}
}

// delayLine delivers packets a delay after they were read and in the
// order they were read, as netem does with a fixed delay. (A timer per
// packet would not: the runtime runs timers that fire together in any
// order, and the link would reorder bursts.) A packet that finds the line
// full is dropped, as by a full queue.
type delayLine chan delayed

type delayed struct {
	at   time.Time
	b    []byte
	send func([]byte)
}

func newDelayLine() delayLine {
	l := make(delayLine, 1<<16)
	go func() {
		for p := range l {
			if d := time.Until(p.at); d > 0 {
				time.Sleep(d)
			}
			p.send(p.b)
		}
	}()
	return l
}

// later runs send(b) d after now, after every packet pushed before it.
func (l delayLine) later(d time.Duration, b []byte, send func([]byte)) {
	select {
	case l <- delayed{time.Now().Add(d), b, send}:
	default:
	}
}

// TCPProxy forwards TCP connections to a target, delaying every chunk by
// Fault.Delay in each direction (Loss does not apply: see Fault).
type TCPProxy struct {
	l      net.Listener
	target string
	delay  time.Duration
}

// NewTCPProxy listens on a free loopback port.
func NewTCPProxy(target string, delay time.Duration) (*TCPProxy, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &TCPProxy{l: l, target: target, delay: delay}
	go p.serve()
	return p, nil
}

// Addr is where clients connect.
func (p *TCPProxy) Addr() string { return p.l.Addr().String() }

// Close stops accepting; open connections end when either side closes.
func (p *TCPProxy) Close() { p.l.Close() }

func (p *TCPProxy) serve() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		go func() {
			t, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				return
			}
			go p.pipe(t, c)
			p.pipe(c, t)
		}()
	}
}

// pipe copies src to dst, each chunk delivered delay after it was read,
// in order.
func (p *TCPProxy) pipe(dst, src net.Conn) {
	type chunk struct {
		at time.Time
		b  []byte
	}
	q := make(chan chunk, 4096)
	go func() {
		defer dst.Close()
		for c := range q {
			time.Sleep(time.Until(c.at))
			if _, err := dst.Write(c.b); err != nil {
				src.Close()
				for range q {
				}
				return
			}
		}
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			q <- chunk{time.Now().Add(p.delay), append([]byte(nil), buf[:n]...)}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				dst.Close()
			}
			close(q)
			return
		}
	}
}
