// Package siteconfig reads the site configuration: the one file that may
// differ between boxes flashed from the same image. It is baked into the
// image at build time and may be replaced on the EFI system partition at
// flash time (skerry/site.json there wins). README.md lists the versions
// and the uplink section.
package siteconfig

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"

	"github.com/skerry/skerry/services/serve"
)

// Version is the newest configuration format this build reads. Version 2
// added the uplink section, version 3 the workload section; an older file
// reads as before.
const Version = 3

// ErrVersion is returned when the file's version is one this build does
// not know; an older image must not guess at a newer format.
var ErrVersion = errors.New("unsupported site config version")

// Config is the site configuration.
type Config struct {
	Version  int               `json:"version"`
	Hostname string            `json:"hostname,omitempty"`
	Tower    Tower             `json:"tower,omitzero"`
	Labels   map[string]string `json:"labels,omitempty"`
	Network  Network           `json:"network,omitzero"`
	Health   Health            `json:"health,omitzero"`
	Debug    Debug             `json:"debug,omitzero"`
	Uplink   Uplink            `json:"uplink,omitzero"`
	Workload Workload          `json:"workload,omitzero"`
}

// Tower says where the site registers.
type Tower struct {
	URL             string `json:"url,omitempty"`
	CA              string `json:"ca,omitempty"` // PEM
	EnrollmentToken string `json:"enrollmentToken,omitempty"`
	// AllowSoftwareIdentity lets a box without a TPM enroll with a key kept
	// on disk. A box whose TPM fails must not quietly fall back to a weaker
	// identity, so this is off unless the config says so; the tower still
	// decides whether the tenant accepts such a site.
	AllowSoftwareIdentity bool `json:"allowSoftwareIdentity,omitempty"`
}

// Network is DHCP on every wired interface by default, or static.
type Network struct {
	Mode      string   `json:"mode,omitempty"`      // "dhcp" (default) or "static"
	Interface string   `json:"interface,omitempty"` // default: first non-loopback
	Address   string   `json:"address,omitempty"`   // static: CIDR, 192.0.2.10/24
	Gateway   string   `json:"gateway,omitempty"`
	DNS       []string `json:"dns,omitempty"`
}

// Health configures the local status API. It is always on its unix
// socket. On TCP it is loopback-only (127.0.0.1:8080) unless Listen names
// an address other machines reach (":8080", "0.0.0.0:8080", a LAN
// address): then every request must carry "Authorization: Bearer
// <Token>", and a config that opens the network without a token is
// refused.
type Health struct {
	// Listen is the TCP address of the status API; "" turns TCP off.
	Listen string `json:"listen,omitempty"`
	// Token is the bearer token the status API asks of requests from the
	// network; at least MinHealthTokenLen characters.
	Token string `json:"token,omitempty"`
}

// MinHealthTokenLen is the shortest Health.Token accepted.
const MinHealthTokenLen = 16

// DefaultHealthListen is the status API's TCP address by default:
// loopback only.
const DefaultHealthListen = "127.0.0.1:8080"

// Network says whether Listen is reachable from other machines.
func (h Health) Network() bool {
	return h.Listen != "" && serve.CheckLoopback(h.Listen) != nil
}

// Debug switches on what a test bench needs and a deployed box must not
// have: both expose unauthenticated control over the network.
type Debug struct {
	// ContainerdTCP makes "skerry devproxy" forward this TCP address to
	// containerd's socket, so the host can drive it through QEMU's port
	// forwarding.
	ContainerdTCP string `json:"containerdTCP,omitempty"`
	// Control lets the status API accept POST /v1/debug/{poweroff,reboot}.
	Control bool `json:"control,omitempty"`
}

// Default is the configuration of an image built without one.
func Default() *Config {
	return &Config{Version: Version, Network: Network{Mode: "dhcp"}, Health: Health{Listen: DefaultHealthListen}}
}

// Load reads and checks a config file.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read site config: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("site config %s: %w", path, err)
	}
	return c, nil
}

// Parse decodes and checks a config, filling defaults.
func Parse(data []byte) (*Config, error) {
	var probe struct {
		Version int `json:"version"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, fmt.Errorf("not valid JSON: %w", err)
	}
	if probe.Version < 1 || probe.Version > Version {
		return nil, fmt.Errorf("%w %d: this image reads versions 1 to %d; write the file for this image or update the image", ErrVersion, probe.Version, Version)
	}
	c := Default()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		return nil, fmt.Errorf("decode: %w (see services/siteconfig for the fields)", err)
	}
	if err := c.check(); err != nil {
		return nil, err
	}
	if probe.Version < 2 && !c.Uplink.IsZero() {
		return nil, fmt.Errorf("uplink: the uplink section needs \"version\": 2 (this file says %d)", probe.Version)
	}
	if probe.Version < 3 && !c.Workload.IsZero() {
		return nil, fmt.Errorf("workload: the workload section needs \"version\": 3 (this file says %d)", probe.Version)
	}
	return c, nil
}

func (c *Config) check() error {
	n := c.Network
	switch n.Mode {
	case "", "dhcp":
	case "static":
		if _, err := netip.ParsePrefix(n.Address); err != nil {
			return fmt.Errorf("network.address %q: want an address with prefix length like 192.0.2.10/24", n.Address)
		}
		if n.Gateway != "" {
			if _, err := netip.ParseAddr(n.Gateway); err != nil {
				return fmt.Errorf("network.gateway %q is not an IP address", n.Gateway)
			}
		}
	default:
		return fmt.Errorf("network.mode %q: want \"dhcp\" or \"static\"", n.Mode)
	}
	for _, d := range n.DNS {
		if _, err := netip.ParseAddr(d); err != nil {
			return fmt.Errorf("network.dns entry %q is not an IP address", d)
		}
	}
	h := c.Health
	if h.Listen != "" {
		if _, _, err := net.SplitHostPort(h.Listen); err != nil {
			return fmt.Errorf("health.listen %q: want host:port, like %s", h.Listen, DefaultHealthListen)
		}
	}
	if h.Network() && len(h.Token) < MinHealthTokenLen {
		return fmt.Errorf("health.listen %q opens the status API to the network: set health.token to a secret of at least %d characters (clients send it as Authorization: Bearer), or listen on %s", h.Listen, MinHealthTokenLen, DefaultHealthListen)
	}
	for _, r := range h.Token {
		if r <= ' ' || r >= 0x7f {
			return fmt.Errorf("health.token: only printable ASCII without spaces is allowed")
		}
	}
	if err := c.Uplink.check(); err != nil {
		return err
	}
	return c.Workload.check()
}

// Marshal encodes c as the file format, indented.
func (c *Config) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(c, "", "  ")
	return append(b, '\n'), err
}
