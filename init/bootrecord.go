package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/skerry/skerry/init/internal/console"
	"github.com/skerry/skerry/services/atomicfile"
	"github.com/skerry/skerry/services/contract"
)

// bootRecord is what init learned while booting, kept in a file
// (contract.BootFile) for the status API. The network may finish after the
// services started, hence the lock.
type bootRecord struct {
	mu   sync.Mutex
	b    contract.Boot
	path string
	log  *console.Logger
}

func newBootRecord(log *console.Logger, path string, b contract.Boot) *bootRecord {
	return &bootRecord{b: b, path: path, log: log}
}

// update changes the record and writes it out atomically; a failure to
// write is reported on the console.
func (r *bootRecord) update(fn func(*contract.Boot)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fn(&r.b)
	data, err := json.MarshalIndent(&r.b, "", "  ")
	if err == nil {
		err = os.MkdirAll(filepath.Dir(r.path), 0o755)
	}
	if err == nil {
		err = atomicfile.WriteFile(r.path, data, 0o644)
	}
	if err != nil {
		r.log.Printf("boot record %s: %v", r.path, err)
	}
}

func (r *bootRecord) bootID() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.b.BootID
}

func readTrim(p string) string {
	data, _ := os.ReadFile(p)
	return strings.TrimSpace(string(data))
}
