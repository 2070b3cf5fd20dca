package tower

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
)

// Prefixes of the secrets the tower hands out, so that a leaked one is
// recognised for what it is (and by secret scanners).
const (
	prefixOperator = "skop_"
	prefixEnroll   = "sken_"
)

// newSecret returns a random secret with prefix, its SHA-256 and its ID.
func newSecret(prefix string) (secret string, hash []byte, id string) {
	b := make([]byte, 32)
	rand.Read(b)
	secret = prefix + base64.RawURLEncoding.EncodeToString(b)
	hash, id = hashSecret(secret)
	return secret, hash, id
}

// hashSecret returns the stored hash of a secret and the record ID it is
// kept under: the first 8 bytes of the hash, hex. The tower stores no
// secret, so a copy of its database cannot enroll a box or log in.
func hashSecret(secret string) ([]byte, string) {
	h := sha256.Sum256([]byte(secret))
	return h[:], hex.EncodeToString(h[:8])
}

// sameHash compares in constant time, so response timing does not leak
// how much of a guessed token's hash matched.
func sameHash(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }

// newID returns a random ID: prefix and 16 hex digits.
func newID(prefix string) string {
	b := make([]byte, 8)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}
