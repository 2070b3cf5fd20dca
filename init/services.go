package main

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/skerry/skerry/init/internal/supervisor"
	"github.com/skerry/skerry/services/atomicfile"
	"github.com/skerry/skerry/services/contract"
	"github.com/skerry/skerry/services/siteconfig"
)

const (
	skerryBin      = contract.SkerryBin
	containerdConf = contract.RunDir + "/containerd.toml"
	containerdSock = "/run/containerd/containerd.sock"
	workloadBin    = "/usr/bin/skerry-workload"
	// healthTokenFile holds the status API's network token (site config
	// health.token) for "skerry health -token-file".
	healthTokenFile = contract.RunDir + "/health.token"
	// registryCAFile holds the site config's workload.registryCAs for
	// "skerry-workload -registry-ca".
	registryCAFile = contract.RunDir + "/registry-ca.pem"
	mib            = 1 << 20
)

// serviceEnv is the whole environment of every service.
var serviceEnv = []string{"PATH=/usr/bin:/usr/sbin:/sbin:/bin", "HOME=/root", "TMPDIR=/tmp"}

// serviceSpecs lists the site's services. Each gets its home under /perm
// and a memory limit of its own cgroup.
func serviceSpecs(cfg *siteconfig.Config) ([]supervisor.Spec, error) {
	if err := writeContainerdConfig(cfg); err != nil {
		return nil, err
	}
	health := []string{"health", "-listen", cfg.Health.Listen}
	if cfg.Health.Network() {
		// The token goes in a root-only file, not on the command line
		// where every process could read it.
		if err := atomicfile.WriteFile(healthTokenFile, []byte(cfg.Health.Token+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("status API token: %w", err)
		}
		health = append(health, "-token-file", healthTokenFile)
	}
	if cfg.Debug.Control {
		health = append(health, "-debug-control")
	}
	workloadArgs := []string{"-home", contract.Home("workload"), "-socket", contract.WorkloadSocket, "-containerd", containerdSock}
	if cas := cfg.Workload.RegistryCAs; len(cas) > 0 {
		if err := atomicfile.WriteFile(registryCAFile, []byte(strings.Join(cas, "\n")+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("registry CAs: %w", err)
		}
		workloadArgs = append(workloadArgs, "-registry-ca", registryCAFile)
	}
	workloadArgs = append(workloadArgs, reservedPorts(cfg)...)
	specs := []supervisor.Spec{
		{
			// The stream log comes first: every other service writes into
			// it (DESIGN.md's order: streamlog, vault, agent, uplink,
			// workload).
			Name: "streamlog", Path: skerryBin, Env: serviceEnv,
			Args: []string{"streamlog", "-dir", contract.Home("streamlog"), "-socket", contract.StreamlogSocket},
			Dir:  contract.Home("streamlog"), MemoryMax: 128 * mib, PidsMax: 128,
			Ready: supervisor.ReadyNotify,
		},
		{
			// Secrets sealed to the TPM. No DependsOn: its audit into the
			// stream log is best effort, and a sealed or TPM-less vault
			// still starts (and says why) so the box boots.
			Name: "vault", Path: skerryBin, Env: serviceEnv,
			Args: append([]string{"vault", "-dir", contract.Home("vault"), "-socket", contract.VaultSocket}, vaultPCRArgs()...),
			Dir:  contract.Home("vault"), MemoryMax: 32 * mib, PidsMax: 32,
			Ready: supervisor.ReadyNotify,
		},
		{
			// Registers the box with the tower (when the site config
			// names one) and reports its status; idle otherwise.
			Name: "agent", Path: skerryBin, Env: serviceEnv,
			Args: []string{"agent", "-home", contract.Home("agent")},
			Dir:  contract.Home("agent"), DependsOn: []string{"streamlog"}, MemoryMax: 64 * mib, PidsMax: 64,
			Ready: supervisor.ReadyNotify,
		},
		{
			// Replicates the site's topics to its parent (site config
			// uplink section, else the parent the tower named). Before
			// the agent has registered the box, or without a parent, it
			// waits and says why in its status (uplink.sock) rather than
			// exiting. Ready once its status API serves.
			Name: "uplink", Path: skerryBin, Env: serviceEnv,
			Args: []string{"uplink", "-identity", contract.Home("agent")},
			Dir:  contract.Home("uplink"), DependsOn: []string{"streamlog", "agent"}, MemoryMax: 64 * mib, PidsMax: 64,
			Ready: supervisor.ReadyNotify,
		},
		{
			Name: "health", Path: skerryBin, Args: health, Env: serviceEnv,
			Dir: contract.Home("health"), MemoryMax: 64 * mib, PidsMax: 64,
			Ready: supervisor.ReadyNotify,
		},
		{
			Name: "containerd", Path: "/usr/bin/containerd", Args: []string{"--config", containerdConf},
			Env: serviceEnv, Dir: contract.Home("containerd"), MemoryMax: 512 * mib,
			Ready: supervisor.ReadyPath, ReadyPath: containerdSock,
		},
		{
			// Runs tenants' apps in containerd from the desired state it
			// keeps on /perm (the agent brings it from the tower). Its own
			// binary: it links containerd's client.
			Name: "workload", Path: workloadBin, Env: serviceEnv,
			Args: workloadArgs,
			Dir:  contract.Home("workload"), DependsOn: []string{"containerd"}, MemoryMax: 96 * mib, PidsMax: 128,
			Ready: supervisor.ReadyNotify,
		},
	}
	if cfg.Debug.ContainerdTCP != "" {
		specs = append(specs, supervisor.Spec{
			Name: "devproxy", Path: skerryBin, Env: serviceEnv, Dir: "/run/devproxy",
			Args:      []string{"devproxy", "-listen", cfg.Debug.ContainerdTCP, "-target", containerdSock},
			DependsOn: []string{"containerd"}, MemoryMax: 32 * mib, Ready: supervisor.ReadyNotify,
		})
	}
	return specs, nil
}

// writeContainerdConfig keeps containerd's state on /perm and runs only the
// plugins a site uses (CRI and tracing are not even built in).
func writeContainerdConfig(cfg *siteconfig.Config) error {
	var b strings.Builder
	b.WriteString(`version = 3
root = "/perm/containerd"
state = "/run/containerd"
disabled_plugins = [
  "io.containerd.podsandbox.controller.v1.podsandbox",
  "io.containerd.sandbox.controller.v1.shim",
  "io.containerd.nri.v1.nri",
  "io.containerd.snapshotter.v1.blockfile",
  "io.containerd.snapshotter.v1.erofs",
  "io.containerd.differ.v1.erofs",
]

[grpc]
  address = "` + containerdSock + `"
`)
	if err := os.MkdirAll(contract.RunDir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(containerdConf, []byte(b.String()), 0o644)
}

// reservedPorts names the TCP ports the site's own services listen on,
// for "skerry-workload -reserved-port": no app may publish them.
func reservedPorts(cfg *siteconfig.Config) []string {
	var args []string
	for _, p := range []struct{ addr, owner string }{
		{cfg.Health.Listen, "the site's status API (site config health.listen)"},
		{cfg.Debug.ContainerdTCP, "the containerd debug proxy (site config debug.containerdTCP)"},
	} {
		_, port, _ := net.SplitHostPort(p.addr)
		if n, err := strconv.Atoi(port); err == nil && n > 0 {
			args = append(args, "-reserved-port", "tcp/"+port+"="+p.owner)
		}
	}
	return args
}
