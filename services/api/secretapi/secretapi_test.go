package secretapi

import (
	"bytes"
	"crypto/ecdh"
	"errors"
	"testing"
)

func TestSealOpen(t *testing.T) {
	site, other := mustKey(t), mustKey(t)
	e := Envelope{Tenant: "acme", Name: "db", Version: 3}
	sealed, err := Seal(site.PublicKey().Bytes(), "site-x", e, []byte("hunter2"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed.Sealed, []byte("hunter2")) {
		t.Fatal("the plaintext is in the envelope")
	}
	if p, err := Open(site, "site-x", sealed); err != nil || string(p) != "hunter2" {
		t.Fatalf("open: got %q, %v; want hunter2", p, err)
	}
	tampered := sealed
	tampered.Sealed = bytes.Clone(sealed.Sealed)
	tampered.Sealed[len(tampered.Sealed)-1] ^= 1
	moved := func(f func(*Envelope)) Envelope { m := sealed; f(&m); return m }
	for _, c := range []struct {
		what string
		key  bool
		site string
		e    Envelope
	}{
		{"another site's key", true, "site-x", sealed},
		{"another site ID", false, "site-y", sealed},
		{"another tenant", false, "site-x", moved(func(e *Envelope) { e.Tenant = "evil" })},
		{"another name", false, "site-x", moved(func(e *Envelope) { e.Name = "api" })},
		{"another version", false, "site-x", moved(func(e *Envelope) { e.Version = 4 })},
		{"a flipped byte", false, "site-x", tampered},
		{"truncated", false, "site-x", moved(func(e *Envelope) { e.Sealed = e.Sealed[:10] })},
	} {
		k := site
		if c.key {
			k = other
		}
		if p, err := Open(k, c.site, c.e); !errors.Is(err, ErrOpen) {
			t.Errorf("%s: got %q, %v; want ErrOpen", c.what, p, err)
		}
	}
	if _, err := Seal([]byte("short"), "site-x", e, nil); !errors.Is(err, ErrKey) {
		t.Errorf("seal to a bad key: got %v, want ErrKey", err)
	}
}

func mustKey(t *testing.T) *ecdh.PrivateKey {
	t.Helper()
	k, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}
