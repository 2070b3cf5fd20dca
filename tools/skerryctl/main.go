// Command skerryctl is the operator's command-line tool: it flashes images
// onto devices and talks to a site's and the tower's APIs.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// command is one "skerryctl <name>" subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, stdout, stderr io.Writer, args []string) error
}

// commands is the top of the tree. The tower's resources are under
// "tower" and a site's local APIs under "site", so that one word never
// names two things (the tower's enrollment tokens and the stream log's
// tenant tokens, say).
var commands = []command{
	{"flash", "write an image onto a device and verify it", runFlash},
	{"tower", "the tower: login, tenants, tokens, claims, sites, apps, deploy, hubs", group("tower", towerCommands)},
	{"site", "this site's local APIs: log (stream log), vault, apps (workload), uplink", group("site", siteCommands)},
}

// towerCommands talk to the tower, as the operator logged in with
// "skerryctl tower login".
var towerCommands = []command{
	{"login", "log in to a tower: login --tower URL --token T [--ca FILE]", runLogin},
	{"tenants", "tenants: create, list, update", runTenants},
	{"tokens", "enrollment tokens: create, list, revoke", runTokens},
	{"claims", "claims of boxes by EK or serial: create, list, delete", runClaims},
	{"sites", "sites: list, show, pending, approve, reject, revoke, reenroll", runSites},
	{"apps", "tenants' app specs, versioned: put, list, show, delete", runTowerApps},
	{"deploy", "which app version runs on which sites (label selector): set, list, delete", runTowerDeploy},
	{"rollout", "a deployment's rollout (canary, batches): status, pause, resume, rollback", runTowerRollout},
	{"vault", "sites' vaults and remote unseal: show, requests, approve, refuse, approve-pcrs", runTowerVault},
	{"secrets", "tenants' secrets for sites (label selector), sealed to each site's vault: set, list, delete", runTowerSecrets},
	{"hubs", "intermediate hubs' certificates: add, list, revoke", runTowerHubs},
}

// siteCommands talk to this site's services over their unix sockets.
var siteCommands = []command{
	{"log", "the stream log: topics, records, cursors, tenant tokens", runLog},
	{"vault", "the vault: status, tokens, secrets, keys, rotation", runVault},
	{"apps", "the workload service's apps: list, put, delete", runApps},
	{"uplink", "the uplink: parent, connection, per topic lag, sent, resent, last ack", runUplink},
}

// group runs one of cmds, named by the first argument.
func group(name string, cmds []command) func(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	return func(ctx context.Context, stdout, stderr io.Writer, args []string) error {
		usage := func() {
			fmt.Fprintf(stderr, "usage: skerryctl %s <command> [flags]\n\ncommands:\n", name)
			for _, c := range cmds {
				fmt.Fprintf(stderr, "  %-10s %s\n", c.name, c.summary)
			}
		}
		if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
			usage()
			return flag.ErrHelp
		}
		for _, c := range cmds {
			if c.name == args[0] {
				return c.run(ctx, stdout, stderr, args[1:])
			}
		}
		usage()
		return fmt.Errorf("unknown command %q of skerryctl %s", args[0], name)
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Stdout, os.Stderr, os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "skerryctl: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		return flag.ErrHelp
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.run(ctx, stdout, stderr, args[1:])
		}
	}
	// The commands that moved down the tree say where they went.
	for _, g := range []struct {
		name string
		cmds []command
	}{{"tower", towerCommands}, {"site", siteCommands}} {
		for _, c := range g.cmds {
			if c.name == args[0] {
				return fmt.Errorf("unknown command %q: it is \"skerryctl %s %s\" now", args[0], g.name, c.name)
			}
		}
	}
	usage(stderr)
	return fmt.Errorf("unknown command %q", args[0])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: skerryctl <command> [flags]\n\ncommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
}
