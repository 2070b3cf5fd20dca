package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"

	"github.com/skerry/skerry/services/api/towerapi"
)

// sitesControl sends the site one control record through the tower's
// embedded hub: "sites control SITE JSON" or "sites control SITE -f FILE"
// (- for stdin). The site's uplink appends it to its system/downlink.
func sitesControl(ctx context.Context, tc *towerCtx, args []string) error {
	fs := tc.flags()
	tenant := fs.String("tenant", "", "tenant of the site, when its name is not unique")
	file := fs.String("f", "", "read the JSON value from this `file` (- for stdin) instead of the argument")
	pos, err := tc.parse(fs, args, 2, "a site ID or name and a JSON value (or -f FILE)")
	if err != nil && *file != "" {
		pos, err = tc.parse(fs, args, 1, "a site ID or name, with -f FILE")
	}
	if err != nil {
		return err
	}
	if *file != "" && len(pos) == 2 {
		return fmt.Errorf("%s: give the JSON value as an argument or with -f FILE, not both", tc.cmd)
	}
	var value []byte
	switch {
	case *file == "-":
		value, err = io.ReadAll(io.LimitReader(os.Stdin, controlMax+1))
	case *file != "":
		value, err = readLimited(*file)
	default:
		value = []byte(pos[1])
	}
	if err != nil {
		return err
	}
	if len(value) > controlMax {
		return fmt.Errorf("control record: larger than %d bytes, which the tower refuses", controlMax)
	}
	if !json.Valid(value) {
		return fmt.Errorf("control record %q: not one JSON value (quote text as a JSON string, e.g. '\"restart\"')", clip(value))
	}
	s, err := resolveSite(ctx, tc, pos[0], *tenant)
	if err != nil {
		return err
	}
	var sent towerapi.ControlSent
	if err := tc.c.Do(ctx, "POST", "/v1/sites/"+url.PathEscape(s.ID)+"/control", json.RawMessage(value), &sent); err != nil {
		return err
	}
	return tc.show(sent, "SITE\tTOPIC\tOFFSET", func(w io.Writer) {
		fmt.Fprintf(w, "%s\t%s\t%d\n", sent.Site, sent.Topic, sent.Offset)
	})
}

// controlMax is the tower's limit on a control record (its body limit).
const controlMax = 64 << 10

// readLimited reads file, at most controlMax+1 bytes.
func readLimited(file string) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, controlMax+1))
}

// clip shortens v for a message.
func clip(v []byte) string {
	if len(v) > 60 {
		return string(v[:60]) + "..."
	}
	return string(v)
}
