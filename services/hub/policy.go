package hub

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"strings"
	"sync/atomic"

	"github.com/skerry/skerry/services/api/uplinkapi"
	"github.com/skerry/skerry/services/streamlog/wire"
	"github.com/skerry/skerry/services/uplink"
)

// PolicyVersion is the version of the hub's configuration file this code
// reads.
const PolicyVersion = 1

// Actions of a policy rule.
const (
	ActionForward = "forward" // send up (with Drop: minus those fields)
	ActionKeep    = "keep"    // keep at this hub, never forward
)

// Policy says what a hub forwards to its parent, per site topic. The first
// rule whose Match (and Sites) matches decides; no match, or no file,
// forwards everything.
type Policy struct {
	Version int          `json:"version"`
	Topics  []PolicyRule `json:"topics"`
}

// PolicyRule is one line of a Policy.
type PolicyRule struct {
	// Match is a path.Match pattern over the site's tenant/topic, e.g.
	// "acme/gps*" (the site's own name, not the hub's <site>.<topic>).
	Match string `json:"match"`
	// Sites is a path.Match pattern over the origin site ID; default "*".
	Sites string `json:"sites,omitempty"`
	// Action is "forward" (default) or "keep".
	Action string `json:"action,omitempty"`
	// Drop lists top-level fields removed from JSON object values before
	// they go up. A value that is not a JSON object is withheld.
	Drop []string `json:"drop,omitempty"`
	// Priority overrides the uplink's default priority (control and alarm
	// topics 10, the rest 0) for the forwarded topic.
	Priority *int `json:"priority,omitempty"`
}

// ErrBadPolicy is returned for a hub configuration file that cannot be used.
var ErrBadPolicy = errors.New("bad hub configuration")

// LoadPolicy reads the hub's configuration. A missing file is an error,
// not the default: a file named to keep topics must not forward them by
// its absence (no file given at all is the default, &Policy{Version: 1}).
func LoadPolicy(file string) (*Policy, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read hub configuration: %w", err)
	}
	p, err := ParsePolicy(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return p, nil
}

// ParsePolicy parses and checks a configuration: version 1, no unknown
// fields, valid patterns and actions.
func ParsePolicy(data []byte) (*Policy, error) {
	var p Policy
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(&p); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadPolicy, err)
	}
	if d.More() {
		return nil, fmt.Errorf("%w: more than one JSON value", ErrBadPolicy)
	}
	if p.Version != PolicyVersion {
		return nil, fmt.Errorf("%w: version %d, this hub reads version %d", ErrBadPolicy, p.Version, PolicyVersion)
	}
	for i := range p.Topics {
		r := &p.Topics[i]
		if _, err := path.Match(r.Match, "a/b"); err != nil || r.Match == "" || !strings.Contains(r.Match, "/") {
			return nil, fmt.Errorf("%w: topics[%d]: match %q is not a pattern over tenant/topic like \"acme/gps*\"", ErrBadPolicy, i, r.Match)
		}
		if r.Sites == "" {
			r.Sites = "*"
		}
		if _, err := path.Match(r.Sites, "a"); err != nil {
			return nil, fmt.Errorf("%w: topics[%d]: sites %q is not a pattern", ErrBadPolicy, i, r.Sites)
		}
		switch r.Action {
		case "":
			r.Action = ActionForward
		case ActionForward, ActionKeep:
		default:
			return nil, fmt.Errorf("%w: topics[%d]: action %q: use %q or %q", ErrBadPolicy, i, r.Action, ActionForward, ActionKeep)
		}
		if r.Action == ActionKeep && len(r.Drop) > 0 {
			return nil, fmt.Errorf("%w: topics[%d]: drop with action keep: a kept topic is not forwarded at all", ErrBadPolicy, i)
		}
		for _, f := range r.Drop {
			if f == "" {
				return nil, fmt.Errorf("%w: topics[%d]: an empty field name in drop", ErrBadPolicy, i)
			}
		}
	}
	return &p, nil
}

// rule returns the rule deciding the hub topic name (tenant/<site>.<topic>)
// and the site's own tenant/topic; ok is false for a topic that is not a
// site's (the hub forwards only those).
func (p *Policy) rule(name string) (r PolicyRule, siteName string, ok bool) {
	tenant, rest, _ := strings.Cut(name, "/")
	origin, topic, err := uplinkapi.ForwardedTopic(rest)
	if err != nil || tenant == "" {
		return PolicyRule{}, "", false
	}
	siteName = tenant + "/" + topic
	for _, r := range p.Topics {
		m, _ := path.Match(r.Match, siteName)
		s, _ := path.Match(r.Sites, origin)
		if m && s {
			return r, siteName, true
		}
	}
	return PolicyRule{Action: ActionForward}, siteName, true
}

// Forwards reports whether the hub topic name goes to the parent.
func (p *Policy) Forwards(name string) bool {
	r, _, ok := p.rule(name)
	return ok && r.Action == ActionForward
}

// filter is a Policy as the forwarding uplink's Filter, counting what it
// changes.
type filter struct {
	p                  *Policy
	redacted, withheld atomic.Uint64
}

var _ uplink.Filter = (*filter)(nil)

// Rule forwards what the policy forwards, with the priority the site's
// uplink gives the site's topic by default (control and alarm first).
func (f *filter) Rule(name string) (uplink.Rule, bool) {
	r, siteName, ok := f.p.rule(name)
	if !ok || r.Action != ActionForward {
		return uplink.Rule{}, false
	}
	def, _ := uplink.DefaultRules().Lookup(siteName)
	prio := def.Priority
	if r.Priority != nil {
		prio = *r.Priority
	}
	return uplink.Rule{Match: name, Uplink: true, Priority: prio}, true
}

// HeaderWithheld marks a record whose contents a hub did not forward: its
// value is not a JSON object and its topic has fields to drop. Only the
// origin's headers travel with it, so offsets stay dense at the parent.
const HeaderWithheld = "skerry.withheld"

// Records drops the rule's fields from each record's JSON object value.
func (f *filter) Records(name string, recs []wire.Record) []wire.Record {
	r, _, ok := f.p.rule(name)
	if !ok || len(r.Drop) == 0 {
		return recs
	}
	for i := range recs {
		v, err := dropFields(recs[i].Value, r.Drop)
		if err != nil {
			recs[i] = withhold(recs[i], err)
			f.withheld.Add(1)
			continue
		}
		recs[i].Value = v
		f.redacted.Add(1)
	}
	return recs
}

// dropFields returns the JSON object value without fields.
func dropFields(value []byte, fields []string) ([]byte, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(value, &obj); err != nil || obj == nil {
		return nil, errors.New("value is not a JSON object: fields cannot be dropped, so nothing of it goes up")
	}
	for _, f := range fields {
		delete(obj, f)
	}
	return json.Marshal(obj)
}

// withhold keeps of rec only its offset, time and the origin's headers:
// key, the site's own headers and value may carry what the rule drops.
func withhold(rec wire.Record, why error) wire.Record {
	var hs []wire.Header
	for _, h := range rec.Headers {
		switch h.Key {
		case uplinkapi.HeaderSiteOffset, uplinkapi.HeaderSiteTime, uplinkapi.HeaderSiteEpoch, uplinkapi.HeaderHop:
			hs = append(hs, h)
		}
	}
	hs = append(hs, wire.Header{Key: HeaderWithheld, Value: []byte(why.Error())})
	return wire.Record{Offset: rec.Offset, Time: rec.Time, Headers: hs}
}
