// Package contract is the one home of the contract between the image, init
// (PID 1) and the services it supervises: where things are, what a service
// says to init and init to it, and what init records about the boot. The
// image builder writes what it names, init and the services read it; none
// of them spell these out anywhere else. README.md beside it is the page
// that states the contract in prose.
//
// It has no dependencies beyond the standard library, so init links it
// without pulling in any service.
package contract

// Paths in the image. The rootfs is in RAM and immutable; these are written
// by the image builder.
const (
	// CompleteMarker is the last file of every Skerry initramfs. The kernel
	// unpacks the archive in order, so when RAM runs out part way the
	// marker is missing, and init can say so instead of failing in some
	// odd way later. It sits at the top level because the kernel's
	// unpacker does not create parent directories.
	CompleteMarker = "/.initramfs-complete"

	// ReleaseFile describes the image: a [Release] as JSON.
	ReleaseFile = "/etc/skerry/release.json"
	// ModulesFile lists the board's kernel modules, one per line, in the
	// order init loads them.
	ModulesFile = "/etc/skerry/modules"
	// SiteConfigFile is the site config baked into the image.
	SiteConfigFile = "/etc/skerry/site.json"
	// SkerryBin is the multi-call binary every service runs from.
	SkerryBin = "/usr/bin/skerry"
)

// Disk layout: the GPT partition names and where init mounts them.
const (
	// ESPLabel and PermLabel are the GPT partition names.
	ESPLabel  = "ESP"
	PermLabel = "perm"
	// ESPMount is where init mounts the EFI system partition, read-only.
	ESPMount = "/boot"
	// ESPSiteConfig is the site config on the EFI system partition,
	// relative to it; when present and valid it wins over SiteConfigFile.
	ESPSiteConfig = "skerry/site.json"
	// PermMount is the persistent partition. Each service's home is
	// PermMount/<service>; what survives a reboot lives there and only
	// there.
	PermMount = "/perm"
)

// Runtime directory and the sockets in it. Every local API is HTTP over a
// unix socket here; loopback TCP is opt-in per service.
const (
	RunDir = "/run/skerry"
	// InitSocket is init's control socket: status, logs, restarts, power.
	// Root only (mode 0600).
	InitSocket = RunDir + "/init.sock"
	// BootFile is where init records what it found while booting: a [Boot]
	// as JSON.
	BootFile = RunDir + "/boot.json"
	// HealthSocket is the status API of "skerry health".
	HealthSocket = RunDir + "/health.sock"
	// StreamlogSocket is the stream log's API.
	StreamlogSocket = RunDir + "/streamlog.sock"
	// VaultSocket is the vault's API (secrets and crypto for tenants).
	VaultSocket = RunDir + "/vault.sock"
	// WorkloadSocket is the workload runner's API.
	WorkloadSocket = RunDir + "/workload.sock"
	// UplinkSocket is the uplink's status API.
	UplinkSocket = RunDir + "/uplink.sock"
)

// Release is the content of ReleaseFile.
type Release struct {
	Version string `json:"version"`
	Board   string `json:"board"`
	Arch    string `json:"arch"`
	Kernel  string `json:"kernel"`
}

// Home is a service's home directory on the persistent partition.
func Home(service string) string { return PermMount + "/" + service }
