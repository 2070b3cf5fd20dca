package workload

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/skerry/skerry/services/api/workloadapi"
)

// Host ports (README.md, "Host ports"): the service listens on each
// published port of the site and forwards every TCP connection, and every
// UDP client's datagrams, to the port on the app's own loopback, through
// a socket made in the app's network namespace. The app keeps a network
// namespace with loopback only.

// ErrPortTaken is returned for an app that publishes a host port another
// app publishes or a service of the site holds.
var ErrPortTaken = errors.New("host port taken")

// ReservedPort is a host port of the site's own, which no app may publish.
type ReservedPort struct {
	Protocol string // "tcp" or "udp"
	Port     int
	// Owner says what holds it, for the refusal: "the site's status API
	// (site config health.listen)".
	Owner string
}

func (p ReservedPort) key() string { return p.Protocol + "/" + strconv.Itoa(p.Port) }

// ParseReservedPort reads "tcp/8080=owner" (the service's -reserved-port).
func ParseReservedPort(s string) (ReservedPort, error) {
	pp, owner, _ := strings.Cut(s, "=")
	proto, port, ok := strings.Cut(pp, "/")
	n, err := strconv.Atoi(port)
	if !ok || (proto != "tcp" && proto != "udp") || err != nil || n < 1 || n > 65535 {
		return ReservedPort{}, fmt.Errorf("reserved port %q: want PROTOCOL/PORT=OWNER, like tcp/8080=health.listen", s)
	}
	if owner == "" {
		owner = "a service of the site"
	}
	return ReservedPort{Protocol: proto, Port: n, Owner: owner}, nil
}

// WithReservedPorts names the site's own host ports: an app publishing
// one is refused.
func WithReservedPorts(ps ...ReservedPort) Option {
	return func(o *options) { o.reserved = append(o.reserved, ps...) }
}

// Limits of the forwarding, per published port: connections (TCP) or
// clients (UDP) at once, beyond which new ones are turned away; how long
// a UDP client's flow lives without traffic; how long a connection into
// the app may take.
const (
	maxPortConns  = 512
	maxUDPFlows   = 64 // each holds a 64 KiB buffer
	udpIdle       = time.Minute
	portDialLimit = 5 * time.Second
)

func portKey(p workloadapi.Port) string { return cmpOr(p.Protocol, "tcp") + "/" + strconv.Itoa(p.Host) }

// checkPorts refuses spec's host ports that the site keeps or that
// another app of others publishes, naming
// the app, the port and its holder.
func (r *Runner) checkPorts(spec *workloadapi.AppSpec, others []*workloadapi.AppSpec) error {
	for _, p := range spec.Ports {
		k := portKey(p)
		for _, rp := range r.o.reserved {
			if rp.key() == k {
				return fmt.Errorf("%w: app %s/%s: host port %s is %s: publish another host port",
					ErrPortTaken, spec.Tenant, spec.Name, k, rp.Owner)
			}
		}
		for _, o := range others {
			if o.Tenant == spec.Tenant && o.Name == spec.Name {
				continue
			}
			for _, op := range o.Ports {
				if portKey(op) == k {
					return fmt.Errorf("%w: app %s/%s: host port %s is published by app %s/%s: publish another host port, or remove that app first",
						ErrPortTaken, spec.Tenant, spec.Name, k, o.Tenant, o.Name)
				}
			}
		}
	}
	return nil
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// publish listens on the app's host ports and forwards them into the app
// until close is called. It fails, naming the port, when one cannot be
// bound (another program of the site holds it).
func (a *app) publish() (close func(), err error) {
	var closers []io.Closer
	var wg sync.WaitGroup
	close = func() {
		for _, c := range closers {
			c.Close()
		}
		wg.Wait()
	}
	for _, p := range a.spec.Ports {
		var c io.Closer
		switch p.Protocol {
		case "udp":
			pc, err := net.ListenUDP("udp", &net.UDPAddr{Port: p.Host})
			if err != nil {
				close()
				return nil, a.bindError(p, err)
			}
			wg.Go(func() { a.forwardUDP(pc, p.Container) })
			c = pc
		default:
			l, err := net.ListenTCP("tcp", &net.TCPAddr{Port: p.Host})
			if err != nil {
				close()
				return nil, a.bindError(p, err)
			}
			wg.Go(func() { a.forwardTCP(l, p.Container) })
			c = l
		}
		closers = append(closers, c)
	}
	return close, nil
}

func (a *app) bindError(p workloadapi.Port, err error) error {
	return fmt.Errorf("app %s/%s: host port %s: %w (another program of the site holds it: publish another host port)",
		a.spec.Tenant, a.spec.Name, portKey(p), err)
}

// pid is the app's running task's, or 0 between runs.
func (a *app) pid() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.task == nil {
		return 0
	}
	return int(a.task.Pid())
}

// forwardTCP accepts connections on l until it is closed and joins each
// to a connection to port inside the app.
func (a *app) forwardTCP(l *net.TCPListener, port int) {
	sem := make(chan struct{}, maxPortConns)
	var wg sync.WaitGroup
	open := &openConns{m: map[io.Closer]bool{}}
	for {
		in, err := l.AcceptTCP()
		if errors.Is(err, net.ErrClosed) {
			// The port closes with its connections: the app is stopping,
			// or the service (whose process ends them anyway).
			open.closeAll()
			wg.Wait()
			return
		}
		if err != nil {
			// Out of file descriptors and the like: wait, as net/http does.
			time.Sleep(50 * time.Millisecond)
			continue
		}
		select {
		case sem <- struct{}{}:
		default:
			in.Close()
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			a.joinTCP(in, port, open)
		})
	}
}

// openConns are a port's connections, both sides, closed with the port.
type openConns struct {
	mu     sync.Mutex
	m      map[io.Closer]bool
	closed bool
}

// add tracks c, or closes it when the port is closed already.
func (o *openConns) add(c io.Closer) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		c.Close()
		return false
	}
	o.m[c] = true
	return true
}

// done closes c and forgets it.
func (o *openConns) done(c io.Closer) {
	c.Close()
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.m, c)
}

func (o *openConns) closeAll() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.closed = true
	for c := range o.m {
		c.Close()
	}
}

// joinTCP copies both ways between in and the app's port, passing on
// each side's end of stream; splice moves the bytes in the kernel.
func (a *app) joinTCP(in *net.TCPConn, port int, open *openConns) {
	if !open.add(in) {
		return
	}
	defer open.done(in)
	pid := a.pid()
	if pid == 0 {
		return // the app is not running: the client sees the connection closed
	}
	ctx, cancel := context.WithTimeout(a.ctx, portDialLimit)
	c, err := dialInApp(ctx, pid, "tcp", port)
	cancel()
	if err != nil {
		a.r.log().Debug("host port: connect into the app", "tenant", a.spec.Tenant, "app", a.spec.Name, "port", port, "err", err)
		return
	}
	out := c.(*net.TCPConn)
	if !open.add(out) {
		return
	}
	defer open.done(out)
	done := make(chan struct{})
	go func() {
		io.Copy(out, in)
		out.CloseWrite()
		close(done)
	}()
	io.Copy(in, out)
	in.CloseWrite()
	<-done
}

// forwardUDP reads datagrams on pc until it is closed: each client gets
// its own socket connected to port inside the app, whose answers go back
// to the client from the host port; a client silent for udpIdle is
// forgotten.
func (a *app) forwardUDP(pc *net.UDPConn, port int) {
	var mu sync.Mutex
	flows := map[string]net.Conn{}
	var wg sync.WaitGroup
	defer func() {
		mu.Lock()
		for _, c := range flows {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	}()
	buf := make([]byte, 64<<10)
	for {
		n, from, err := pc.ReadFromUDPAddrPort(buf)
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			continue
		}
		k := from.String()
		mu.Lock()
		c, nflows := flows[k], len(flows)
		mu.Unlock()
		if c == nil {
			pid := a.pid()
			if pid == 0 || nflows >= maxUDPFlows {
				continue
			}
			ctx, cancel := context.WithTimeout(a.ctx, portDialLimit)
			c, err = dialInApp(ctx, pid, "udp", port)
			cancel()
			if err != nil {
				continue
			}
			mu.Lock()
			flows[k] = c
			mu.Unlock()
			wg.Go(func() {
				// Answers back to the client until the flow is idle, or
				// fails (the app restarted: its namespace is another).
				b := make([]byte, 64<<10)
				for {
					c.SetReadDeadline(time.Now().Add(udpIdle))
					n, err := c.Read(b)
					if err != nil {
						break
					}
					pc.WriteToUDPAddrPort(b[:n], from)
				}
				mu.Lock()
				if flows[k] == c {
					delete(flows, k)
				}
				mu.Unlock()
				c.Close()
			})
		}
		c.SetReadDeadline(time.Now().Add(udpIdle))
		c.Write(buf[:n])
	}
}
