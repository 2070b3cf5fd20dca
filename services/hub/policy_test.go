package hub

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/skerry/skerry/services/api/uplinkapi"
	"github.com/skerry/skerry/services/streamlog/wire"
	"github.com/skerry/skerry/services/uplink"
)

func TestParsePolicyErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"version": 2}`, "version 2"},
		{`{"version": 1, "topics": [{"match": "acme/*", "actoin": "keep"}]}`, `unknown field "actoin"`},
		{`{"version": 1, "topics": [{"match": "acme"}]}`, `match "acme"`},
		{`{"version": 1, "topics": [{"match": "acme/["}]}`, `match "acme/["`},
		{`{"version": 1, "topics": [{"match": "acme/*", "action": "drop"}]}`, `action "drop"`},
		{`{"version": 1, "topics": [{"match": "acme/*", "action": "keep", "drop": ["a"]}]}`, "drop with action keep"},
		{`{"version": 1, "topics": [{"match": "acme/*", "drop": [""]}]}`, "empty field"},
		{`{"version": 1, "topics": [{"match": "acme/*", "sites": "["}]}`, `sites "["`},
		{`{"version": 1} {}`, "more than one"},
		{`[]`, "cannot unmarshal"},
	} {
		_, err := ParsePolicy([]byte(tc.in))
		if !errors.Is(err, ErrBadPolicy) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParsePolicy(%s): got %v, want ErrBadPolicy naming %q", tc.in, err, tc.want)
		}
	}
}

func TestPolicyRules(t *testing.T) {
	p, err := ParsePolicy([]byte(`{"version": 1, "topics": [
		{"match": "acme/secret*", "action": "keep"},
		{"match": "acme/gps", "sites": "0a*", "drop": ["lat", "lon"]},
		{"match": "acme/bulk", "priority": 5}
	]}`))
	if err != nil {
		t.Fatal(err)
	}
	f := &filter{p: p}
	type got struct {
		Up   bool
		Prio int
	}
	for name, want := range map[string]got{
		"acme/0a1b.secret-keys": {false, 0},
		"acme/0a1b.gps":         {true, 0},
		"acme/ffff.gps":         {true, 0},
		"acme/0a1b.bulk":        {true, 5},
		"system/0a1b.control":   {true, 10}, // the uplink's default priority of the site's name
		"acme/0a1b.alarms":      {true, 10},
		"downlink/0a1b":         {false, 0}, // not a site topic
	} {
		r, ok := f.Rule(name)
		if diff := cmp.Diff(want, got{ok, r.Priority}); diff != "" {
			t.Errorf("Rule(%s) (-want +got):\n%s", name, diff)
		}
	}
	origin := uplinkapi.SiteHeaders(7, time.Unix(1, 0), 1)
	recs := []wire.Record{
		{Offset: 1, Key: []byte("k"), Value: []byte(`{"lat": 1.5, "lon": 2, "speed": 3}`)},
		{Offset: 2, Key: []byte("secret key"), Headers: append([]wire.Header{{Key: "who", Value: []byte("me")}}, origin[:]...), Value: []byte("lat=1.5")},
	}
	out := f.Records("acme/0a1b.gps", recs)
	want := []wire.Record{
		{Offset: 1, Key: []byte("k"), Value: []byte(`{"speed":3}`)},
		{Offset: 2, Headers: append(origin[:], wire.Header{Key: HeaderWithheld, Value: []byte("value is not a JSON object: fields cannot be dropped, so nothing of it goes up")})},
	}
	if diff := cmp.Diff(want, out); diff != "" {
		t.Errorf("Records (-want +got):\n%s", diff)
	}
	if f.redacted.Load() != 1 || f.withheld.Load() != 1 {
		t.Errorf("counts: redacted %d, withheld %d; want 1, 1", f.redacted.Load(), f.withheld.Load())
	}
	// Another site's gps has no rule with drop: untouched.
	other := []wire.Record{{Offset: 1, Value: []byte("raw")}}
	if diff := cmp.Diff([]wire.Record{{Offset: 1, Value: []byte("raw")}}, f.Records("acme/ffff.gps", other)); diff != "" {
		t.Errorf("Records of another site (-want +got):\n%s", diff)
	}
	var _ uplink.Filter = f
}

func TestLoadPolicyMissing(t *testing.T) {
	file := t.TempDir() + "/none.json"
	if _, err := LoadPolicy(file); err == nil || !strings.Contains(err.Error(), file) {
		t.Errorf("LoadPolicy of a missing file: got %v, want an error naming it", err)
	}
	if !(&Policy{Version: PolicyVersion}).Forwards("acme/0a1b.anything") {
		t.Error("the default policy does not forward a site topic")
	}
}

// FuzzParsePolicy: any bytes either parse into a policy whose rules all
// have a valid pattern and action, or are refused with ErrBadPolicy.
func FuzzParsePolicy(f *testing.F) {
	f.Add([]byte(`{"version": 1}`))
	f.Add([]byte(`{"version": 1, "topics": [{"match": "acme/gps", "sites": "0a*", "drop": ["lat"]}, {"match": "*/*", "action": "keep"}]}`))
	f.Add([]byte(`{"version": 1, "topics": [{"match": "a/[", "priority": 3}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePolicy(data)
		if err != nil {
			if !errors.Is(err, ErrBadPolicy) {
				t.Fatalf("error %v is not ErrBadPolicy", err)
			}
			return
		}
		for _, r := range p.Topics {
			if r.Action != ActionForward && r.Action != ActionKeep || r.Sites == "" {
				t.Fatalf("accepted rule %+v", r)
			}
		}
		flt := &filter{p: p}
		flt.Rule("acme/0a1b.gps")
		flt.Records("acme/0a1b.gps", []wire.Record{{Value: data}})
	})
}
