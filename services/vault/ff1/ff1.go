// Package ff1 is format-preserving encryption with FF1 (NIST SP 800-38G),
// written on crypto/aes: a string of symbols from an alphabet encrypts to a
// string of the same length over the same alphabet, so a 16-digit card
// number stays a 16-digit number. FF3 is not offered: NIST withdrew it.
package ff1

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"unicode/utf8"
)

// Errors, for errors.Is.
var (
	// ErrAlphabet is returned by New for an alphabet with fewer than 2 or
	// more than 65536 symbols, or a symbol twice.
	ErrAlphabet = errors.New("bad FF1 alphabet")
	// ErrLength is returned for input shorter than the domain allows
	// (radix^len must be at least a million, SP 800-38G Rev. 1) or longer
	// than MaxLen.
	ErrLength = errors.New("bad FF1 input length")
	// ErrSymbol is returned for input with a symbol not in the alphabet.
	ErrSymbol = errors.New("symbol not in the FF1 alphabet")
)

// MaxLen bounds the input length. The standard allows 2^32 symbols; the
// vault's inputs are card numbers and identifiers, and the bound keeps one
// request's work small.
const MaxLen = 4096

// minDomain is the smallest domain size SP 800-38G Rev. 1 allows.
const minDomain = 1_000_000

// Cipher is FF1 under one AES key over one alphabet. It is safe for
// concurrent use.
type Cipher struct {
	block    cipher.Block
	alphabet []rune
	index    map[rune]uint16
	radix    int
	minLen   int
}

// New returns FF1 with an AES key (16, 24 or 32 bytes) over alphabet, whose
// symbols are the numerals 0, 1, ... in order ("0123456789" is radix 10).
func New(key []byte, alphabet string) (*Cipher, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("ff1: %w", err)
	}
	syms := []rune(alphabet)
	if len(syms) < 2 || len(syms) > 1<<16 {
		return nil, fmt.Errorf("%w: %d symbols; use 2 to 65536", ErrAlphabet, len(syms))
	}
	c := &Cipher{block: block, alphabet: syms, index: make(map[rune]uint16, len(syms)), radix: len(syms)}
	for i, r := range syms {
		if _, dup := c.index[r]; dup || r == utf8.RuneError {
			return nil, fmt.Errorf("%w: symbol %q appears twice or is invalid", ErrAlphabet, r)
		}
		c.index[r] = uint16(i)
	}
	for d := 1; d < minDomain; d *= c.radix {
		c.minLen++
	}
	c.minLen = max(c.minLen, 2)
	return c, nil
}

// MinLen is the shortest input this alphabet allows.
func (c *Cipher) MinLen() int { return c.minLen }

// Encrypt encrypts s under tweak.
func (c *Cipher) Encrypt(tweak []byte, s string) (string, error) { return c.crypt(tweak, s, true) }

// Decrypt reverses Encrypt.
func (c *Cipher) Decrypt(tweak []byte, s string) (string, error) { return c.crypt(tweak, s, false) }

func (c *Cipher) crypt(tweak []byte, s string, enc bool) (string, error) {
	x := make([]uint16, 0, len(s))
	for _, r := range s {
		i, ok := c.index[r]
		if !ok {
			return "", fmt.Errorf("%w: %q", ErrSymbol, r)
		}
		x = append(x, i)
	}
	y, err := c.Numerals(tweak, x, enc)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, i := range y {
		b.WriteRune(c.alphabet[i])
	}
	return b.String(), nil
}

// Numerals runs FF1 on numerals (each below the radix): Algorithm 7
// (encrypt) or 8 (decrypt) of SP 800-38G.
func (c *Cipher) Numerals(tweak []byte, x []uint16, encrypt bool) ([]uint16, error) {
	n := len(x)
	if n < c.minLen || n > MaxLen {
		return nil, fmt.Errorf("%w: %d symbols; radix %d needs %d to %d", ErrLength, n, c.radix, c.minLen, MaxLen)
	}
	for _, d := range x {
		if int(d) >= c.radix {
			return nil, fmt.Errorf("%w: numeral %d, radix %d", ErrSymbol, d, c.radix)
		}
	}
	t := len(tweak)
	u := n / 2
	v := n - u
	radix := big.NewInt(int64(c.radix))
	// b = ceil(ceil(v·log2 radix)/8): the bytes of radix^v - 1.
	rv := new(big.Int).Exp(radix, big.NewInt(int64(v)), nil)
	ru := new(big.Int).Exp(radix, big.NewInt(int64(u)), nil)
	b := (new(big.Int).Sub(rv, big.NewInt(1)).BitLen() + 7) / 8
	d := 4*((b+3)/4) + 4

	// P, the first block, then Q: T, zero padding, the round, NUM(B).
	pad := ((-t-b-1)%16 + 16) % 16
	msg := make([]byte, 16+t+pad+1+b)
	copy(msg, []byte{1, 2, 1, byte(c.radix >> 16), byte(c.radix >> 8), byte(c.radix), 10, byte(u)})
	binary.BigEndian.PutUint32(msg[8:], uint32(n))
	binary.BigEndian.PutUint32(msg[12:], uint32(t))
	copy(msg[16:], tweak)
	roundAt, numAt := 16+t+pad, 16+t+pad+1

	A, B := num(x[:u], radix), num(x[u:], radix)
	if !encrypt {
		A, B = B, A // decryption walks the rounds back with the halves swapped
	}
	S := make([]byte, (d+15)/16*16)
	y, nb := new(big.Int), make([]byte, b)
	for r := range 10 {
		i := r
		if !encrypt {
			i = 9 - r
		}
		msg[roundAt] = byte(i)
		clear(nb)
		B.FillBytes(nb)
		copy(msg[numAt:], nb)
		c.prf(S, msg)
		y.SetBytes(S[:d])
		m := ru
		if i%2 == 1 {
			m = rv
		}
		if encrypt {
			A.Add(A, y)
		} else {
			A.Sub(A, y)
		}
		A.Mod(A, m)
		A, B = B, A
	}
	if !encrypt {
		A, B = B, A
	}
	out := make([]uint16, n)
	str(out[:u], A, radix)
	str(out[u:], B, radix)
	return out, nil
}

// prf fills S with R = CBC-MAC(msg) followed by CIPH(R ⊕ [j]^16) for
// j = 1, 2, ... (steps 6.ii and 6.iii).
func (c *Cipher) prf(S, msg []byte) {
	var r [16]byte
	for i := 0; i < len(msg); i += 16 {
		for j := range 16 {
			r[j] ^= msg[i+j]
		}
		c.block.Encrypt(r[:], r[:])
	}
	copy(S, r[:])
	for j := 1; j*16 < len(S); j++ {
		var blk [16]byte
		copy(blk[:], r[:])
		binary.BigEndian.PutUint64(blk[8:], binary.BigEndian.Uint64(r[8:])^uint64(j))
		c.block.Encrypt(S[j*16:], blk[:])
	}
}

// num is NUM_radix(x): the numerals as a number, most significant first.
func num(x []uint16, radix *big.Int) *big.Int {
	n := new(big.Int)
	d := new(big.Int)
	for _, v := range x {
		n.Mul(n, radix)
		n.Add(n, d.SetUint64(uint64(v)))
	}
	return n
}

// str is STR^m_radix(n): n as len(out) numerals.
func str(out []uint16, n *big.Int, radix *big.Int) {
	n = new(big.Int).Set(n)
	m := new(big.Int)
	for i := len(out) - 1; i >= 0; i-- {
		n.QuoRem(n, radix, m)
		out[i] = uint16(m.Uint64())
	}
}
