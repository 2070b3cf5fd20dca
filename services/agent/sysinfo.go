package agent

import (
	"encoding/json"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/skerry/skerry/services/contract"
)

// Files the agent reads about the box.
const (
	uptimeFile = "/proc/uptime"
	bootIDFile = "/proc/sys/kernel/random/boot_id"
)

// serialFiles are where firmware puts the board's serial number: SMBIOS on
// PCs, the device tree on boards that have one.
var serialFiles = []string{
	"/sys/class/dmi/id/product_serial",
	"/sys/firmware/devicetree/base/serial-number",
}

// junkSerials are what firmware writes when the vendor set no serial.
var junkSerials = map[string]bool{
	"": true, "0": true, "none": true, "not specified": true, "default string": true,
	"to be filled by o.e.m.": true, "system serial number": true, "0123456789": true,
}

// Serial returns the board's serial number, or "" when the firmware has
// none worth reporting.
func Serial() string {
	for _, p := range serialFiles {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		s := strings.TrimSpace(strings.TrimRight(string(b), "\x00"))
		if !junkSerials[strings.ToLower(s)] {
			return s
		}
	}
	return ""
}

// ImageVersion returns the version of the running image, or "".
func ImageVersion() string {
	b, err := os.ReadFile(contract.ReleaseFile)
	if err != nil {
		return ""
	}
	var r contract.Release
	if json.Unmarshal(b, &r) != nil {
		return ""
	}
	return r.Version
}

// AgentVersion returns the version of this build: its module version,
// else its VCS revision, else "devel".
func AgentVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			return s.Value[:12]
		}
	}
	return "devel"
}

// uptime returns the seconds since boot.
func uptime() int64 {
	b, err := os.ReadFile(uptimeFile)
	if err != nil {
		return 0
	}
	f, _, _ := strings.Cut(string(b), " ")
	v, _ := strconv.ParseFloat(f, 64)
	return int64(v)
}

// bootID returns the kernel's boot ID.
func bootID() string {
	b, _ := os.ReadFile(bootIDFile)
	return strings.TrimSpace(string(b))
}
