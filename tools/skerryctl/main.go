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

// commands lists every subcommand, in the order help shows them.
var commands = []command{
	{"flash", "write an image onto a device and verify it", runFlash},
	{"log", "manage and use the site's stream log: topics, records, cursors", runLog},
	{"login", "log in to a tower: login --tower URL --token T [--ca FILE]", runLogin},
	{"tenants", "tower tenants: create, list, update", runTenants},
	{"tokens", "tower enrollment tokens: create, list, revoke", runTokens},
	{"claims", "tower claims of boxes by EK or serial: create, list, delete", runClaims},
	{"sites", "tower sites: list, show, pending, approve, reject, revoke, reenroll", runSites},
	{"vault", "the site's vault: status, tokens, secrets, keys, rotation", runVault},
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
	usage(stderr)
	return fmt.Errorf("unknown command %q", args[0])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: skerryctl <command> [flags]\n\ncommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
}
