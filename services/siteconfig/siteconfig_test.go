package siteconfig

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, in, wantErr string
		want              *Config
	}{
		{name: "minimal gets defaults", in: `{"version":3}`, want: Default()},
		{name: "static", in: `{"version":1,"network":{"mode":"static","address":"192.0.2.10/24","gateway":"192.0.2.1","dns":["192.0.2.53"]}}`,
			want: &Config{Version: 1, Network: Network{Mode: "static", Address: "192.0.2.10/24", Gateway: "192.0.2.1", DNS: []string{"192.0.2.53"}}, Health: Health{Listen: "127.0.0.1:8080"}}},
		{name: "tower", in: `{"version":1,"tower":{"url":"https://tower.example:8443","ca":"PEM","enrollmentToken":"t","allowSoftwareIdentity":true}}`,
			want: &Config{Version: 1, Tower: Tower{URL: "https://tower.example:8443", CA: "PEM", EnrollmentToken: "t", AllowSoftwareIdentity: true}, Network: Network{Mode: "dhcp"}, Health: Health{Listen: "127.0.0.1:8080"}}},
		{name: "future version", in: `{"version":4}`, wantErr: "versions 1 to 3"},
		{name: "no version", in: `{}`, wantErr: "version 0"},
		{name: "unknown field", in: `{"version":1,"towr":{}}`, wantErr: `unknown field "towr"`},
		{name: "bad mode", in: `{"version":1,"network":{"mode":"ppp"}}`, wantErr: `network.mode "ppp"`},
		{name: "static without prefix", in: `{"version":1,"network":{"mode":"static","address":"192.0.2.10"}}`, wantErr: "prefix length"},
		{name: "bad dns", in: `{"version":1,"network":{"dns":["dns.example"]}}`, wantErr: `"dns.example" is not an IP`},
		{name: "not json", in: `version: 1`, wantErr: "not valid JSON"},
		{name: "status API loopback by default", in: `{"version":1}`, want: &Config{Version: 1, Network: Network{Mode: "dhcp"}, Health: Health{Listen: "127.0.0.1:8080"}}},
		{name: "status API on the network without a token", in: `{"version":1,"health":{"listen":":8080"}}`, wantErr: "set health.token"},
		{name: "status API on a LAN address with a short token", in: `{"version":1,"health":{"listen":"192.0.2.10:8080","token":"short"}}`, wantErr: "at least 16"},
		{name: "status API token with a space", in: `{"version":1,"health":{"listen":":8080","token":"0123456789 abcdef"}}`, wantErr: "printable ASCII"},
		{name: "status API bad address", in: `{"version":1,"health":{"listen":"8080"}}`, wantErr: "want host:port"},
		{name: "status API on the network with a token", in: `{"version":1,"health":{"listen":":8080","token":"0123456789abcdef"}}`,
			want: &Config{Version: 1, Network: Network{Mode: "dhcp"}, Health: Health{Listen: ":8080", Token: "0123456789abcdef"}}},
		{name: "uplink", in: `{"version":2,"uplink":{"enabled":false,"parent":"hub.example:8883","rules":[{"match":"system/*","uplink":true,"priority":5},{"match":"*/*","uplink":false}]}}`,
			want: &Config{Version: 2, Network: Network{Mode: "dhcp"}, Health: Health{Listen: "127.0.0.1:8080"},
				Uplink: Uplink{Enabled: new(false), Parent: "hub.example:8883", Rules: []UplinkRule{{Match: "system/*", Uplink: true, Priority: 5}, {Match: "*/*"}}}}},
		{name: "uplink in a version 1 file", in: `{"version":1,"uplink":{"parent":"hub.example:8883"}}`, wantErr: `uplink section needs "version": 2`},
		{name: "uplink parent without port", in: `{"version":2,"uplink":{"parent":"hub.example"}}`, wantErr: `uplink.parent "hub.example": want host:port`},
		{name: "uplink parent bad port", in: `{"version":2,"uplink":{"parent":"hub.example:99999"}}`, wantErr: `uplink.parent "hub.example:99999": port "99999"`},
		{name: "uplink parent no host", in: `{"version":2,"uplink":{"parent":":8883"}}`, wantErr: "no host"},
		{name: "uplink bad rule", in: `{"version":2,"uplink":{"rules":[{"match":"[","uplink":true}]}}`, wantErr: `uplink.rules[0].match "["`},
		{name: "uplink empty rule", in: `{"version":2,"uplink":{"rules":[{"uplink":true}]}}`, wantErr: `uplink.rules[0].match ""`},
		{name: "uplink unknown field", in: `{"version":2,"uplink":{"parnet":"x:1"}}`, wantErr: `unknown field "parnet"`},
		{name: "status API TCP off", in: `{"version":1,"health":{"listen":""}}`, want: &Config{Version: 1, Network: Network{Mode: "dhcp"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse([]byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Parse(%s): got err %v, want one containing %q", tc.in, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%s): %v", tc.in, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Parse(%s) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
	if _, err := Parse([]byte(`{"version":7}`)); !errors.Is(err, ErrVersion) {
		t.Errorf("future version: got %v, want ErrVersion", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"version":1,"network":{"mode":"static","address":"192.0.2.10/24"}}`))
	f.Add([]byte(`{"version":1,"debug":{"control":true}}`))
	f.Add([]byte(`{"version":2,"uplink":{"enabled":true,"parent":"h:1","rules":[{"match":"*/*","uplink":true}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			return
		}
		// Whatever parses must round-trip.
		out, err := c.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Parse(out); err != nil {
			t.Fatalf("re-parse of %s: %v", out, err)
		}
	})
}
