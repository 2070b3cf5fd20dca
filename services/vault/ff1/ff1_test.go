package ff1

import (
	"encoding/hex"
	"errors"
	"testing"
)

const (
	key128 = "2B7E151628AED2A6ABF7158809CF4F3C"
	key192 = key128 + "EF4359D8D580AA4F"
	key256 = key192 + "7F036D6F04FC6A94"
	tweak1 = "39383736353433323130"
	tweak2 = "3737373770717273373737"
	digits = "0123456789"
	base36 = "0123456789abcdefghijklmnopqrstuvwxyz"
)

// TestNISTSamples runs the FF1 samples 1-9 NIST published with SP 800-38G
// (csrc.nist.gov, "FF1samples.pdf").
func TestNISTSamples(t *testing.T) {
	for _, tc := range []struct {
		sample            int
		key, tweak, alpha string
		plain, ciphertext string
	}{
		{1, key128, "", digits, "0123456789", "2433477484"},
		{2, key128, tweak1, digits, "0123456789", "6124200773"},
		{3, key128, tweak2, base36, "0123456789abcdefghi", "a9tv40mll9kdu509eum"},
		{4, key192, "", digits, "0123456789", "2830668132"},
		{5, key192, tweak1, digits, "0123456789", "2496655549"},
		{6, key192, tweak2, base36, "0123456789abcdefghi", "xbj3kv35jrawxv32ysr"},
		{7, key256, "", digits, "0123456789", "6657667009"},
		{8, key256, tweak1, digits, "0123456789", "1001623463"},
		{9, key256, tweak2, base36, "0123456789abcdefghi", "xs8a0azh2avyalyzuwd"},
	} {
		key, _ := hex.DecodeString(tc.key)
		tweak, _ := hex.DecodeString(tc.tweak)
		c, err := New(key, tc.alpha)
		if err != nil {
			t.Fatalf("sample %d: %v", tc.sample, err)
		}
		got, err := c.Encrypt(tweak, tc.plain)
		if err != nil || got != tc.ciphertext {
			t.Errorf("sample %d: Encrypt: got %q, %v, want %q", tc.sample, got, err, tc.ciphertext)
		}
		back, err := c.Decrypt(tweak, tc.ciphertext)
		if err != nil || back != tc.plain {
			t.Errorf("sample %d: Decrypt: got %q, %v, want %q", tc.sample, back, err, tc.plain)
		}
	}
}

func TestRoundTripLengths(t *testing.T) {
	key := make([]byte, 32)
	c, err := New(key, digits)
	if err != nil {
		t.Fatal(err)
	}
	for n := c.MinLen(); n < 40; n++ {
		in := ""
		for i := range n {
			in += string(digits[(i*7+3)%10])
		}
		ct, err := c.Encrypt([]byte("t"), in)
		if err != nil {
			t.Fatalf("len %d: %v", n, err)
		}
		if len(ct) != n || ct == in {
			t.Errorf("len %d: Encrypt(%q) = %q", n, in, ct)
		}
		if pt, err := c.Decrypt([]byte("t"), ct); err != nil || pt != in {
			t.Errorf("len %d: Decrypt(%q) = %q, %v, want %q", n, ct, pt, err, in)
		}
	}
}

func TestRefusals(t *testing.T) {
	key := make([]byte, 16)
	if _, err := New(key, "0"); !errors.Is(err, ErrAlphabet) {
		t.Errorf("one-symbol alphabet: got %v, want ErrAlphabet", err)
	}
	if _, err := New(key, "00"); !errors.Is(err, ErrAlphabet) {
		t.Errorf("repeated symbol: got %v, want ErrAlphabet", err)
	}
	if _, err := New(key[:5], digits); err == nil {
		t.Error("5-byte key accepted")
	}
	c, _ := New(key, digits)
	if _, err := c.Encrypt(nil, "12345"); !errors.Is(err, ErrLength) {
		t.Errorf("5 digits (domain below a million): got %v, want ErrLength", err)
	}
	if _, err := c.Encrypt(nil, "12345a"); !errors.Is(err, ErrSymbol) {
		t.Errorf("letter in digits: got %v, want ErrSymbol", err)
	}
}

func BenchmarkEncrypt16Digits(b *testing.B) {
	c, _ := New(make([]byte, 32), digits)
	for b.Loop() {
		if _, err := c.Encrypt(nil, "4111111111111111"); err != nil {
			b.Fatal(err)
		}
	}
}
