package vault

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"go.etcd.io/bbolt"
)

// Store keeps tenants' secrets and keys in bbolt, envelope-encrypted: each
// tenant has a data key (DK), wrapped by the master key; each secret
// version and each key version's material is sealed with AES-256-GCM under
// its tenant's DK, with its tenant, name and version as associated data, so
// a record moved to another place in the file does not open.
//
// Layout (buckets in capitals):
//
//	META     masterGen -> uint64, check -> GCM(master, "check")
//	TOKENS   sha256(token) -> tenant
//	TENANTS  <tenant> DK -> dataKey JSON
//	                  SECRETS <name> <version uint64> -> record JSON
//	                  KEYS    <name> meta -> keyMeta JSON, <version> -> record JSON
type Store struct {
	db *bbolt.DB

	mu     sync.RWMutex
	master cipher.AEAD // nil while sealed
	gen    int
	cmu    sync.Mutex     // guards cache apart from mu, which readers share
	cache  map[string]any // unwrapped DKs ("dk/t/v") and key material ("keys/t/n/v")
}

var (
	bMeta    = []byte("meta")
	bTokens  = []byte("tokens")
	bTenants = []byte("tenants")
	bSecrets = []byte("secrets")
	bKeys    = []byte("keys")
	kGen     = []byte("masterGen")
	kCheck   = []byte("check")
	kDK      = []byte("dk")
	kMeta    = []byte("meta")
)

const checkAAD = "skerry-vault master check"

// dataKey is a tenant's DK as stored: wrapped by the master key.
type dataKey struct {
	Version int    `json:"version"`
	Wrapped []byte `json:"wrapped"`
}

// record is one sealed secret version or key version.
type record struct {
	DK      int       `json:"dk"` // the DK version that sealed it
	Sealed  []byte    `json:"sealed"`
	Created time.Time `json:"created"`
	Public  []byte    `json:"public,omitempty"` // signing keys: PKIX public key
}

// OpenStore opens (creating) the store at path.
func OpenStore(path string) (*Store, error) {
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open vault store %s: %w", path, err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{bMeta, bTokens, bTenants} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open vault store %s: %w", path, err)
	}
	return &Store{db: db, cache: map[string]any{}}, nil
}

// Close closes the store and forgets the master key.
func (s *Store) Close() error {
	s.mu.Lock()
	s.master, s.cache = nil, map[string]any{}
	s.mu.Unlock()
	return s.db.Close()
}

// MasterGeneration is the generation of the master key that wraps the
// data keys, 0 for a new store.
func (s *Store) MasterGeneration() (int, error) {
	var g int
	err := s.db.View(func(tx *bbolt.Tx) error {
		if v := tx.Bucket(bMeta).Get(kGen); len(v) == 8 {
			g = int(binary.BigEndian.Uint64(v))
		}
		return nil
	})
	return g, err
}

// Unlock gives the store its master key of generation gen. A new store
// takes it; an existing one checks that it is the key that wrapped its
// data keys.
func (s *Store) Unlock(master []byte, gen int) error {
	aead, err := newGCM(master)
	if err != nil {
		return err
	}
	err = s.db.Update(func(tx *bbolt.Tx) error {
		meta := tx.Bucket(bMeta)
		check := meta.Get(kCheck)
		if check == nil {
			return putMaster(meta, aead, gen)
		}
		if _, err := openGCM(aead, check, checkAAD); err != nil {
			return ErrWrongMaster
		}
		if v := meta.Get(kGen); len(v) != 8 || int(binary.BigEndian.Uint64(v)) != gen {
			return fmt.Errorf("%w: the store is at generation %d, the key is %d", ErrWrongMaster, binary.BigEndian.Uint64(v), gen)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("unlock vault store: %w", err)
	}
	s.mu.Lock()
	s.master, s.gen = aead, gen
	s.mu.Unlock()
	return nil
}

func putMaster(meta *bbolt.Bucket, aead cipher.AEAD, gen int) error {
	check, err := sealGCM(aead, nil, checkAAD)
	if err != nil {
		return err
	}
	if err := meta.Put(kCheck, check); err != nil {
		return err
	}
	return meta.Put(kGen, binary.BigEndian.AppendUint64(nil, uint64(gen)))
}

// RotateMaster rewraps every tenant's data key under master, of
// generation gen, in one transaction: a crash leaves all of them under
// the old key or all under the new one.
func (s *Store) RotateMaster(master []byte, gen int) error {
	aead, err := newGCM(master)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.master == nil {
		return ErrSealed
	}
	err = s.db.Update(func(tx *bbolt.Tx) error {
		err := tx.Bucket(bTenants).ForEachBucket(func(name []byte) error {
			tb := tx.Bucket(bTenants).Bucket(name)
			var dk dataKey
			if err := json.Unmarshal(tb.Get(kDK), &dk); err != nil {
				return fmt.Errorf("tenant %s: data key: %w", name, err)
			}
			aad := dkAAD(string(name), dk.Version)
			plain, err := openGCM(s.master, dk.Wrapped, aad)
			if err != nil {
				return fmt.Errorf("tenant %s: unwrap data key: %w", name, err)
			}
			if dk.Wrapped, err = sealGCM(aead, plain, aad); err != nil {
				return err
			}
			return putJSON(tb, kDK, dk)
		})
		if err != nil {
			return err
		}
		return putMaster(tx.Bucket(bMeta), aead, gen)
	})
	if err != nil {
		return fmt.Errorf("rotate master key: %w", err)
	}
	s.master, s.gen = aead, gen
	return nil
}

// Unlocked reports whether the store has its master key.
func (s *Store) Unlocked() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.master != nil
}

func dkAAD(tenant string, v int) string { return fmt.Sprintf("dk/%s/%d", tenant, v) }

// tenantDK returns tenant's DK (creating it when create is set), from the
// cache or unwrapped. The caller holds s.mu (read or write).
func (s *Store) tenantDK(tx *bbolt.Tx, tenant string, create bool) (cipher.AEAD, int, error) {
	tb := tx.Bucket(bTenants).Bucket([]byte(tenant))
	if tb == nil {
		if !create {
			return nil, 0, ErrNotFound
		}
		var err error
		if tb, err = tx.Bucket(bTenants).CreateBucket([]byte(tenant)); err != nil {
			return nil, 0, err
		}
	}
	var dk dataKey
	raw := tb.Get(kDK)
	if raw == nil {
		if !create {
			return nil, 0, ErrNotFound
		}
		key := make([]byte, 32)
		rand.Read(key)
		wrapped, err := sealGCM(s.master, key, dkAAD(tenant, 1))
		if err != nil {
			return nil, 0, err
		}
		dk = dataKey{Version: 1, Wrapped: wrapped}
		if err := putJSON(tb, kDK, dk); err != nil {
			return nil, 0, err
		}
	} else if err := json.Unmarshal(raw, &dk); err != nil {
		return nil, 0, fmt.Errorf("tenant %s: data key: %w", tenant, err)
	}
	ck := fmt.Sprintf("dk/%s/%d", tenant, dk.Version)
	if a, ok := s.cached(ck); ok {
		return a.(cipher.AEAD), dk.Version, nil
	}
	key, err := openGCM(s.master, dk.Wrapped, dkAAD(tenant, dk.Version))
	if err != nil {
		return nil, 0, fmt.Errorf("tenant %s: unwrap data key: %w", tenant, err)
	}
	aead, err := newGCM(key)
	if err != nil {
		return nil, 0, err
	}
	s.remember(ck, aead)
	return aead, dk.Version, nil
}

func (s *Store) cached(k string) (any, bool) {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	v, ok := s.cache[k]
	return v, ok
}

func (s *Store) remember(k string, v any) {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	s.cache[k] = v
}

// RotateDataKey gives tenant a new data key and reseals every secret and
// key version of the tenant under it, in one transaction.
func (s *Store) RotateDataKey(tenant string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.master == nil {
		return 0, ErrSealed
	}
	var nv int
	err := s.db.Update(func(tx *bbolt.Tx) error {
		old, ov, err := s.tenantDK(tx, tenant, false)
		if err != nil {
			return err
		}
		key := make([]byte, 32)
		rand.Read(key)
		nv = ov + 1
		wrapped, err := sealGCM(s.master, key, dkAAD(tenant, nv))
		if err != nil {
			return err
		}
		fresh, _ := newGCM(key)
		tb := tx.Bucket(bTenants).Bucket([]byte(tenant))
		for _, kind := range [][]byte{bSecrets, bKeys} {
			kb := tb.Bucket(kind)
			if kb == nil {
				continue
			}
			err := kb.ForEachBucket(func(name []byte) error {
				nb := kb.Bucket(name)
				return nb.ForEach(func(k, v []byte) error {
					if len(k) != 8 {
						return nil // a key's meta
					}
					var r record
					if err := json.Unmarshal(v, &r); err != nil {
						return err
					}
					aad := recordAAD(string(kind), tenant, string(name), int(binary.BigEndian.Uint64(k)))
					plain, err := openGCM(old, r.Sealed, aad)
					if err != nil {
						return fmt.Errorf("%s %s: %w", kind, name, err)
					}
					if r.Sealed, err = sealGCM(fresh, plain, aad); err != nil {
						return err
					}
					r.DK = nv
					return putJSON(nb, k, r)
				})
			})
			if err != nil {
				return err
			}
		}
		return putJSON(tb, kDK, dataKey{Version: nv, Wrapped: wrapped})
	})
	if err != nil {
		return 0, fmt.Errorf("rotate data key of %s: %w", tenant, err)
	}
	return nv, nil
}

func recordAAD(kind, tenant, name string, v int) string {
	return fmt.Sprintf("%s/%s/%s/%d", kind, tenant, name, v)
}

// The name rules, checked by hand rather than by regular expressions
// compiled at package initialisation, which every process of the
// multi-call binary pays (docs/benchmarks.md, "Vault"):
// tenant ^[a-z0-9][a-z0-9_-]{0,31}$, name ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$.
func isLowerDigit(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }
func isAlnum(c byte) bool      { return isLowerDigit(c) || c >= 'A' && c <= 'Z' }

func validChars(s string, max int, first, rest func(byte) bool) bool {
	if len(s) == 0 || len(s) > max || !first(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !rest(s[i]) {
			return false
		}
	}
	return true
}

// ValidTenant checks a tenant name.
func ValidTenant(t string) error {
	if !validChars(t, 32, isLowerDigit, func(c byte) bool { return isLowerDigit(c) || c == '_' || c == '-' }) {
		return fmt.Errorf("%w: tenant %q: use 1-32 of a-z 0-9 _ - starting with a letter or digit", ErrInvalid, t)
	}
	return nil
}

func validName(kind, n string) error {
	if !validChars(n, 128, isAlnum, func(c byte) bool { return isAlnum(c) || c == '.' || c == '_' || c == '-' }) {
		return fmt.Errorf("%w: %s name %q: use 1-128 of A-Z a-z 0-9 . _ - starting with a letter or digit", ErrInvalid, kind, n)
	}
	return nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// sealGCM encrypts with a random nonce, which it puts first.
func sealGCM(a cipher.AEAD, plain []byte, aad string) ([]byte, error) {
	nonce := make([]byte, a.NonceSize(), a.NonceSize()+len(plain)+a.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return a.Seal(nonce, nonce, plain, []byte(aad)), nil
}

func openGCM(a cipher.AEAD, sealed []byte, aad string) ([]byte, error) {
	if len(sealed) < a.NonceSize() {
		return nil, ErrDecrypt
	}
	p, err := a.Open(nil, sealed[:a.NonceSize()], sealed[a.NonceSize():], []byte(aad))
	if err != nil {
		return nil, ErrDecrypt
	}
	return p, nil
}

func putJSON(b *bbolt.Bucket, k []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(k, raw)
}
