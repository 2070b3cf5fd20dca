package vault

import (
	"crypto/ecdh"
	"crypto/hpke"
	"crypto/rand"
	"testing"

	"github.com/skerry/skerry/qemu/swtpm"
	"github.com/skerry/skerry/services/api/enrollapi"
	"github.com/skerry/skerry/services/api/vaultapi"
	"github.com/skerry/skerry/services/httpjson"
	"github.com/skerry/skerry/services/vault/client"
)

// TestRemoteUnseal escrows the master key to a tower key, changes a PCR,
// and gives the escrowed key back: a wrong key is refused, the right one
// unseals, and the vault reseals so the next start unseals on its own.
func TestRemoteUnseal(t *testing.T) {
	p := swtpm.New(t, swtpm.Options{})
	dir := t.TempDir()
	b := start(t, dir, p, nil)
	ctx := t.Context()
	tok, _ := b.sys.NewToken(ctx, "acme")
	if _, err := client.New(b.sock, tok).PutSecret(ctx, "db", []byte("hunter2")); err != nil {
		t.Fatal(err)
	}
	towerKey, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	esc, err := b.sys.Escrow(ctx, "site-1", towerKey.PublicKey().Bytes())
	if err != nil || esc.Generation != 1 {
		t.Fatalf("escrow: %+v, %v", esc, err)
	}
	priv, err := hpke.NewDHKEMPrivateKey(towerKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hpke.Open(priv, hpke.HKDFSHA256(), hpke.AES256GCM(), enrollapi.VaultEscrowInfo("site-2"), esc.Blob); err == nil {
		t.Error("the escrow blob of site-1 opened as site-2's")
	}
	key, err := hpke.Open(priv, hpke.HKDFSHA256(), hpke.AES256GCM(), enrollapi.VaultEscrowInfo("site-1"), esc.Blob)
	if err != nil || len(key) != 32 {
		t.Fatalf("open escrow blob: %d bytes, %v", len(key), err)
	}
	noLeftovers(t, p)
	b.stop()

	extendPCR(t, p, 12)
	b = start(t, dir, p, nil)
	if st, _ := b.sys.Status(ctx); st.State != vaultapi.StateSealed {
		t.Fatalf("after extending PCR 12: %+v, want sealed", st)
	}
	_, err = b.sys.Escrow(ctx, "site-1", towerKey.PublicKey().Bytes())
	wantCode(t, "escrow while sealed", err, vaultapi.ErrSealed)
	wrong := make([]byte, 32)
	rand.Read(wrong)
	_, err = b.sys.RemoteUnseal(ctx, wrong)
	wantCode(t, "remote unseal with a wrong key", err, &httpjson.Error{Code: vaultapi.CodeWrongKey})
	_, err = client.New(b.sock, tok).RemoteUnseal(ctx, key)
	wantCode(t, "remote unseal with a tenant token", err, httpjson.ErrForbidden)

	st, err := b.sys.RemoteUnseal(ctx, key)
	if err != nil || st.State != vaultapi.StateUnsealed {
		t.Fatalf("remote unseal: %+v, %v", st, err)
	}
	if s, err := client.New(b.sock, tok).Secret(ctx, "db", 0); err != nil || string(s.Value) != "hunter2" {
		t.Fatalf("secret after remote unseal: %q, %v", s.Value, err)
	}
	noLeftovers(t, p)
	b.stop()

	// Resealed to the current PCRs: the next start needs nobody.
	b = start(t, dir, p, nil)
	if st, _ := b.sys.Status(ctx); st.State != vaultapi.StateUnsealed || st.MasterGeneration != 1 {
		t.Fatalf("start after the remote unseal: %+v, want unsealed, generation 1 (the escrow stays valid)", st)
	}
	if s, err := client.New(b.sock, tok).Secret(ctx, "db", 0); err != nil || string(s.Value) != "hunter2" {
		t.Fatalf("secret after restart: %q, %v", s.Value, err)
	}
}
