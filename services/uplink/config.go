package uplink

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"slices"

	"github.com/skerry/skerry/services/siteconfig"
)

// ConfigVersion is the version of the uplink's configuration this code reads.
const ConfigVersion = 1

// Rules says what goes up. The first rule whose Match matches a topic's
// tenant/name decides; a topic no rule matches stays on the site.
type Rules struct {
	Version int    `json:"version"`
	Rules   []Rule `json:"rules"`
}

// Rule is one line of Rules.
type Rule struct {
	// Match is a path.Match pattern over tenant/name, e.g. "system/*" or
	// "*/alarms".
	Match string `json:"match"`
	// Uplink sends the topic up; false keeps it on the site.
	Uplink bool `json:"uplink"`
	// Priority: after an outage, topics of a higher priority go first and
	// lower ones wait while any higher one has a backlog.
	Priority int `json:"priority,omitempty"`
}

// DefaultRules send every persistent topic up; topics named "control*" or
// "alarm*" of any tenant first. Volatile topics never go up (see Plan).
func DefaultRules() Rules {
	return Rules{Version: ConfigVersion, Rules: []Rule{
		{Match: "*/control*", Uplink: true, Priority: 10},
		{Match: "*/alarm*", Uplink: true, Priority: 10},
		{Match: "*/*", Uplink: true},
	}}
}

// ErrBadConfig is returned for a configuration that cannot be used.
var ErrBadConfig = errors.New("bad uplink configuration")

// LoadRules reads rules from a JSON file; a missing file gives DefaultRules.
func LoadRules(file string) (Rules, error) {
	data, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return DefaultRules(), nil
	}
	if err != nil {
		return Rules{}, fmt.Errorf("read uplink rules: %w", err)
	}
	return ParseRules(data)
}

// ParseRules parses and checks rules: version 1, no unknown fields, valid
// patterns.
func ParseRules(data []byte) (Rules, error) {
	var r Rules
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(&r); err != nil {
		return Rules{}, fmt.Errorf("%w: %v", ErrBadConfig, err)
	}
	if r.Version != ConfigVersion {
		return Rules{}, fmt.Errorf("%w: version %d, this uplink reads version %d", ErrBadConfig, r.Version, ConfigVersion)
	}
	for i, rule := range r.Rules {
		if _, err := path.Match(rule.Match, "a/b"); err != nil || rule.Match == "" {
			return Rules{}, fmt.Errorf("%w: rule %d: match %q is not a pattern like \"system/*\"", ErrBadConfig, i, rule.Match)
		}
	}
	return r, nil
}

// Lookup returns the rule for topic tenant/name, if any.
func (r Rules) Lookup(name string) (Rule, bool) {
	i := slices.IndexFunc(r.Rules, func(rule Rule) bool {
		ok, _ := path.Match(rule.Match, name)
		return ok
	})
	if i < 0 {
		return Rule{}, false
	}
	return r.Rules[i], r.Rules[i].Uplink
}

// SiteRules returns the rules the box runs with: the site config's
// uplink.rules when it has any (rules in file are then ignored, and
// ignored says so), else the file's, else DefaultRules. from says which.
func SiteRules(site siteconfig.Uplink, file string) (r Rules, from string, ignored bool, err error) {
	if site.Rules != nil {
		r = Rules{Version: ConfigVersion}
		for _, sr := range site.Rules {
			r.Rules = append(r.Rules, Rule{Match: sr.Match, Uplink: sr.Uplink, Priority: sr.Priority})
		}
		_, statErr := os.Stat(file)
		return r, "site config uplink.rules", statErr == nil, nil
	}
	if _, err := os.Stat(file); err != nil {
		return DefaultRules(), "defaults", false, nil
	}
	r, err = LoadRules(file)
	return r, file, false, err
}
