package netcfg

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"github.com/u-root/u-root/pkg/dhclient"
	"github.com/vishvananda/netlink"

	"github.com/skerry/skerry/services/siteconfig"
)

// lease is a DHCPv4 lease and the interface it configures.
type lease struct {
	link netlink.Link
	ack  *dhcpv4.DHCPv4
	at   time.Time // when the server acknowledged it
}

// result describes the lease as Up and Maintain report it.
func (l *lease) result() Result {
	res := Result{Interface: l.link.Attrs().Name, Mode: "dhcp", lease: l}
	mask, _ := l.ack.SubnetMask().Size()
	res.Address = fmt.Sprintf("%s/%d", l.ack.YourIPAddr, mask)
	if rs := l.ack.Router(); len(rs) > 0 {
		res.Gateway = rs[0].String()
	}
	return res
}

// defaultLeaseTime is assumed when a server names no lease time.
const defaultLeaseTime = time.Hour

// infiniteLease is the lease time RFC 2131 reserves for "forever".
const infiniteLease = time.Duration(math.MaxUint32) * time.Second

// duration is the lease's length; ok is false for an infinite lease.
func (l *lease) duration() (d time.Duration, ok bool) {
	d = l.ack.IPAddressLeaseTime(defaultLeaseTime)
	return d, d != infiniteLease
}

// Event is what Maintain reports: a lease renewed or newly taken (Err nil,
// Result set), or a lease lost (Err set: the address was removed).
type Event struct {
	Result  Result
	Renewed bool // the same lease extended, rather than a new one taken
	Err     error
}

// Run brings the network up and keeps it up for as long as ctx lasts: Up,
// retried with backoff while no DHCP server answers (a box may boot with its
// uplink unplugged), then Maintain. Each lease taken or renewed and each
// failure goes to report, on Run's goroutine. A static configuration that
// fails is reported once and not retried: it needs a corrected site config.
func Run(ctx context.Context, cfg siteconfig.Network, report func(Event)) {
	for backoff := minBackoff; ctx.Err() == nil; backoff = min(2*backoff, maxBackoff) {
		res, err := Up(ctx, cfg)
		if err == nil {
			report(Event{Result: res})
			Maintain(ctx, res, report)
			return
		}
		if cfg.Mode == "static" {
			report(Event{Err: err})
			return
		}
		report(Event{Err: fmt.Errorf("%w; trying again in %s", err, backoff)})
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
	}
}

// minBackoff and maxBackoff bound the wait between attempts to take a
// first lease; variables so that tests can wait less.
var minBackoff, maxBackoff = 5 * time.Second, 5 * time.Minute

// Maintain keeps the DHCP lease of res for as long as ctx lasts, as RFC
// 2131 asks of a client: it renews at half the lease time, retries at half
// the remaining time (at least every retryMin) until the lease expires or
// the server refuses it, then removes the address and takes a new lease by
// discovery, retrying until a server answers. A box that runs for weeks
// thus never keeps an address its DHCP server has given to another. It
// returns at once for a static or infinite lease. Each change goes to
// report, on Maintain's goroutine.
func Maintain(ctx context.Context, res Result, report func(Event)) {
	l := res.lease
	for l != nil && ctx.Err() == nil {
		d, finite := l.duration()
		if !finite {
			return
		}
		expiry := l.at.Add(d)
		next, err := renewUntil(ctx, l, l.at.Add(d/2), expiry)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			l = next
			report(Event{Result: l.result(), Renewed: true})
			continue
		}
		// Expired or refused: the address is no longer ours.
		addr := l.result().Address
		if derr := removeAddress(l); derr != nil {
			err = fmt.Errorf("%w; removing %s: %v", err, addr, derr)
		}
		report(Event{Err: fmt.Errorf("lease of %s on %s lost (%w); address removed, asking for a new one", addr, l.link.Attrs().Name, err)})
		l = rediscover(ctx, l.link)
		if l != nil {
			report(Event{Result: l.result()})
		}
	}
}

// retryMin bounds how often a failing renewal is retried; a variable so
// that tests can use leases of seconds.
var retryMin = time.Minute

// renewUntil waits until t1, then asks the server to extend l until it
// does, refuses (a NAK) or expiry passes.
func renewUntil(ctx context.Context, l *lease, t1, expiry time.Time) (*lease, error) {
	wait := time.Until(t1)
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
		if !time.Now().Before(expiry) {
			return nil, errors.New("expired without a renewal")
		}
		next, err := renew(ctx, l, expiry)
		if err == nil {
			return next, nil
		}
		var nak *nclient4.ErrNak
		if errors.As(err, &nak) {
			return nil, fmt.Errorf("the server refused the renewal (NAK)")
		}
		wait = max(time.Until(expiry)/2, min(retryMin, time.Until(expiry)))
	}
}

// renew asks the server, a few times, to extend l before expiry, and
// configures the answer.
func renew(ctx context.Context, l *lease, expiry time.Time) (*lease, error) {
	ctx, cancel := context.WithDeadline(ctx, expiry)
	defer cancel()
	c, err := nclient4.New(l.link.Attrs().Name, nclient4.WithTimeout(min(time.Until(expiry), 5*time.Second)), nclient4.WithRetry(2))
	if err != nil {
		return nil, err
	}
	defer c.Close()
	nl, err := c.Renew(ctx, &nclient4.Lease{Offer: l.ack, ACK: l.ack}, classID)
	if err != nil {
		return nil, err
	}
	next := &lease{link: l.link, ack: nl.ACK, at: nl.CreationTime}
	if !nl.ACK.YourIPAddr.Equal(l.ack.YourIPAddr) {
		// A server may move the client; the old address goes.
		removeAddress(l)
	}
	if err := dhclient.Configure4(l.link, nl.ACK); err != nil {
		return nil, err
	}
	return next, nil
}

// rediscover takes a new lease on link, retrying until a server answers or
// ctx ends (then nil).
func rediscover(ctx context.Context, link netlink.Link) *lease {
	for backoff := time.Second; ; backoff = min(2*backoff, retryMin) {
		c, err := nclient4.New(link.Attrs().Name, nclient4.WithTimeout(2*time.Second), nclient4.WithRetry(2))
		if err == nil {
			nl, rerr := c.Request(ctx, classID)
			c.Close()
			if rerr == nil && dhclient.Configure4(link, nl.ACK) == nil {
				return &lease{link: link, ack: nl.ACK, at: nl.CreationTime}
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
	}
}

// removeAddress takes l's address off its interface.
func removeAddress(l *lease) error {
	mask := l.ack.SubnetMask()
	if mask == nil {
		mask = net.IP(l.ack.YourIPAddr).DefaultMask()
	}
	return netlink.AddrDel(l.link, &netlink.Addr{IPNet: &net.IPNet{IP: l.ack.YourIPAddr, Mask: mask}})
}

// classID names Skerry to DHCP servers.
var classID = dhcpv4.WithOption(dhcpv4.OptClassIdentifier("skerry"))
