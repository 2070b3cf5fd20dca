// Package seal seals a key to the box's TPM under a PCR policy and unseals
// it again, with no network and no person, for the vault's master key.
//
// The key is a keyed-hash object under a storage root key (SRK) made
// afresh from the standard ECC SRK template (the same template always
// gives the same key on the same TPM, so nothing is persisted in the TPM),
// with an authorization policy of PolicyPCR over a PCR selection. Every
// command that carries the key (Create in, Unseal out) runs in a session
// salted to the SRK and encrypting that parameter with AES-128-CFB, so a
// probe on the bus to a discrete TPM sees neither the key nor a value it
// could replay. Every object and session is flushed before a call returns.
package seal

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// Errors, for errors.Is.
var (
	// ErrPCRMismatch is returned by Unseal when the PCRs no longer hold
	// the values the key was sealed to; the error is a *MismatchError
	// naming them.
	ErrPCRMismatch = errors.New("PCRs differ from the sealed values")
	// ErrRefused is returned by Unseal when the TPM refuses the blob: it
	// was sealed by another TPM, or altered.
	ErrRefused = errors.New("the TPM refused the sealed blob")
	// ErrBadBlob is returned for a blob that is not well formed.
	ErrBadBlob = errors.New("malformed sealed blob")
)

// DefaultPCRs is the SHA-256 PCR selection a key is sealed to when none
// is given: the UEFI boot path of firmware, systemd-boot and the kernel.
//
//	0  firmware code          4  boot loader and kernel images (EFI apps)
//	2  option ROMs, drivers   7  Secure Boot state and keys
//	8  kernel command line (systemd-boot before v254-ish, GRUB)
//	9  kernel EFI stub: initrd (and the command line on recent kernels)
//	12 kernel command line of a type #1 entry (recent systemd-boot)
//
// Both 8 and 12 are in because which of them carries the command line
// depends on the systemd-boot version; the one not used stays constant
// and costs nothing. PCR 1 (firmware settings, boot order) is left out:
// it changes when a person reorders boot entries, which is no reason to
// refuse a boot.
var DefaultPCRs = []int{0, 2, 4, 7, 8, 9, 12}

// Blob is a sealed key and what it was sealed to.
type Blob struct {
	PCRs    []PCR  // the selection, ascending, with the values sealed to
	Public  []byte // TPM2B_PUBLIC of the sealed object
	Private []byte // TPM2B_PRIVATE, encrypted by the SRK
}

// PCR is one SHA-256 PCR and its value.
type PCR struct {
	Index  int    `json:"index"`
	SHA256 []byte `json:"sha256"`
}

// MismatchError names the PCRs whose values differ from the sealed ones.
type MismatchError struct {
	Changed []int
}

func (e *MismatchError) Error() string {
	s := make([]string, len(e.Changed))
	for i, p := range e.Changed {
		s[i] = strconv.Itoa(p)
	}
	return fmt.Sprintf("%v: PCR %s", ErrPCRMismatch, strings.Join(s, ", "))
}

func (e *MismatchError) Unwrap() error { return ErrPCRMismatch }

// TPM seals and unseals through one TPM connection, counting the commands
// it sends.
type TPM struct {
	t        transport.TPM
	commands int
}

// New uses t; the caller closes it.
func New(t transport.TPM) *TPM { return &TPM{t: t} }

// Send implements transport.TPM, counting.
func (c *TPM) Send(cmd []byte) ([]byte, error) {
	c.commands++
	return c.t.Send(cmd)
}

// Commands is the number of TPM commands sent so far.
func (c *TPM) Commands() int { return c.commands }

// Seal seals key to the current values of pcrs (SHA-256 bank).
func (c *TPM) Seal(key []byte, pcrs []int) (b Blob, err error) {
	if len(pcrs) == 0 || len(key) == 0 || len(key) > 128 {
		return Blob{}, fmt.Errorf("seal: want 1-128 key bytes and at least one PCR")
	}
	srk, pub, flush, err := c.srk()
	if err != nil {
		return Blob{}, err
	}
	defer flushInto(flush, &err)
	sel, err := selection(pcrs)
	if err != nil {
		return Blob{}, err
	}
	vals, err := c.read(pcrs)
	if err != nil {
		return Blob{}, err
	}
	policy, err := policyDigest(sel, vals)
	if err != nil {
		return Blob{}, err
	}
	rsp, err := tpm2.Create{
		ParentHandle: tpm2.AuthHandle{
			Handle: srk.ObjectHandle, Name: srk.Name,
			Auth: tpm2.HMAC(tpm2.TPMAlgSHA256, 16, tpm2.Salted(srk.ObjectHandle, *pub), tpm2.AESEncryption(128, tpm2.EncryptIn)),
		},
		InSensitive: tpm2.TPM2BSensitiveCreate{Sensitive: &tpm2.TPMSSensitiveCreate{
			Data: tpm2.NewTPMUSensitiveCreate(&tpm2.TPM2BSensitiveData{Buffer: key}),
		}},
		InPublic: tpm2.New2B(tpm2.TPMTPublic{
			Type:    tpm2.TPMAlgKeyedHash,
			NameAlg: tpm2.TPMAlgSHA256,
			// No UserWithAuth: only the PCR policy opens it. NoDA: a
			// failed policy must not lock the TPM out for the agent.
			ObjectAttributes: tpm2.TPMAObject{FixedTPM: true, FixedParent: true, NoDA: true},
			AuthPolicy:       tpm2.TPM2BDigest{Buffer: policy},
		}),
	}.Execute(c)
	if err != nil {
		return Blob{}, fmt.Errorf("seal: create sealed object: %w", err)
	}
	b = Blob{Public: tpm2.Marshal(rsp.OutPublic), Private: tpm2.Marshal(rsp.OutPrivate)}
	for i, p := range pcrs {
		b.PCRs = append(b.PCRs, PCR{Index: p, SHA256: vals[i]})
	}
	return b, nil
}

// Unseal returns the key in b. When the PCRs differ from the values b was
// sealed to, it returns a *MismatchError without asking the TPM to unseal.
func (c *TPM) Unseal(b Blob) (key []byte, err error) {
	pcrs := make([]int, len(b.PCRs))
	for i, p := range b.PCRs {
		pcrs[i] = p.Index
	}
	if len(pcrs) == 0 || !slices.IsSorted(pcrs) {
		return nil, fmt.Errorf("%w: no PCRs, or not in ascending order", ErrBadBlob)
	}
	sel, err := selection(pcrs)
	if err != nil {
		return nil, err
	}
	vals, err := c.read(pcrs)
	if err != nil {
		return nil, err
	}
	var changed []int
	for i, p := range b.PCRs {
		if !bytes.Equal(p.SHA256, vals[i]) {
			changed = append(changed, p.Index)
		}
	}
	if changed != nil {
		return nil, &MismatchError{Changed: changed}
	}
	pub, err := tpm2.Unmarshal[tpm2.TPM2BPublic](b.Public)
	if err != nil {
		return nil, fmt.Errorf("%w: public part: %v", ErrBadBlob, err)
	}
	priv, err := tpm2.Unmarshal[tpm2.TPM2BPrivate](b.Private)
	if err != nil {
		return nil, fmt.Errorf("%w: private part: %v", ErrBadBlob, err)
	}
	srk, srkPub, flush, err := c.srk()
	if err != nil {
		return nil, err
	}
	defer flushInto(flush, &err)
	// The blob's parts are public or already encrypted by the SRK: Load
	// needs no parameter encryption.
	obj, err := tpm2.Load{
		ParentHandle: tpm2.AuthHandle{Handle: srk.ObjectHandle, Name: srk.Name, Auth: tpm2.PasswordAuth(nil)},
		InPrivate:    *priv,
		InPublic:     *pub,
	}.Execute(c)
	if err != nil {
		return nil, fmt.Errorf("%w (sealed by another TPM, or altered): load: %v", ErrRefused, err)
	}
	defer flushInto(func() error { return c.flush(obj.ObjectHandle) }, &err)
	sess, closeSess, err := tpm2.PolicySession(c, tpm2.TPMAlgSHA256, 16,
		tpm2.Salted(srk.ObjectHandle, *srkPub), tpm2.AESEncryption(128, tpm2.EncryptOut))
	if err != nil {
		return nil, fmt.Errorf("unseal: start policy session: %w", err)
	}
	defer flushInto(closeSess, &err)
	digest := sha256.New()
	for _, v := range vals {
		digest.Write(v)
	}
	if _, err := (tpm2.PolicyPCR{PolicySession: sess.Handle(), PcrDigest: tpm2.TPM2BDigest{Buffer: digest.Sum(nil)}, Pcrs: sel}).Execute(c); err != nil {
		return nil, fmt.Errorf("unseal: policy PCR: %w", err)
	}
	rsp, err := tpm2.Unseal{ItemHandle: tpm2.AuthHandle{Handle: obj.ObjectHandle, Name: obj.Name, Auth: sess}}.Execute(c)
	if err != nil {
		// The PCRs match the values in the blob, so those values were
		// changed after sealing: the policy in the object says otherwise.
		return nil, fmt.Errorf("%w (its PCR values were altered): unseal: %v", ErrRefused, err)
	}
	return rsp.OutData.Buffer, nil
}

// Read returns the current SHA-256 values of pcrs.
func (c *TPM) Read(pcrs []int) ([]PCR, error) {
	vals, err := c.read(pcrs)
	if err != nil {
		return nil, err
	}
	out := make([]PCR, len(pcrs))
	for i, p := range pcrs {
		out[i] = PCR{Index: p, SHA256: vals[i]}
	}
	return out, nil
}

// Loaded lists the transient objects and the sessions (loaded or saved)
// in the TPM: after the vault's work there must be none of its own.
// Sessions are asked for by range 0x02 (loaded) and 0x03 (saved); a
// loaded policy session answers in the first with a 0x03 handle.
func Loaded(t transport.TPM) ([]tpm2.TPMHandle, error) {
	var out []tpm2.TPMHandle
	seen := map[tpm2.TPMHandle]bool{}
	for _, ht := range []tpm2.TPMHT{tpm2.TPMHTTransient, tpm2.TPMHTHMACSession, tpm2.TPMHTPolicySession} {
		rsp, err := tpm2.GetCapability{Capability: tpm2.TPMCapHandles, Property: uint32(ht) << 24, PropertyCount: 64}.Execute(t)
		if err != nil {
			return nil, fmt.Errorf("list loaded handles: %w", err)
		}
		hs, err := rsp.CapabilityData.Data.Handles()
		if err != nil {
			return nil, fmt.Errorf("list loaded handles: %w", err)
		}
		for _, h := range hs.Handle {
			switch tpm2.TPMHT(uint32(h) >> 24) {
			case tpm2.TPMHTTransient, tpm2.TPMHTHMACSession, tpm2.TPMHTPolicySession:
				if !seen[h] {
					seen[h] = true
					out = append(out, h)
				}
			}
		}
	}
	return out, nil
}

// srk creates the SRK from the standard ECC template and returns it, its
// public area and the function that flushes it.
func (c *TPM) srk() (*tpm2.CreatePrimaryResponse, *tpm2.TPMTPublic, func() error, error) {
	rsp, err := tpm2.CreatePrimary{PrimaryHandle: tpm2.TPMRHOwner, InPublic: tpm2.New2B(tpm2.ECCSRKTemplate)}.Execute(c)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("create SRK: %w", err)
	}
	flush := func() error { return c.flush(rsp.ObjectHandle) }
	pub, err := rsp.OutPublic.Contents()
	if err != nil {
		flush()
		return nil, nil, nil, fmt.Errorf("create SRK: %w", err)
	}
	return rsp, pub, flush, nil
}

func (c *TPM) flush(h tpm2.TPMHandle) error {
	if _, err := (tpm2.FlushContext{FlushHandle: h}).Execute(c); err != nil {
		return fmt.Errorf("flush handle %#x: %w", uint32(h), err)
	}
	return nil
}

// flushInto runs flush and keeps its error if there was none before.
func flushInto(flush func() error, err *error) {
	if ferr := flush(); ferr != nil && *err == nil {
		*err = ferr
	}
}

// read reads the SHA-256 values of pcrs, in order, eight at most per
// command as the TPM answers.
func (c *TPM) read(pcrs []int) ([][]byte, error) {
	var vals [][]byte
	for start := 0; start < len(pcrs); start += 8 {
		chunk := pcrs[start:min(start+8, len(pcrs))]
		sel, err := selection(chunk)
		if err != nil {
			return nil, err
		}
		rsp, err := tpm2.PCRRead{PCRSelectionIn: sel}.Execute(c)
		if err != nil {
			return nil, fmt.Errorf("read PCRs: %w", err)
		}
		if len(rsp.PCRValues.Digests) != len(chunk) {
			return nil, fmt.Errorf("read PCRs %v: the TPM returned %d values", chunk, len(rsp.PCRValues.Digests))
		}
		for _, d := range rsp.PCRValues.Digests {
			vals = append(vals, d.Buffer)
		}
	}
	return vals, nil
}

func selection(pcrs []int) (tpm2.TPMLPCRSelection, error) {
	us := make([]uint, len(pcrs))
	for i, p := range pcrs {
		if p < 0 || p > 23 || (i > 0 && p <= pcrs[i-1]) {
			return tpm2.TPMLPCRSelection{}, fmt.Errorf("PCR selection %v: want ascending indices 0-23", pcrs)
		}
		us[i] = uint(p)
	}
	return tpm2.TPMLPCRSelection{PCRSelections: []tpm2.TPMSPCRSelection{
		{Hash: tpm2.TPMAlgSHA256, PCRSelect: tpm2.PCClientCompatible.PCRs(us...)},
	}}, nil
}

// policyDigest computes the PolicyPCR policy over vals, as the TPM will.
func policyDigest(sel tpm2.TPMLPCRSelection, vals [][]byte) ([]byte, error) {
	h := sha256.New()
	for _, v := range vals {
		h.Write(v)
	}
	pol, err := tpm2.NewPolicyCalculator(tpm2.TPMAlgSHA256)
	if err != nil {
		return nil, err
	}
	if err := (tpm2.PolicyPCR{PcrDigest: tpm2.TPM2BDigest{Buffer: h.Sum(nil)}, Pcrs: sel}).Update(pol); err != nil {
		return nil, fmt.Errorf("compute PCR policy: %w", err)
	}
	return pol.Hash().Digest, nil
}
