// Package netcfg brings up the site's network: loopback, then DHCP on the
// wired interfaces or the static address from the site config.
package netcfg

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/u-root/u-root/pkg/dhclient"
	"github.com/vishvananda/netlink"

	"github.com/skerry/skerry/services/siteconfig"
)

// Result describes the configured network.
type Result struct {
	Interface string
	Address   string
	Gateway   string
	Mode      string

	// lease is the DHCP lease behind a "dhcp" result, for Maintain.
	lease *lease
}

// Up configures loopback and one uplink interface.
func Up(ctx context.Context, cfg siteconfig.Network) (Result, error) {
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return Result{}, fmt.Errorf("find lo: %w", err)
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		return Result{}, fmt.Errorf("ip link set lo up: %w", err)
	}
	links, err := uplinks(cfg.Interface)
	if err != nil {
		return Result{}, err
	}
	if cfg.Mode == "static" {
		return static(links[0], cfg)
	}
	return dhcp(ctx, links)
}

// uplinks lists the wired interfaces in name order, or the named one.
func uplinks(name string) ([]netlink.Link, error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		all, err := netlink.LinkList()
		if err != nil {
			return nil, fmt.Errorf("list links: %w", err)
		}
		var out []netlink.Link
		for _, l := range all {
			a := l.Attrs()
			switch {
			case name != "":
				// The site config names it: whatever its kind.
				if a.Name == name {
					out = append(out, l)
				}
			case a.Name != "lo" && l.Type() == "device" && !strings.HasPrefix(a.Name, "sit"):
				out = append(out, l)
			}
		}
		if len(out) > 0 {
			return out, nil
		}
		if time.Now().After(deadline) {
			if name != "" {
				return nil, fmt.Errorf("interface %q from the site config does not exist", name)
			}
			return nil, fmt.Errorf("no network interface found (is the NIC's driver in the board's module list?)")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// dhcpTimeout and dhcpRetries shape one attempt at a first lease: the
// timeout doubles with each try, so 3 tries give up after 14 s and Run
// starts a new attempt on a new socket. (With 5 tries an attempt lasted
// 62 s, and an arm64 guest whose first attempt got no answer after a
// reboot waited over a minute for an address.) Variables so that tests can
// wait less.
var (
	dhcpTimeout = 2 * time.Second
	dhcpRetries = 3
)

func dhcp(ctx context.Context, links []netlink.Link) (Result, error) {
	var up []netlink.Link
	for _, l := range links {
		if u, err := dhclient.IfUp(l.Attrs().Name, 5*time.Second); err == nil {
			up = append(up, u)
		}
	}
	if len(up) == 0 {
		return Result{}, fmt.Errorf("no interface came up for DHCP")
	}
	cfg := dhclient.Config{Timeout: dhcpTimeout, Retries: dhcpRetries, LogLevel: dhclient.LogInfo,
		Modifiers4: []dhcpv4.Modifier{classID}}
	var lastErr error
	for r := range dhclient.SendRequests(ctx, up, true, false, cfg, 5*time.Second) {
		if r.Err != nil {
			lastErr = r.Err
			continue
		}
		if err := r.Lease.Configure(); err != nil {
			lastErr = err
			continue
		}
		m4, _ := r.Lease.Message()
		if m4 == nil {
			lastErr = fmt.Errorf("%s: a lease without a DHCPv4 message", r.Interface.Attrs().Name)
			continue
		}
		return (&lease{link: r.Interface, ack: m4, at: time.Now()}).result(), nil
	}
	return Result{}, fmt.Errorf("DHCP: no lease: %v", lastErr)
}

func static(l netlink.Link, cfg siteconfig.Network) (Result, error) {
	name := l.Attrs().Name
	if err := netlink.LinkSetUp(l); err != nil {
		return Result{}, fmt.Errorf("ip link set %s up: %w", name, err)
	}
	pfx, err := netip.ParsePrefix(cfg.Address)
	if err != nil {
		return Result{}, err
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: pfx.Addr().AsSlice(), Mask: net.CIDRMask(pfx.Bits(), pfx.Addr().BitLen())}}
	if err := netlink.AddrReplace(l, addr); err != nil {
		return Result{}, fmt.Errorf("ip addr add %s dev %s: %w", cfg.Address, name, err)
	}
	if cfg.Gateway != "" {
		gw := net.ParseIP(cfg.Gateway)
		if err := netlink.RouteReplace(&netlink.Route{LinkIndex: l.Attrs().Index, Gw: gw}); err != nil {
			return Result{}, fmt.Errorf("ip route add default via %s: %w", cfg.Gateway, err)
		}
	}
	if len(cfg.DNS) > 0 {
		var b strings.Builder
		for _, d := range cfg.DNS {
			fmt.Fprintf(&b, "nameserver %s\n", d)
		}
		if err := os.WriteFile("/etc/resolv.conf", []byte(b.String()), 0o644); err != nil {
			return Result{}, err
		}
	}
	return Result{Interface: name, Address: cfg.Address, Gateway: cfg.Gateway, Mode: "static"}, nil
}
