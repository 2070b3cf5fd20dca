package vault

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"time"

	"github.com/skerry/skerry/services/atomicfile"
	"github.com/skerry/skerry/services/internal/tpm"
	"github.com/skerry/skerry/services/vault/seal"
)

// masterFileVersion is the version of the sealed master key file format.
const masterFileVersion = 1

// masterFile is <dir>/master-<generation>.json: the master key sealed to
// the TPM, and the PCR values it was sealed to.
type masterFile struct {
	Version    int        `json:"version"`
	Generation int        `json:"generation"`
	PCRBank    string     `json:"pcrBank"` // "sha256"
	PCRs       []seal.PCR `json:"pcrs"`
	Public     []byte     `json:"public"`
	Private    []byte     `json:"private"`
	SealedAt   time.Time  `json:"sealedAt"`
}

// master keeps the master key's sealed files and reaches the TPM for them.
// It opens the TPM for each seal or unseal and closes it after, so the
// vault holds no TPM connection while it serves.
type master struct {
	dir  string
	tpm  string // tpm.Open path: /dev/tpmrm0 or unix:SOCKET
	pcrs []int
}

var masterRE = regexp.MustCompile(`^master-([0-9]+)\.json$`)

func (m *master) path(gen int) string {
	return filepath.Join(m.dir, fmt.Sprintf("master-%d.json", gen))
}

// unsealResult is what one unseal did.
type unsealResult struct {
	key      []byte
	pcrs     []int
	commands int
}

// unseal reads and unseals generation gen.
func (m *master) unseal(gen int) (unsealResult, error) {
	raw, err := os.ReadFile(m.path(gen))
	if err != nil {
		return unsealResult{}, fmt.Errorf("read sealed master key: %w", err)
	}
	var f masterFile
	if err := json.Unmarshal(raw, &f); err != nil {
		return unsealResult{}, fmt.Errorf("parse %s: %w", m.path(gen), err)
	}
	if f.Version != masterFileVersion || f.PCRBank != "sha256" || f.Generation != gen {
		return unsealResult{}, fmt.Errorf("parse %s: version %d, bank %q, generation %d; this build reads version %d, sha256, generation %d",
			m.path(gen), f.Version, f.PCRBank, f.Generation, masterFileVersion, gen)
	}
	res := unsealResult{}
	for _, p := range f.PCRs {
		res.pcrs = append(res.pcrs, p.Index)
	}
	err = m.withTPM(func(t *seal.TPM) error {
		res.key, err = t.Unseal(seal.Blob{PCRs: f.PCRs, Public: f.Public, Private: f.Private})
		res.commands = t.Commands()
		return err
	})
	return res, err
}

// seal seals key as generation gen, to the current PCR values.
func (m *master) seal(key []byte, gen int) error {
	var b seal.Blob
	err := m.withTPM(func(t *seal.TPM) (err error) {
		b, err = t.Seal(key, m.pcrs)
		return err
	})
	if err != nil {
		return err
	}
	raw, err := json.MarshalIndent(masterFile{
		Version: masterFileVersion, Generation: gen, PCRBank: "sha256", PCRs: b.PCRs,
		Public: b.Public, Private: b.Private, SealedAt: time.Now().UTC(),
	}, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(m.path(gen), raw, 0o600); err != nil {
		return fmt.Errorf("store sealed master key: %w", err)
	}
	return nil
}

func (m *master) withTPM(fn func(*seal.TPM) error) error {
	t, err := tpm.OpenTransport(m.tpm)
	if err != nil {
		return err
	}
	defer t.Close()
	return fn(seal.New(t))
}

// exists reports whether generation gen's file is there.
func (m *master) exists(gen int) bool {
	_, err := os.Stat(m.path(gen))
	return err == nil
}

// removeOthers removes sealed files of generations other than keep: a
// rotation cut short leaves one behind.
func (m *master) removeOthers(keep int) error {
	ents, err := os.ReadDir(m.dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range ents {
		if g := masterRE.FindStringSubmatch(e.Name()); g != nil {
			if n, _ := strconv.Atoi(g[1]); n != keep {
				errs = append(errs, os.Remove(filepath.Join(m.dir, e.Name())))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return atomicfile.SyncDir(m.dir)
}

func newMasterKey() []byte {
	k := make([]byte, 32)
	rand.Read(k)
	return k
}
