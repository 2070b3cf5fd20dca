package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/skerry/skerry/services/contract"
	"github.com/skerry/skerry/services/streamlog/client"
)

// logCommands are the "skerryctl site log" subcommands.
var logCommands = []struct {
	name, summary string
	run           func(ctx context.Context, lc *logCtx, args []string) error
}{
	{"create", "create a topic: create [-volatile] [-max-bytes N] [-max-age D] [-max-records N] [-reject] tenant/name", logCreate},
	{"list", "list topics: list [-tenant T]", logList},
	{"describe", "show a topic, its cursors and traffic: describe tenant/name", logDescribe},
	{"delete", "delete a topic: delete tenant/name", logDelete},
	{"produce", "append stdin's lines as records: produce [-key K] tenant/name", logProduce},
	{"consume", "print records: consume [-offset N | -time T | -cursor C] [-n N] tenant/name", logConsume},
	{"tail", "print records as they are appended: tail [-offset N | -time T | -cursor C] tenant/name", logTail},
	{"token", "create a tenant token (system token only): token tenant", logToken},
	{"status", "print the service's status as JSON", logStatus},
	{"metrics", "print the Prometheus metrics", logMetrics},
}

// logCtx carries what every log subcommand needs.
type logCtx struct {
	c      *client.Client
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

func runLog(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	return runLogIO(ctx, os.Stdin, stdout, stderr, args)
}

// runLogIO is runLog with its standard input passed in, for tests.
func runLogIO(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer, args []string) error {
	fs := flag.NewFlagSet("log", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", envOr("SKERRY_LOG_ADDR", client.DefaultSocket), "stream log API: socket path or loopback host:port ($SKERRY_LOG_ADDR)")
	tokenFile := fs.String("token-file", contract.Home("streamlog")+"/system.token", "file holding the API token ($SKERRY_LOG_TOKEN overrides it)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: skerryctl site log [-addr A] [-token-file F] <command> [flags] [args]\n\ncommands:")
		for _, c := range logCommands {
			fmt.Fprintf(stderr, "  %-9s %s\n", c.name, c.summary)
		}
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return flag.ErrHelp
	}
	tok := os.Getenv("SKERRY_LOG_TOKEN")
	if tok == "" {
		b, err := os.ReadFile(*tokenFile)
		if err != nil {
			return fmt.Errorf("read token: %w (set $SKERRY_LOG_TOKEN or -token-file)", err)
		}
		tok = string(b)
	}
	c, err := client.New(*addr, client.WithToken(tok))
	if err != nil {
		return err
	}
	defer c.Close()
	lc := &logCtx{c: c, stdin: stdin, stdout: stdout, stderr: stderr}
	for _, cmd := range logCommands {
		if cmd.name == fs.Arg(0) {
			return cmd.run(ctx, lc, fs.Args()[1:])
		}
	}
	fs.Usage()
	return fmt.Errorf("unknown log command %q", fs.Arg(0))
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// oneTopic parses flags and the single topic argument.
func oneTopic(fs *flag.FlagSet, args []string) (string, error) {
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	if fs.NArg() != 1 || !strings.Contains(fs.Arg(0), "/") {
		fs.Usage()
		return "", errors.New("want one topic, tenant/name")
	}
	return fs.Arg(0), nil
}
