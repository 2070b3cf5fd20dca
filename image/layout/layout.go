// Package layout names the paths and labels that the image builder writes
// and the running system reads. It has no dependencies, so init can use it
// without pulling in the builder.
package layout

const (
	// CompleteMarker is the last file of every Skerry initramfs. The kernel
	// unpacks the archive in order, so when RAM runs out part way the
	// marker is missing, and init can say so instead of failing in some
	// odd way later. It sits at the top level because the kernel's
	// unpacker does not create parent directories.
	CompleteMarker = "/.initramfs-complete"

	// ReleaseFile describes the image: version, board, arch, kernel.
	ReleaseFile = "/etc/skerry/release.json"
	// ModulesFile lists the board's kernel modules, one per line, in the
	// order init loads them.
	ModulesFile = "/etc/skerry/modules"
	// SiteConfigFile is the site config baked into the image.
	SiteConfigFile = "/etc/skerry/site.json"
	// ESPSiteConfig is the site config on the EFI system partition,
	// relative to it; when present it wins over the baked one.
	ESPSiteConfig = "skerry/site.json"

	// ESPLabel and PermLabel are the GPT partition names.
	ESPLabel  = "ESP"
	PermLabel = "perm"
)

// Release is the content of ReleaseFile.
type Release struct {
	Version string `json:"version"`
	Board   string `json:"board"`
	Arch    string `json:"arch"`
	Kernel  string `json:"kernel"`
}
