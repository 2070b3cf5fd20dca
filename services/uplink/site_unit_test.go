package uplink

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/skerry/skerry/services/siteconfig"
)

func TestSiteParent(t *testing.T) {
	for _, tc := range []struct {
		name, identity, flag, siteParent string
		wantParent, wantFrom, wantErr    string
		noIdentity                       bool
	}{
		{name: "not registered", noIdentity: true, wantErr: "no site identity"},
		{name: "registered, no parent anywhere", identity: `{"siteId":"s1"}`},
		{name: "the tower's", identity: `{"siteId":"s1","uplink":"tower.example:8883"}`, wantParent: "tower.example:8883", wantFrom: FromTower},
		{name: "site config wins over the tower", identity: `{"siteId":"s1","uplink":"tower.example:8883"}`, siteParent: "hub.example:8883", wantParent: "hub.example:8883", wantFrom: FromSiteConfig},
		{name: "flag wins over all", identity: `{"siteId":"s1","uplink":"tower.example:8883"}`, siteParent: "hub.example:8883", flag: "127.0.0.1:1883", wantParent: "127.0.0.1:1883", wantFrom: FromFlag},
		{name: "bad parent from the tower", identity: `{"siteId":"s1","uplink":"tower.example"}`, wantErr: `the tower named parent "tower.example"`},
		{name: "identity not JSON", identity: `{`, wantErr: "site identity"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if !tc.noIdentity {
				if err := os.WriteFile(filepath.Join(dir, "identity.json"), []byte(tc.identity), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			c := SiteConfig{IdentityDir: dir, Broker: tc.flag, Site: siteconfig.Uplink{Parent: tc.siteParent}}
			_, parent, from, err := c.Parent()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Parent: got err %v, want one containing %q", err, tc.wantErr)
				}
				if tc.noIdentity && !errors.Is(err, errNoIdentity) {
					t.Errorf("Parent: got %v, want errNoIdentity", err)
				}
				return
			}
			if err != nil || parent != tc.wantParent || from != tc.wantFrom {
				t.Errorf("Parent: got %q from %q, %v; want %q from %q", parent, from, err, tc.wantParent, tc.wantFrom)
			}
		})
	}
}

func TestSiteRules(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "rules.json")
	site := siteconfig.Uplink{Rules: []siteconfig.UplinkRule{{Match: "system/*", Uplink: true, Priority: 5}}}
	fromSite := Rules{Version: ConfigVersion, Rules: []Rule{{Match: "system/*", Uplink: true, Priority: 5}}}
	fromFile := Rules{Version: ConfigVersion, Rules: []Rule{{Match: "acme/*", Uplink: true}}}

	check := func(name string, site siteconfig.Uplink, want Rules, wantFrom string, wantIgnored bool) {
		t.Helper()
		got, from, ignored, err := SiteRules(site, file)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if diff := cmp.Diff(want, got); diff != "" || from != wantFrom || ignored != wantIgnored {
			t.Errorf("%s: from %q ignored %v, want %q %v; rules (-want +got):\n%s", name, from, ignored, wantFrom, wantIgnored, diff)
		}
	}
	check("nothing", siteconfig.Uplink{}, DefaultRules(), "defaults", false)
	check("site config only", site, fromSite, "site config uplink.rules", false)
	if err := os.WriteFile(file, []byte(`{"version":1,"rules":[{"match":"acme/*","uplink":true}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	check("file only", siteconfig.Uplink{}, fromFile, file, false)
	check("both: the site config wins", site, fromSite, "site config uplink.rules", true)

	if err := os.WriteFile(file, []byte(`{"version":1,"rules":[{"match":"[","uplink":true}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := SiteRules(siteconfig.Uplink{}, file); !errors.Is(err, ErrBadConfig) {
		t.Errorf("bad rules file: got %v, want ErrBadConfig", err)
	}
}
