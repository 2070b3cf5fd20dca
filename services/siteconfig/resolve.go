package siteconfig

import (
	"errors"
	"io/fs"
	"path/filepath"

	"github.com/skerry/skerry/services/contract"
)

// Where the config comes from, in the order Resolve tries them.
var (
	// ESPPath is the copy written at flash time onto the EFI system
	// partition, as init mounts it.
	ESPPath = filepath.Join(contract.ESPMount, contract.ESPSiteConfig)
	// BakedPath is the copy baked into the image.
	BakedPath = contract.SiteConfigFile
)

// Resolve returns the config a box runs with: the first of paths that is
// present and valid, else Default. A file that is present but bad is
// reported through warn and the next one is used, so that a typo cannot
// keep a box from booting or reaching its tower. from is the path the
// config came from, or "" for the defaults.
//
// init and every service resolve the config this way, from the same
// paths (ESPPath, then BakedPath), so they always agree on it.
func Resolve(warn func(msg string), paths ...string) (cfg *Config, from string) {
	for _, p := range paths {
		c, err := Load(p)
		if err == nil {
			return c, p
		}
		if !errors.Is(err, fs.ErrNotExist) {
			warn(err.Error() + "; trying the next source")
		}
	}
	return Default(), ""
}
