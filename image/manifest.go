package image

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
)

// Manifest is written beside the outputs: what went into the image, in
// which versions, and the outputs' sizes and digests.
type Manifest struct {
	Board         string      `json:"board"`
	Arch          string      `json:"arch"`
	Version       string      `json:"version"`
	GoVersion     string      `json:"goVersion"`
	Kernel        Package     `json:"kernel"`
	KernelRelease string      `json:"kernelRelease"`
	Modules       []string    `json:"modules"`
	BuiltModules  []string    `json:"builtModules,omitempty"`
	Components    []Component `json:"components"`
	Packages      []Package   `json:"packages"`
	Initramfs     Initramfs   `json:"initramfs"`
	Files         []File      `json:"files"`
}

// Component is one binary in the image.
type Component struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Size    int64  `json:"size"`
}

// Initramfs sizes.
type Initramfs struct {
	Uncompressed int64 `json:"uncompressedBytes"`
	Compressed   int64 `json:"compressedBytes"`
	Entries      int   `json:"entries"`
}

// File is one output file.
type File struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

func fileInfo(name, p string) (File, error) {
	f, err := os.Open(p)
	if err != nil {
		return File{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return File{}, err
	}
	return File{Name: name, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// ReadManifest loads a manifest.json.
func ReadManifest(p string) (*Manifest, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	var m Manifest
	return &m, json.Unmarshal(data, &m)
}

func (m *Manifest) write(p string) error {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(p, append(data, '\n'), 0o644)
}
