package agent

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// testIdentity returns a software identity whose certificate is for its
// key and issued by its CA.
func testIdentity(t *testing.T) (*Identity, softKey) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	k, err := newSoftKey()
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "s-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, k.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := k.marshal()
	if err != nil {
		t.Fatal(err)
	}
	return &Identity{Version: IdentityVersion, Tower: "https://tower.test", SiteID: "s-test", Software: true,
		Key: kb, Certificate: der, CACertificate: caDER, EnrolledAt: time.Now().UTC().Truncate(time.Second)}, k
}

func TestIdentitySaveLoad(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadIdentity(dir); !errors.Is(err, ErrNoIdentity) {
		t.Fatalf("LoadIdentity of an empty home: got %v, want ErrNoIdentity", err)
	}
	id, k := testIdentity(t)
	if err := id.check(k); err != nil {
		t.Fatalf("check: %v", err)
	}
	if err := id.Save(dir); err != nil {
		t.Fatal(err)
	}
	got, err := LoadIdentity(dir)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(id, got); diff != "" {
		t.Errorf("LoadIdentity after Save (-want +got):\n%s", diff)
	}
	fi, err := os.Stat(filepath.Join(dir, IdentityFile))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fi.Mode().Perm(), os.FileMode(0o600); got != want {
		t.Errorf("identity file mode: got %v, want %v", got, want)
	}
	// Nothing but the identity is left in the directory.
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("home holds %d files after Save, want 1: %v", len(ents), ents)
	}
}

// TestIdentityPowerCut checks that a write cut short, which leaves a
// temporary file behind, neither replaces nor spoils the kept identity.
func TestIdentityPowerCut(t *testing.T) {
	dir := t.TempDir()
	id, _ := testIdentity(t)
	if err := id.Save(dir); err != nil {
		t.Fatal(err)
	}
	full, _ := os.ReadFile(filepath.Join(dir, IdentityFile))
	for _, n := range []int{0, 1, len(full) / 2, len(full) - 1} {
		if err := os.WriteFile(filepath.Join(dir, "."+IdentityFile+".tmp123"), full[:n], 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := LoadIdentity(dir)
		if err != nil {
			t.Fatalf("LoadIdentity with a %d-byte leftover: %v", n, err)
		}
		if diff := cmp.Diff(id, got); diff != "" {
			t.Errorf("LoadIdentity with a %d-byte leftover (-want +got):\n%s", n, diff)
		}
	}
}

func TestIdentityCorrupt(t *testing.T) {
	good, _ := testIdentity(t)
	encode := func(mod func(*Identity)) string {
		c := *good
		mod(&c)
		b, _ := json.Marshal(&c)
		return string(b)
	}
	full := encode(func(*Identity) {})
	for _, tc := range []struct {
		name, content, want string
	}{
		{name: "empty", content: "", want: "decode"},
		{name: "truncated", content: full[:len(full)/2], want: "decode"},
		{name: "not json", content: "\x00\x00\x00", want: "decode"},
		{name: "future version", content: encode(func(i *Identity) { i.Version = 9 }), want: "version 9"},
		{name: "no version", content: encode(func(i *Identity) { i.Version = 0 }), want: "version 0"},
		{name: "no site", content: encode(func(i *Identity) { i.SiteID = "" }), want: "no site ID"},
		{name: "no key", content: encode(func(i *Identity) { i.Key = nil }), want: "no key"},
		{name: "TPM without AK", content: encode(func(i *Identity) { i.Software = false }), want: "no attestation key"},
		{name: "bad certificate", content: encode(func(i *Identity) { i.Certificate = []byte("x") }), want: "site certificate"},
		{name: "bad CA", content: encode(func(i *Identity) { i.CACertificate = nil }), want: "CA certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, IdentityFile), []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := LoadIdentity(dir)
			if !errors.Is(err, ErrIdentityCorrupt) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("LoadIdentity: got %v, want ErrIdentityCorrupt saying %q", err, tc.want)
			}
		})
	}
}

func TestIdentityCheck(t *testing.T) {
	id, k := testIdentity(t)
	other, _ := testIdentity(t)
	otherKey, _ := newSoftKey()
	for _, tc := range []struct {
		name string
		mod  func(*Identity)
		key  siteKey
		want string
	}{
		{name: "good", mod: func(*Identity) {}, key: k},
		{name: "another key", mod: func(*Identity) {}, key: otherKey, want: "not for the kept key"},
		{name: "another CA", mod: func(i *Identity) { i.CACertificate = other.CACertificate }, key: k, want: "not issued by the CA"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := *id
			tc.mod(&c)
			err := c.check(tc.key)
			if got := errString(err); !strings.Contains(got, tc.want) || (tc.want == "") != (err == nil) {
				t.Errorf("check: got %v, want %q", err, tc.want)
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func FuzzParseIdentity(f *testing.F) {
	f.Add([]byte(`{"version":1,"tower":"https://t","siteId":"s","software":true,"key":"AA==","certificate":"AA==","caCertificate":"AA=="}`))
	f.Add([]byte(`{"version":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		id, err := parseIdentity(data)
		if err != nil {
			return
		}
		// Whatever parses has what Run relies on.
		if id.SiteID == "" || len(id.Key) == 0 {
			t.Fatalf("parsed an identity without site or key: %+v", id)
		}
	})
}
