package tower_test

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skerry/skerry/services/api/enrollapi"
	"github.com/skerry/skerry/services/api/secretapi"
	"github.com/skerry/skerry/services/api/towerapi"
	"github.com/skerry/skerry/services/tower"
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

// TestSecretKeyRotation: rotating the tower's secrets.key seals every
// stored secret under the new key and loses none, across a restart; a
// rotation stopped before or after its transaction is finished at the
// next start; a half-written next key and a secret that opens with no
// key are refused by name, and nothing stored is lost.
func TestSecretKeyRotation(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	keyFile, nextFile := filepath.Join(dir, "secrets.key"), filepath.Join(dir, "secrets.key.next")
	open := func() *tower.Opened {
		t.Helper()
		o, err := tower.Open(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	key := func() []byte {
		t.Helper()
		k, err := os.ReadFile(keyFile)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	randKey := func() []byte {
		k := make([]byte, 32)
		rand.Read(k)
		return k
	}
	want := map[[2]string]string{{"acme", "db"}: plainV1, {"other", "api"}: plainV2}
	opens := func(o *tower.Opened, when string) {
		t.Helper()
		for k, v := range want {
			if got, err := o.OpenStoredSecret(ctx, k[0], k[1]); err != nil || got != v {
				t.Errorf("%s: %s/%s opens to %q, %v; want its value", when, k[0], k[1], got, err)
			}
		}
		if _, err := os.Stat(nextFile); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: %s is still there: %v", when, nextFile, err)
		}
	}
	sealedWith := func(o *tower.Opened, k []byte, when string) {
		t.Helper()
		for s := range want {
			if !o.SealedWith(ctx, s[0], s[1], k) {
				t.Errorf("%s: %s/%s is not sealed under the key in secrets.key", when, s[0], s[1])
			}
		}
	}

	o := open()
	for k, v := range want {
		if err := o.PutStoredSecret(ctx, k[0], k[1], v, nil); err != nil {
			t.Fatal(err)
		}
	}
	k1 := key()
	res, err := o.RotateSecretKey(ctx)
	if err != nil || res.Resealed != 2 || res.KeyID == "" {
		t.Fatalf("rotate: %+v, %v; want 2 secrets sealed again and the new key's ID", res, err)
	}
	k2 := key()
	if bytes.Equal(k1, k2) {
		t.Fatal("secrets.key did not change")
	}
	opens(o, "after the rotation")
	sealedWith(o, k2, "after the rotation")
	if o.SealedWith(ctx, "acme", "db", k1) {
		t.Error("acme/db still opens with the old key")
	}
	o.Close()
	o = open()
	opens(o, "after a restart")
	o.Close()

	// Stopped after writing the next key, before its transaction.
	k3 := randKey()
	if err := os.WriteFile(nextFile, k3, 0o600); err != nil {
		t.Fatal(err)
	}
	o = open()
	if !bytes.Equal(key(), k3) {
		t.Error("a rotation stopped before its transaction: the next start did not make its key the key")
	}
	opens(o, "a rotation stopped before its transaction, finished at start")
	sealedWith(o, k3, "a rotation stopped before its transaction, finished at start")

	// Stopped after its transaction, before the rename.
	k4 := randKey()
	for k, v := range want {
		if err := o.PutStoredSecret(ctx, k[0], k[1], v, k4); err != nil {
			t.Fatal(err)
		}
	}
	o.Close()
	if err := os.WriteFile(nextFile, k4, 0o600); err != nil {
		t.Fatal(err)
	}
	o = open()
	if !bytes.Equal(key(), k4) {
		t.Error("a rotation stopped after its transaction: the next start did not make its key the key")
	}
	opens(o, "a rotation stopped after its transaction, finished at start")
	o.Close()

	// A half-written next key is refused by name; secrets.key stays.
	if err := os.WriteFile(nextFile, []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := tower.Open(ctx, dir); err == nil || !strings.Contains(err.Error(), "secrets.key.next") {
		t.Errorf("open with a 5-byte next key: %v; want an error naming it", err)
	}
	if !bytes.Equal(key(), k4) {
		t.Error("a refused next key changed secrets.key")
	}
	os.Remove(nextFile)
	o = open()
	defer func() { o.Close() }()
	opens(o, "after the refused next key was removed")

	// A secret that opens with no key stops the rotation, named; both keys
	// stay until it is set again, then a rotation finishes.
	if err := o.PutStoredSecret(ctx, "acme", "lost", "x", randKey()); err != nil {
		t.Fatal(err)
	}
	if _, err := o.RotateSecretKey(ctx); err == nil || !strings.Contains(err.Error(), "acme/lost") {
		t.Fatalf("rotate with a secret no key opens: %v; want an error naming acme/lost", err)
	}
	if !bytes.Equal(key(), k4) {
		t.Error("a failed rotation changed secrets.key")
	}
	for k, v := range want {
		if got, err := o.OpenStoredSecret(ctx, k[0], k[1]); err != nil || got != v {
			t.Errorf("after the failed rotation: %s/%s opens to %q, %v", k[0], k[1], got, err)
		}
	}
	if err := o.PutStoredSecret(ctx, "acme", "lost", "again", nil); err != nil {
		t.Fatal(err)
	}
	if res, err := o.RotateSecretKey(ctx); err != nil || res.Resealed != 2 {
		t.Fatalf("rotate after setting acme/lost again: %+v, %v; want the 2 others sealed again", res, err)
	}
	want[[2]string{"acme", "lost"}] = "again"
	opens(o, "after the finished rotation")
	o.Close()
	o = open()
	opens(o, "after the finished rotation and a restart")
}

// TestSecretKeyRotationAPI: POST /v1/secret-key/rotate is an operator's;
// a site's secrets still reach it after one.
func TestSecretKeyRotationAPI(t *testing.T) {
	tw := towertest.Start(t)
	op := tw.Client(t, "")
	ctx := context.Background()
	mustTenant(t, op, "acme", true)
	admin := tw.Client(t, newToken(t, op, "tenant-admin", "acme"))
	north := enrollSite(t, tw, op, "acme", nil)
	k, _ := secretapi.NewKey()
	if _, err := towertest.Post(ctx, north.hc, tw.URL+enrollapi.PathStatus, enrollapi.StatusReport{VaultKey: k.PublicKey().Bytes()}, nil); err != nil {
		t.Fatal(err)
	}
	if err := admin.Do(ctx, "PUT", "/v1/tenants/acme/secrets/db", towerapi.SecretSet{Value: []byte(plainV1)}, nil); err != nil {
		t.Fatal(err)
	}
	wantRefused(t, tw, admin.Do(ctx, "POST", "/v1/secret-key/rotate", nil, nil), enrollapi.CodeForbidden)
	var res towerapi.SecretKeyRotated
	if err := op.Do(ctx, "POST", "/v1/secret-key/rotate", nil, &res); err != nil || res.Resealed != 1 || res.KeyID == "" {
		t.Fatalf("rotate: %+v, %v; want 1 secret sealed again", res, err)
	}
	d := north.desired(t, "")
	if len(d.Secrets) != 1 {
		t.Fatalf("after the rotation north gets %+v; want acme/db", d.Secrets)
	}
	if p, err := secretapi.Open(k, north.id, d.Secrets[0]); err != nil || string(p) != plainV1 {
		t.Errorf("after the rotation acme/db opens to %q, %v", p, err)
	}
	noPlaintext(t, "the tower's log", tw.Log.String())
}
