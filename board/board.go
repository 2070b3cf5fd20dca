// Package board holds the definitions of the boards Skerry builds images for.
//
// A board is data, not code: one JSON file per board in this directory,
// embedded into every binary that needs it. Adding a board means adding a
// file; nothing else in the tree changes.
package board

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strings"
)

//go:embed *.json
var files embed.FS

// Version is the board file format this package reads.
const Version = 1

// Board describes one kind of hardware (or virtual machine).
type Board struct {
	Version     int    `json:"version"`
	Name        string `json:"name"`
	Description string `json:"description"`
	// Arch is the Go architecture (GOARCH) of the board: amd64 or arm64.
	Arch    string `json:"arch"`
	Kernel  Kernel `json:"kernel"`
	Console string `json:"console"`
	QEMU    QEMU   `json:"qemu"`
	EFI     EFI    `json:"efi"`
	Disk    Disk   `json:"disk"`
	Vault   Vault  `json:"vault"`
}

// Vault says how the board's vault seals its master key.
type Vault struct {
	// PCRs is the SHA-256 PCR set the master key is sealed to (init
	// passes it as skerry vault -pcrs): the measurements of the board's
	// boot path that must not change without an approval. On the UEFI
	// path: 0 firmware, 2 option ROMs and drivers, 4 boot loader and
	// kernel images, 7 Secure Boot state, 8 and 12 the kernel command
	// line (GRUB and older systemd-boot use 8, newer systemd-boot 12),
	// 9 the initrd and the load options (command line) as the kernel's EFI
	// stub measures them; the VM test sees 9 and 12 move. Ascending, 0-23.
	PCRs []int `json:"pcrs"`
}

// Kernel says which Debian kernel the board boots and what of it to keep.
type Kernel struct {
	// Package is the Debian meta package (linux-image-amd64); the build
	// resolves it to the versioned package and records that version.
	Package string `json:"package"`
	Cmdline string `json:"cmdline"`
	// Modules are loaded at boot in this order, each after the modules it
	// depends on (modules.dep) and its soft dependencies (modules.softdep).
	Modules []string `json:"modules"`
	// Build lists modules that the Debian kernel lacks and the image build
	// compiles from Debian's kernel source against the kernel's headers.
	Build []ModuleBuild `json:"build,omitempty"`
}

// ModuleBuild is one out-of-tree build of an in-tree driver.
type ModuleBuild struct {
	Module string   `json:"module"`
	Source string   `json:"source"` // directory in the kernel source tree
	Files  []string `json:"files"`  // .c files of the module, relative to Source
	Why    string   `json:"why"`
}

// QEMU says how the QEMU bench runs the board.
type QEMU struct {
	Binary       string `json:"binary"`
	Machine      string `json:"machine"`
	CPU          string `json:"cpu"`
	MemoryMiB    int    `json:"memoryMiB"`
	FirmwareCode string `json:"firmwareCode"`
	FirmwareVars string `json:"firmwareVars"`
	TPMDevice    string `json:"tpmDevice"`
	// NetDevice is the NIC's -device value. The QEMU boards turn
	// virtio-net's control queue off: Debian 6.1's driver busy-waits in
	// the kernel for each control command (virtnet_send_command), and one
	// that never completed left a guest in a soft lockup with no network.
	// The features that need the control queue go with it: the driver
	// refuses a device that offers them without it.
	NetDevice string `json:"netDevice"`
	// RNGDevice feeds the guest's entropy pool. Without one, arm64 guests
	// under TCG wait minutes for getrandom() (DHCP transaction ids, TLS).
	RNGDevice string `json:"rngDevice,omitempty"`
}

// EFI names the UEFI boot loader and where the firmware looks for it.
type EFI struct {
	Package       string `json:"package"`
	Loader        string `json:"loader"`        // path inside the Debian package
	RemovablePath string `json:"removablePath"` // path on the EFI system partition
}

// Disk gives the sizes of the partitions of the disk image.
type Disk struct {
	ESPMiB  int `json:"espMiB"`
	PermMiB int `json:"permMiB"`
}

// DebianArch is the Debian architecture name of the board.
func (b *Board) DebianArch() string { return b.Arch } // amd64 and arm64 agree

// Triplet is the GNU triplet used by Debian's multiarch paths and cross tools.
func (b *Board) Triplet() string {
	switch b.Arch {
	case "arm64":
		return "aarch64-linux-gnu"
	default:
		return "x86_64-linux-gnu"
	}
}

// Names lists the known boards, sorted.
func Names() []string {
	ents, _ := files.ReadDir(".")
	var names []string
	for _, e := range ents {
		names = append(names, strings.TrimSuffix(e.Name(), ".json"))
	}
	sort.Strings(names)
	return names
}

// Lookup returns the board called name, or an error that lists the known ones.
func Lookup(name string) (*Board, error) {
	data, err := files.ReadFile(name + ".json")
	if err != nil || strings.ContainsAny(name, "/\\") {
		return nil, fmt.Errorf("unknown board %q: known boards are %s", name, strings.Join(Names(), ", "))
	}
	return Parse(path.Base(name), data)
}

// ForArch returns the QEMU board for a Go architecture (runtime.GOARCH).
func ForArch(goarch string) (*Board, error) {
	switch goarch {
	case "amd64":
		return Lookup("qemu-x86_64")
	case "arm64":
		return Lookup("qemu-arm64")
	}
	return nil, fmt.Errorf("no QEMU board for architecture %q: known boards are %s", goarch, strings.Join(Names(), ", "))
}

// Parse decodes and checks one board file; name is the file's base name.
func Parse(name string, data []byte) (*Board, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var b Board
	if err := dec.Decode(&b); err != nil {
		return nil, fmt.Errorf("board %s: %w", name, err)
	}
	if err := b.validate(name); err != nil {
		return nil, err
	}
	return &b, nil
}

func (b *Board) validate(name string) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("board %s: %s", name, fmt.Sprintf(format, args...))
	}
	switch {
	case b.Version != Version:
		return bad("version %d is not supported (this build reads version %d)", b.Version, Version)
	case b.Name != name:
		return bad("name %q does not match its file name", b.Name)
	case b.Arch != "amd64" && b.Arch != "arm64":
		return bad("arch %q is not amd64 or arm64", b.Arch)
	case b.Kernel.Package == "":
		return bad("kernel.package is empty")
	case b.Console == "":
		return bad("console is empty")
	case b.EFI.Loader == "" || b.EFI.RemovablePath == "":
		return bad("efi.loader and efi.removablePath are required")
	case b.Disk.ESPMiB < 64 || b.Disk.PermMiB < 64:
		return bad("disk.espMiB and disk.permMiB must be at least 64")
	}
	if len(b.Vault.PCRs) == 0 {
		return bad("vault.pcrs is empty: name the PCRs of the boot path the vault seals to")
	}
	for i, p := range b.Vault.PCRs {
		if p < 0 || p > 23 || (i > 0 && p <= b.Vault.PCRs[i-1]) {
			return bad("vault.pcrs %v: want ascending PCR indices 0-23", b.Vault.PCRs)
		}
	}
	for _, m := range b.Kernel.Build {
		if m.Module == "" || m.Source == "" || len(m.Files) == 0 {
			return bad("kernel.build entries need module, source and files")
		}
	}
	return nil
}
