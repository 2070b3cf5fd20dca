package tower_test

import (
	"context"
	"crypto/ecdh"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/skerry/skerry/services/api/enrollapi"
	"github.com/skerry/skerry/services/api/secretapi"
	"github.com/skerry/skerry/services/api/towerapi"
	"github.com/skerry/skerry/services/tower/towertest"
)

// The plaintexts of the test: none may appear in an answer or the log.
const (
	plainV1 = "correct-horse-battery-staple"
	plainV2 = "rotated-tr0ub4dor-and-3"
)

// Secrets set at the tower stay within the tenant's boundaries, are never
// answered back, and reach exactly the sites their selector matches,
// sealed to each site's vault key.
func TestSecrets(t *testing.T) {
	tw := towertest.Start(t)
	op := tw.Client(t, "")
	ctx := context.Background()
	mustTenant(t, op, "acme", true)
	mustTenant(t, op, "other", true)
	admin := tw.Client(t, newToken(t, op, "tenant-admin", "acme"))
	reader := tw.Client(t, newToken(t, op, "tenant-reader", "acme"))
	otherAdmin := tw.Client(t, newToken(t, op, "tenant-admin", "other"))
	north := enrollSite(t, tw, op, "acme", map[string]string{"region": "north"})
	south := enrollSite(t, tw, op, "acme", map[string]string{"region": "south"})
	otherNorth := enrollSite(t, tw, op, "other", map[string]string{"region": "north"})

	set := func(v string) towerapi.SecretSet {
		return towerapi.SecretSet{Value: []byte(v), Selector: map[string]string{"region": "north"}}
	}
	for _, tc := range []struct {
		name         string
		c            *towerapi.Client
		method, path string
		body         any
		code         string
		version      int
	}{
		{"admin sets v1", admin, "PUT", "/v1/tenants/acme/secrets/db", set(plainV1), "", 1},
		{"operator sets v2", op, "PUT", "/v1/tenants/acme/secrets/db", set(plainV2), "", 2},
		{"reader may not set", reader, "PUT", "/v1/tenants/acme/secrets/db", set("x"), enrollapi.CodeForbidden, 0},
		{"other tenant's admin may not set", otherAdmin, "PUT", "/v1/tenants/acme/secrets/db", set("x"), enrollapi.CodeNotFound, 0},
		{"other tenant's admin may not read", otherAdmin, "GET", "/v1/tenants/acme/secrets/db", nil, enrollapi.CodeNotFound, 0},
		{"other tenant's admin may not list", otherAdmin, "GET", "/v1/tenants/acme/secrets", nil, enrollapi.CodeNotFound, 0},
		{"other tenant's admin may not delete", otherAdmin, "DELETE", "/v1/tenants/acme/secrets/db", nil, enrollapi.CodeNotFound, 0},
		{"bad name", admin, "PUT", "/v1/tenants/acme/secrets/Db_1", set("x"), enrollapi.CodeBadRequest, 0},
		{"empty value", admin, "PUT", "/v1/tenants/acme/secrets/db", towerapi.SecretSet{}, enrollapi.CodeBadRequest, 0},
		{"bad selector", admin, "PUT", "/v1/tenants/acme/secrets/db", towerapi.SecretSet{Value: []byte("x"), Selector: map[string]string{"a b": "c"}}, enrollapi.CodeBadRequest, 0},
		{"no such tenant", op, "PUT", "/v1/tenants/nobody/secrets/db", set("x"), enrollapi.CodeNotFound, 0},
		{"reader reads the newest", reader, "GET", "/v1/tenants/acme/secrets/db", nil, "", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var raw json.RawMessage
			err := tc.c.Do(ctx, tc.method, tc.path, tc.body, &raw)
			if tc.code != "" {
				wantRefused(t, tw, err, tc.code)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			noPlaintext(t, "the answer", string(raw))
			var got towerapi.Secret
			if err := json.Unmarshal(raw, &got); err != nil || got.Version != tc.version || got.Name != "db" {
				t.Errorf("got %s, %v; want db version %d", raw, err, tc.version)
			}
		})
	}
	var l json.RawMessage
	if err := reader.Do(ctx, "GET", "/v1/tenants/acme/secrets", nil, &l); err != nil {
		t.Fatal(err)
	}
	noPlaintext(t, "the list", string(l))
	if !strings.Contains(string(l), `"version": 2`) {
		t.Errorf("list %s: want db at version 2", l)
	}

	// Before a site's vault key is known it gets no secrets and no key
	// ID (so it deletes none of its own).
	if d := north.desired(t, ""); len(d.Secrets) != 0 || d.SiteKeyID != "" {
		t.Errorf("before the vault key: secrets %v key %q; want none", d.Secrets, d.SiteKeyID)
	}
	_, err := towertest.Post(ctx, north.hc, tw.URL+enrollapi.PathStatus, enrollapi.StatusReport{VaultKey: []byte("short")}, nil)
	wantRefused(t, tw, err, enrollapi.CodeBadRequest)

	// A held long-poll wakes when the site reports its vault key.
	rev := north.desired(t, "").Revision
	got := make(chan enrollapi.Desired, 1)
	go func() { d, _ := north.fetchDesired(rev); got <- d }()
	time.Sleep(200 * time.Millisecond)
	keys := map[*site]*ecdh.PrivateKey{}
	for _, s := range []*site{north, south, otherNorth} {
		k, _ := secretapi.NewKey()
		keys[s] = k
		if _, err := towertest.Post(ctx, s.hc, tw.URL+enrollapi.PathStatus, enrollapi.StatusReport{VaultKey: k.PublicKey().Bytes()}, nil); err != nil {
			t.Fatal(err)
		}
	}
	var d enrollapi.Desired
	select {
	case d = <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("the long-poll did not wake on the vault key")
	}
	if d.SiteKeyID != secretapi.KeyID(keys[north].PublicKey().Bytes()) || len(d.Secrets) != 1 {
		t.Fatalf("north after its key: %+v; want db sealed to its key", d)
	}
	e := d.Secrets[0]
	if p, err := secretapi.Open(keys[north], north.id, e); err != nil || string(p) != plainV2 || e.Version != 2 {
		t.Errorf("north opens %+v: %q, %v; want version 2, %q", e, p, err, plainV2)
	}
	// Only north's vault opens it: not south's key, not with south's ID.
	if _, err := secretapi.Open(keys[south], south.id, e); !errors.Is(err, secretapi.ErrOpen) {
		t.Errorf("south opens north's envelope: %v", err)
	}
	if _, err := secretapi.Open(keys[north], south.id, e); !errors.Is(err, secretapi.ErrOpen) {
		t.Errorf("north's envelope opens for another site ID: %v", err)
	}
	// Sealing again gives another envelope but the same revision.
	if again := north.desired(t, ""); again.Revision != d.Revision {
		t.Errorf("revision %q then %q for the same secrets", d.Revision, again.Revision)
	}
	for _, tc := range []struct {
		name string
		s    *site
	}{{"a site outside the selector", south}, {"another tenant's site inside it", otherNorth}} {
		if d := tc.s.desired(t, ""); len(d.Secrets) != 0 || d.SiteKeyID == "" {
			t.Errorf("%s: secrets %+v key %q; want none, with its key ID", tc.name, d.Secrets, d.SiteKeyID)
		}
	}
	noPlaintext(t, "north's desired state", rawDesired(t, north))

	// Deleted at the tower: gone from the site's desired state.
	rev = north.desired(t, "").Revision
	go func() { d, _ := north.fetchDesired(rev); got <- d }()
	time.Sleep(200 * time.Millisecond)
	if err := admin.Do(ctx, "DELETE", "/v1/tenants/acme/secrets/db", nil, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case d = <-got:
		if len(d.Secrets) != 0 || d.SiteKeyID == "" {
			t.Errorf("after the delete: key %q, secrets %+v; want none, with the key ID", d.SiteKeyID, d.Secrets)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the long-poll did not wake on the delete")
	}
	noPlaintext(t, "the tower's log", tw.Log.String())
}

// noPlaintext fails when s holds a test plaintext, raw or base64.
func noPlaintext(t *testing.T, what, s string) {
	t.Helper()
	for _, p := range []string{plainV1, plainV2} {
		if strings.Contains(s, p) || strings.Contains(s, base64.StdEncoding.EncodeToString([]byte(p))) {
			t.Errorf("%s holds the plaintext %q", what, p)
		}
	}
}

// rawDesired is the body of the site's desired state.
func rawDesired(t *testing.T, s *site) string {
	t.Helper()
	resp, err := s.hc.Get(s.tw.URL + enrollapi.PathDesired)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("desired: %s: %s", resp.Status, b)
	}
	return string(b)
}
