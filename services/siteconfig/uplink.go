package siteconfig

import (
	"fmt"
	"net"
	"path"
	"strconv"
)

// Uplink configures "skerry uplink", which replicates the site's stream
// log topics to its parent (a hub or the tower). Every field is optional:
// an empty section sends every persistent topic to the parent the tower
// named at enrollment, once the box is registered.
type Uplink struct {
	// Enabled turns the uplink off when false; unset means on (it still
	// waits for the box to be registered).
	Enabled *bool `json:"enabled,omitempty"`
	// Parent overrides the parent the tower hands out (host:port of its
	// MQTT over TLS listener), e.g. a hub in the site's region.
	Parent string `json:"parent,omitempty"`
	// Rules say what goes up, first match wins; unset means
	// /perm/uplink/rules.json if present, else the uplink's defaults.
	Rules []UplinkRule `json:"rules,omitempty"`
}

// UplinkRule is one rule of Uplink.Rules, the same as a rule of the
// uplink's rules.json.
type UplinkRule struct {
	// Match is a path.Match pattern over tenant/name, e.g. "system/*".
	Match string `json:"match"`
	// Uplink sends matching topics up; false keeps them on the site.
	Uplink bool `json:"uplink"`
	// Priority: after an outage, higher priorities go first.
	Priority int `json:"priority,omitempty"`
}

// On says whether the uplink runs (Enabled unset or true).
func (u Uplink) On() bool { return u.Enabled == nil || *u.Enabled }

// IsZero reports an absent section (for omitzero and version checks).
func (u Uplink) IsZero() bool { return u.Enabled == nil && u.Parent == "" && u.Rules == nil }

func (u Uplink) check() error {
	if u.Parent != "" {
		if err := CheckHostPort(u.Parent); err != nil {
			return fmt.Errorf("uplink.parent %q: %w", u.Parent, err)
		}
	}
	for i, r := range u.Rules {
		if _, err := path.Match(r.Match, "a/b"); err != nil || r.Match == "" {
			return fmt.Errorf("uplink.rules[%d].match %q: want a pattern over tenant/name like \"system/*\" or \"*/*\"", i, r.Match)
		}
	}
	return nil
}

// CheckHostPort checks an address of the form host:port with a port from
// 1 to 65535, as an uplink parent is given.
func CheckHostPort(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("want host:port, like hub.example:8883: %w", err)
	}
	if host == "" {
		return fmt.Errorf("want host:port, like hub.example:8883: no host")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("port %q: want a number from 1 to 65535", port)
	}
	return nil
}
