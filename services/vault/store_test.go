package vault

import (
	"bytes"
	"crypto/rand"
	"errors"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/skerry/skerry/services/api/vaultapi"
)

func newMaster() []byte {
	k := make([]byte, 32)
	rand.Read(k)
	return k
}

func openStore(t *testing.T, path string, master []byte, gen int) *Store {
	t.Helper()
	s, err := OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Unlock(master, gen); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSecretsVersionedAndRotated(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vault.db")
	m1 := newMaster()
	s := openStore(t, path, m1, 1)
	for i, v := range []string{"one", "two", "three"} {
		got, err := s.PutSecret("acme", "db", []byte(v))
		if err != nil || got.Version != i+1 {
			t.Fatalf("PutSecret %d: got %+v, %v", i, got, err)
		}
	}
	if _, err := s.PutSecret("acme", "api", []byte("k")); err != nil {
		t.Fatal(err)
	}
	ct, err := s.CreateKey("acme", "pii", vaultapi.KeyAES256GCM)
	if err != nil || ct.Latest != 1 {
		t.Fatalf("CreateKey: %+v, %v", ct, err)
	}
	enc, err := s.Encrypt("acme", "pii", []byte("4111"), []byte("ctx"))
	if err != nil {
		t.Fatal(err)
	}

	// Rotate the data key, then the master key; reopen under the new
	// master: every version still reads, and the old master is refused.
	if v, err := s.RotateDataKey("acme"); err != nil || v != 2 {
		t.Fatalf("RotateDataKey: %d, %v", v, err)
	}
	m2 := newMaster()
	if err := s.RotateMaster(m2, 2); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s2, _ := OpenStore(path); s2 != nil {
		if err := s2.Unlock(m1, 1); !errors.Is(err, ErrWrongMaster) {
			t.Errorf("Unlock with the old master: got %v, want ErrWrongMaster", err)
		}
		s2.Close()
	}
	s = openStore(t, path, m2, 2)
	for v, want := range []string{"", "one", "two", "three"} {
		if v == 0 {
			want = "three" // version 0 is the latest
		}
		got, err := s.Secret("acme", "db", v)
		if err != nil || string(got.Value) != want {
			t.Errorf("Secret(db, %d): got %q, %v, want %q", v, got.Value, err, want)
		}
	}
	list, err := s.Secrets("acme")
	if diff := cmp.Diff([]vaultapi.SecretInfo{{Name: "api", Latest: 1}, {Name: "db", Latest: 3}}, list); err != nil || diff != "" {
		t.Errorf("Secrets (-want +got): %v\n%s", err, diff)
	}
	if p, err := s.Decrypt("acme", "pii", enc.Ciphertext, []byte("ctx")); err != nil || string(p.Plaintext) != "4111" {
		t.Errorf("Decrypt after both rotations: %q, %v", p.Plaintext, err)
	}
}

func TestKeyRotationAndRewrap(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "vault.db"), newMaster(), 1)
	if _, err := s.CreateKey("acme", "k", vaultapi.KeyAES256GCM); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateKey("acme", "k", vaultapi.KeyAES256GCM); !errors.Is(err, ErrExists) {
		t.Errorf("CreateKey twice: got %v, want ErrExists", err)
	}
	old, _ := s.Encrypt("acme", "k", []byte("hello"), nil)
	if _, err := s.RotateKey("acme", "k"); err != nil {
		t.Fatal(err)
	}
	re, err := s.Rewrap("acme", "k", old.Ciphertext, nil)
	if err != nil || re.Version != 2 || old.Version != 1 {
		t.Fatalf("Rewrap: %+v, %v (old version %d)", re, err, old.Version)
	}
	for _, ct := range []string{old.Ciphertext, re.Ciphertext} {
		if p, err := s.Decrypt("acme", "k", ct, nil); err != nil || string(p.Plaintext) != "hello" {
			t.Errorf("Decrypt(%s): %q, %v", ct[:9], p.Plaintext, err)
		}
	}
	if _, err := s.Decrypt("acme", "k", old.Ciphertext, []byte("other context")); !errors.Is(err, ErrDecrypt) {
		t.Errorf("Decrypt with another context: got %v, want ErrDecrypt", err)
	}
	if _, err := s.Sign("acme", "k", []byte("m")); !errors.Is(err, ErrWrongKeyType) {
		t.Errorf("Sign with an AES key: got %v, want ErrWrongKeyType", err)
	}
}

func TestSignFPEMask(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "vault.db"), newMaster(), 1)
	for _, typ := range []string{vaultapi.KeyEd25519, vaultapi.KeyECDSAP256} {
		k, err := s.CreateKey("acme", typ, typ)
		if err != nil || len(k.Public) != 1 {
			t.Fatalf("CreateKey %s: %+v, %v", typ, k, err)
		}
		sig, err := s.Sign("acme", typ, []byte("message"))
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			msg  string
			want bool
		}{{"message", true}, {"massage", false}} {
			if ok, err := s.Verify("acme", typ, []byte(tc.msg), sig.Signature, sig.Version); err != nil || ok != tc.want {
				t.Errorf("%s: Verify(%q): %v, %v, want %v", typ, tc.msg, ok, err, tc.want)
			}
		}
	}
	if _, err := s.CreateKey("acme", "cards", vaultapi.KeyFF1); err != nil {
		t.Fatal(err)
	}
	enc, err := s.FPE("acme", "cards", vaultapi.FPE{Value: "4111111111111111"}, true)
	if err != nil || len(enc.Value) != 16 || enc.Value == "4111111111111111" {
		t.Fatalf("FPE encrypt: %+v, %v", enc, err)
	}
	dec, err := s.FPE("acme", "cards", vaultapi.FPE{Value: enc.Value, Version: enc.Version}, false)
	if err != nil || dec.Value != "4111111111111111" {
		t.Errorf("FPE decrypt: %+v, %v", dec, err)
	}
	for _, tc := range []struct {
		req  vaultapi.Mask
		want string
	}{
		{vaultapi.Mask{Value: "4111111111111111", Mode: "keep", First: 4, Last: 4}, "4111********1111"},
		{vaultapi.Mask{Value: "abc", Mode: "keep", First: 5}, "abc"},
		{vaultapi.Mask{Value: "secret", Mode: "redact"}, "[redacted]"},
	} {
		if got, err := s.Mask("acme", tc.req); err != nil || got != tc.want {
			t.Errorf("Mask(%+v): %q, %v, want %q", tc.req, got, err, tc.want)
		}
	}
	h1, _ := s.Mask("acme", vaultapi.Mask{Value: "x", Mode: "hash"})
	h2, _ := s.Mask("acme", vaultapi.Mask{Value: "x", Mode: "hash"})
	hb, _ := s.Mask("beta", vaultapi.Mask{Value: "x", Mode: "hash"})
	if h1 != h2 || h1 == hb || len(h1) != 64 {
		t.Errorf("hash masks: acme %s, %s; beta %s: want equal for one tenant, different across", h1, h2, hb)
	}
	keys, _ := s.Keys("acme")
	if len(keys) != 3 {
		t.Errorf("Keys: %d, want 3 (the mask key is not listed)", len(keys))
	}
}

func TestTenantIsolation(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "vault.db"), newMaster(), 1)
	s.PutSecret("beta", "db", []byte("b's"))
	s.CreateKey("beta", "k", vaultapi.KeyAES256GCM)
	s.CreateKey("acme", "k", vaultapi.KeyAES256GCM)
	ct, _ := s.Encrypt("beta", "k", []byte("b's"), nil)
	if _, err := s.Secret("acme", "db", 0); !errors.Is(err, ErrNotFound) {
		t.Errorf("acme reads beta's secret name: got %v, want ErrNotFound", err)
	}
	if l, _ := s.Secrets("acme"); len(l) != 0 {
		t.Errorf("acme lists %v", l)
	}
	if _, err := s.Decrypt("acme", "k", ct.Ciphertext, nil); !errors.Is(err, ErrDecrypt) {
		t.Errorf("acme decrypts beta's ciphertext with its own key k: got %v, want ErrDecrypt", err)
	}
	if got, err := s.Secret("beta", "db", 0); err != nil || !bytes.Equal(got.Value, []byte("b's")) {
		t.Errorf("beta's own secret: %q, %v", got.Value, err)
	}
}

func TestSealedRefuses(t *testing.T) {
	s, err := OpenStore(filepath.Join(t.TempDir(), "vault.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.PutSecret("acme", "db", []byte("x")); !errors.Is(err, ErrSealed) {
		t.Errorf("PutSecret while sealed: got %v, want ErrSealed", err)
	}
}
