package api

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/skerry/skerry/services/atomicfile"
	"github.com/skerry/skerry/services/streamlog"
)

// Principal is who a request acts for.
type Principal struct {
	Tenant string
	System bool // the system token may use every tenant
}

// may reports whether p may touch tenant's topics.
func (p Principal) may(tenant string) bool { return p.System || p.Tenant == tenant }

// Auth holds the tokens: the system token in <dir>/system.token, created
// on first start and readable by root only, and tenant tokens in
// <dir>/tokens.json, stored as SHA-256 hashes so the file does not hand
// them out.
type Auth struct {
	dir string

	mu     sync.RWMutex
	system [32]byte
	byHash map[[32]byte]string // hash -> tenant
}

const tokensVersion = 1

type tokensFile struct {
	Version int          `json:"version"`
	Tokens  []tokenEntry `json:"tokens"`
}

type tokenEntry struct {
	SHA256 string `json:"sha256"`
	Tenant string `json:"tenant"`
}

// LoadAuth reads (creating if needed) the tokens in dir.
func LoadAuth(dir string) (*Auth, error) {
	a := &Auth{dir: dir, byHash: map[[32]byte]string{}}
	sys, err := os.ReadFile(a.SystemTokenPath())
	if errors.Is(err, os.ErrNotExist) {
		tok, err := newToken("sys")
		if err != nil {
			return nil, err
		}
		if err := atomicfile.WriteFile(a.SystemTokenPath(), []byte(tok+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("write system token: %w", err)
		}
		sys = []byte(tok)
	} else if err != nil {
		return nil, fmt.Errorf("read system token: %w", err)
	}
	a.system = sha256.Sum256([]byte(strings.TrimSpace(string(sys))))
	b, err := os.ReadFile(filepath.Join(dir, "tokens.json"))
	if errors.Is(err, os.ErrNotExist) {
		return a, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read tokens: %w", err)
	}
	var f tokensFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("parse tokens.json: %w", err)
	}
	if f.Version != tokensVersion {
		return nil, fmt.Errorf("parse tokens.json: version %d, this build knows %d", f.Version, tokensVersion)
	}
	for _, e := range f.Tokens {
		h, err := hex.DecodeString(e.SHA256)
		if err != nil || len(h) != 32 {
			return nil, fmt.Errorf("parse tokens.json: bad sha256 %q for tenant %q", e.SHA256, e.Tenant)
		}
		a.byHash[[32]byte(h)] = e.Tenant
	}
	return a, nil
}

// SystemTokenPath is where the system token lives; skerryctl on the site
// reads it from there.
func (a *Auth) SystemTokenPath() string { return filepath.Join(a.dir, "system.token") }

// Check returns the principal of a request's bearer token.
func (a *Auth) Check(r *http.Request) (Principal, bool) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		return Principal{}, false
	}
	h := sha256.Sum256([]byte(tok))
	a.mu.RLock()
	defer a.mu.RUnlock()
	if h == a.system {
		return Principal{Tenant: streamlog.SystemTenant, System: true}, true
	}
	t, ok := a.byHash[h]
	return Principal{Tenant: t}, ok
}

// NewTenantToken creates and stores a token for tenant.
func (a *Auth) NewTenantToken(tenant string) (string, error) {
	if err := streamlog.ValidateTenant(tenant); err != nil {
		return "", err
	}
	if tenant == streamlog.SystemTenant {
		return "", fmt.Errorf("%w: tenant %q is reserved for the system token", streamlog.ErrInvalidName, tenant)
	}
	tok, err := newToken(tenant)
	if err != nil {
		return "", err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.byHash[sha256.Sum256([]byte(tok))] = tenant
	f := tokensFile{Version: tokensVersion}
	for h, t := range a.byHash {
		f.Tokens = append(f.Tokens, tokenEntry{hex.EncodeToString(h[:]), t})
	}
	b, _ := json.MarshalIndent(f, "", "  ")
	if err := atomicfile.WriteFile(filepath.Join(a.dir, "tokens.json"), b, 0o600); err != nil {
		delete(a.byHash, sha256.Sum256([]byte(tok)))
		return "", fmt.Errorf("store token: %w", err)
	}
	return tok, nil
}

func newToken(prefix string) (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate token: %w", err)
	}
	return "skl_" + prefix + "_" + hex.EncodeToString(b), nil
}
