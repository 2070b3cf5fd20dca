package seal

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"github.com/skerry/skerry/qemu/swtpm"
	"github.com/skerry/skerry/services/internal/tpm"
)

// open connects to a test's swtpm; the connection closes with the test.
func open(t *testing.T, p *swtpm.Process) transport.TPMCloser {
	t.Helper()
	tp, err := tpm.OpenTransport(p.Path())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tp.Close() })
	return tp
}

// leftovers lists the objects and sessions left loaded in the TPM.
func leftovers(t *testing.T, tp transport.TPM) []tpm2.TPMHandle {
	t.Helper()
	hs, err := Loaded(tp)
	if err != nil {
		t.Fatal(err)
	}
	return hs
}

func extend(t *testing.T, tp transport.TPM, pcr int) {
	t.Helper()
	d := sha256.Sum256([]byte("a changed boot chain"))
	_, err := tpm2.PCRExtend{
		PCRHandle: tpm2.AuthHandle{Handle: tpm2.TPMHandle(pcr), Auth: tpm2.PasswordAuth(nil)},
		Digests:   tpm2.TPMLDigestValues{Digests: []tpm2.TPMTHA{{HashAlg: tpm2.TPMAlgSHA256, Digest: d[:]}}},
	}.Execute(tp)
	if err != nil {
		t.Fatalf("extend PCR %d: %v", pcr, err)
	}
}

func newKey(t *testing.T) []byte {
	k := make([]byte, 32)
	rand.Read(k)
	return k
}

func TestSealUnseal(t *testing.T) {
	p := swtpm.New(t, swtpm.Options{})
	tp := open(t, p)
	c := New(tp)
	key := newKey(t)
	b, err := c.Seal(key, DefaultPCRs)
	if err != nil {
		t.Fatal(err)
	}
	if got := leftovers(t, tp); len(got) != 0 {
		t.Errorf("after Seal: handles left in the TPM: %#x", got)
	}
	before := c.Commands()
	got, err := c.Unseal(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, key) {
		t.Errorf("Unseal: got %x, want %x", got, key)
	}
	t.Logf("unseal: %d TPM commands", c.Commands()-before)
	if got := leftovers(t, tp); len(got) != 0 {
		t.Errorf("after Unseal: handles left in the TPM: %#x", got)
	}
}

func TestRefusals(t *testing.T) {
	p := swtpm.New(t, swtpm.Options{})
	other := swtpm.New(t, swtpm.Options{})
	key := newKey(t)

	tp := open(t, p)
	c := New(tp)
	b, err := c.Seal(key, DefaultPCRs)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("another TPM", func(t *testing.T) {
		otp := open(t, other)
		_, err := New(otp).Unseal(b)
		if !errors.Is(err, ErrRefused) {
			t.Errorf("Unseal on another swtpm: got %v, want ErrRefused", err)
		}
		if got := leftovers(t, otp); len(got) != 0 {
			t.Errorf("handles left: %#x", got)
		}
		otp.Close()
	})
	t.Run("tampered private", func(t *testing.T) {
		bad := b
		bad.Private = bytes.Clone(b.Private)
		bad.Private[len(bad.Private)-5] ^= 1
		if _, err := c.Unseal(bad); !errors.Is(err, ErrRefused) {
			t.Errorf("Unseal of a tampered blob: got %v, want ErrRefused", err)
		}
	})
	t.Run("tampered public", func(t *testing.T) {
		bad := b
		bad.Public = bytes.Clone(b.Public)
		bad.Public[len(bad.Public)-3] ^= 1 // in the policy digest
		if _, err := c.Unseal(bad); !errors.Is(err, ErrRefused) {
			t.Errorf("Unseal of a blob with another policy: got %v, want ErrRefused", err)
		}
	})
	t.Run("PCR changed", func(t *testing.T) {
		extend(t, tp, 9)
		_, err := c.Unseal(b)
		var me *MismatchError
		if !errors.As(err, &me) || !errors.Is(err, ErrPCRMismatch) {
			t.Fatalf("Unseal after extending PCR 9: got %v, want a MismatchError", err)
		}
		if diff := cmp.Diff([]int{9}, me.Changed); diff != "" {
			t.Errorf("changed PCRs (-want +got):\n%s", diff)
		}
		// The file's values made to match the new PCRs: the TPM itself
		// must refuse, since the object's policy holds the old ones.
		now, err := c.Read([]int{9})
		if err != nil {
			t.Fatal(err)
		}
		lied := b
		lied.PCRs = append([]PCR(nil), b.PCRs...)
		for i := range lied.PCRs {
			if lied.PCRs[i].Index == 9 {
				lied.PCRs[i] = now[0]
			}
		}
		if _, err := c.Unseal(lied); !errors.Is(err, ErrRefused) {
			t.Errorf("Unseal with rewritten PCR values: got %v, want ErrRefused", err)
		}
	})
	if got := leftovers(t, tp); len(got) != 0 {
		t.Errorf("after the refusals: handles left in the TPM: %#x", got)
	}
}
