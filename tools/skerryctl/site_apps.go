package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/skerry/skerry/services/api/workloadapi"
	"github.com/skerry/skerry/services/contract"
	"github.com/skerry/skerry/services/httpjson"
)

// runApps is "skerryctl site apps": the apps of this site's workload
// service, over its root-only socket.
func runApps(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	fs := flag.NewFlagSet("apps", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sock := fs.String("socket", envOr("SKERRY_WORKLOAD_SOCKET", contract.WorkloadSocket), "workload API socket ($SKERRY_WORKLOAD_SOCKET)")
	out := fs.String("o", "table", "output: table (for people) or json (for scripts)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, `usage: skerryctl site apps [-socket S] [-o table|json] <command>

commands:
  list                 the apps this site runs, with their state and health
  put FILE             add or replace an app from its spec (- for stdin)
  delete TENANT/NAME   stop and forget an app (its volumes stay)`)
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out != "table" && *out != "json" {
		return fmt.Errorf("-o %q: want table or json", *out)
	}
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", *sock)
	}}}
	call := func(method, path string, body []byte, v any) error {
		req, err := http.NewRequestWithContext(ctx, method, "http://workload"+path, bytes.NewReader(body))
		if err != nil {
			return err
		}
		resp, err := c.Do(req)
		if err != nil {
			return fmt.Errorf("reach the workload service at %s: %w", *sock, err)
		}
		defer resp.Body.Close()
		if resp.StatusCode >= 300 {
			return escapeErr(httpjson.ReadError(resp))
		}
		if v == nil {
			return nil
		}
		return json.NewDecoder(resp.Body).Decode(v)
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fs.Usage()
		return flag.ErrHelp
	}
	switch cmd := rest[0]; {
	case cmd == "list" && len(rest) == 1:
		var apps []workloadapi.App
		if err := call("GET", "/v1/apps", nil, &apps); err != nil {
			return err
		}
		if *out == "json" {
			enc := json.NewEncoder(escapeWriter{stdout})
			enc.SetIndent("", "  ")
			return enc.Encode(apps)
		}
		tw := tabwriter.NewWriter(escapeWriter{stdout}, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "TENANT\tNAME\tIMAGE\tSTATE\tHEALTH\tRESTARTS\tLAST EXIT\tPORTS")
		for _, a := range apps {
			img := a.Spec.Image.Ref
			if img == "" {
				img = a.Spec.Image.Archive
			}
			ports := make([]string, len(a.Spec.Ports))
			for i, p := range a.Spec.Ports {
				ports[i] = p.String()
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", a.Spec.Tenant, a.Spec.Name, img, a.Status.State,
				dash(a.Status.Health), a.Status.Restarts, dash(a.Status.LastExit), dash(strings.Join(ports, ",")))
		}
		return tw.Flush()
	case cmd == "put" && len(rest) == 2:
		var data []byte
		var err error
		if rest[1] == "-" {
			data, err = io.ReadAll(io.LimitReader(os.Stdin, workloadapi.MaxSpecBytes+1))
		} else {
			data, err = os.ReadFile(rest[1])
		}
		if err != nil {
			return fmt.Errorf("read spec: %w", err)
		}
		// Checked here first, so a bad spec is refused with its field
		// before anything is sent.
		spec, err := workloadapi.Parse(data)
		if err != nil {
			return fmt.Errorf("%s: %w", rest[1], err)
		}
		body, _ := json.Marshal(spec)
		if err := call("PUT", "/v1/apps/"+spec.Tenant+"/"+spec.Name, body, nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "app %s/%s applied\n", spec.Tenant, spec.Name)
		return nil
	case cmd == "delete" && len(rest) == 2:
		tenant, name, ok := strings.Cut(rest[1], "/")
		if !ok || tenant == "" || name == "" || strings.Contains(name, "/") {
			return fmt.Errorf("delete %q: want TENANT/NAME", rest[1])
		}
		if err := call("DELETE", "/v1/apps/"+tenant+"/"+name, nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "app %s/%s deleted\n", tenant, name)
		return nil
	default:
		fs.Usage()
		return fmt.Errorf("unknown or incomplete command %q", strings.Join(rest, " "))
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
