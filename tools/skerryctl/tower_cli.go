package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/skerry/skerry/services/api/towerapi"
)

// towerCmd is one subcommand of a tower resource ("tenants create").
type towerCmd struct {
	name, usage string
	run         func(ctx context.Context, tc *towerCtx, args []string) error
}

// towerCtx carries what every tower subcommand needs.
type towerCtx struct {
	c      *towerapi.Client
	stdout io.Writer
	stderr io.Writer
	out    string // -o: table or json
	cmd    string
}

// runTowerGroup dispatches "skerryctl <group> <command> [flags] [args]".
func runTowerGroup(ctx context.Context, stdout, stderr io.Writer, group string, cmds []towerCmd, args []string) error {
	usage := func() {
		fmt.Fprintf(stderr, "usage: skerryctl tower %s <command> [flags] [-o table|json]\n\ncommands:\n", group)
		for _, c := range cmds {
			fmt.Fprintf(stderr, "  %s\n", c.usage)
		}
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage()
		return flag.ErrHelp
	}
	for _, c := range cmds {
		if c.name == args[0] {
			return escapeErr(c.run(ctx, &towerCtx{stdout: escapeWriter{stdout}, stderr: stderr, cmd: group + " " + c.name}, args[1:]))
		}
	}
	usage()
	return fmt.Errorf("unknown %s command %q", group, args[0])
}

// flags returns the subcommand's flag set, with -o declared.
func (tc *towerCtx) flags() *flag.FlagSet {
	fs := flag.NewFlagSet(tc.cmd, flag.ContinueOnError)
	fs.SetOutput(tc.stderr)
	fs.StringVar(&tc.out, "o", "table", "output: table (for people) or json (for scripts)")
	return fs
}

// parse parses args, allowing flags after positional arguments ("sites
// show web-1 -o json"), checks that there are want positionals, and
// connects to the tower of the saved login.
func (tc *towerCtx) parse(fs *flag.FlagSet, args []string, want int, names string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos, args = append(pos, args[0]), args[1:]
	}
	if len(pos) != want {
		return nil, fmt.Errorf("%s: want %s, got %d arguments", tc.cmd, names, len(pos))
	}
	if tc.out != "table" && tc.out != "json" {
		return nil, fmt.Errorf("-o %q: want table or json", tc.out)
	}
	c, err := towerClient()
	if err != nil {
		return nil, err
	}
	tc.c = c
	return pos, nil
}

// show prints v as JSON, or as a table of rows under header.
func (tc *towerCtx) show(v any, header string, rows func(w io.Writer)) error {
	if tc.out == "json" {
		enc := json.NewEncoder(tc.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	tw := tabwriter.NewWriter(tc.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	rows(tw)
	return tw.Flush()
}

// listAll follows the cursors of a list endpoint to its end.
func listAll[T any](ctx context.Context, c *towerapi.Client, path string) ([]T, error) {
	var all []T
	cursor := ""
	for {
		p := path
		if cursor != "" {
			sep := "?"
			if strings.Contains(p, "?") {
				sep = "&"
			}
			p += sep + "cursor=" + cursor
		}
		var page towerapi.List[T]
		if err := c.Do(ctx, "GET", p, nil, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Items...)
		if page.NextCursor == "" {
			return all, nil
		}
		cursor = page.NextCursor
	}
}

// labelFlag collects repeated -label key=value flags.
type labelFlag map[string]string

func (l labelFlag) String() string { return "" }
func (l labelFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("label %q: want key=value", v)
	}
	l[k] = val
	return nil
}

func labelsString(m map[string]string) string {
	var parts []string
	for k, v := range m {
		parts = append(parts, k+"="+v)
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

// query builds "?k=v&..." from the non-empty pairs.
func query(kv ...string) string {
	var parts []string
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			parts = append(parts, kv[i]+"="+url.QueryEscape(kv[i+1]))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "?" + strings.Join(parts, "&")
}
