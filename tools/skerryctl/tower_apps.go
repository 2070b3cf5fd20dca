package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/skerry/skerry/services/api/towerapi"
	"github.com/skerry/skerry/services/api/workloadapi"
)

// appCommands are the "skerryctl tower apps" subcommands: app specs stored
// at the tower, each put a new version.
var appCommands = []towerCmd{
	{"put", "put -f SPEC.json                        store a new version of the app the spec names", appsPut},
	{"list", "list -tenant T                          list a tenant's apps (newest versions)", appsList},
	{"show", "show [-version N] TENANT/NAME           show an app's spec", appsShow},
	{"delete", "delete TENANT/NAME                      delete every version of an app (not while deployed)", appsDelete},
}

// deployCommands are the "skerryctl tower deploy" subcommands: which app
// version runs on which of the tenant's sites.
var deployCommands = []towerCmd{
	{"set", "set -version N [-selector k=v]... [strategy flags] TENANT/APP   run version N on the sites with these labels (none: every site of the tenant); with -canary or -batch step by step (see set -h)", deploySet},
	{"list", "list -tenant T                          list a tenant's deployments", deployList},
	{"delete", "delete TENANT/APP                       end a deployment; its sites stop the app", deployDelete},
}

// runTowerApps runs "skerryctl tower apps ...".
func runTowerApps(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	return runTowerGroup(ctx, stdout, stderr, "apps", appCommands, args)
}

// runTowerDeploy runs "skerryctl tower deploy ...".
func runTowerDeploy(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	return runTowerGroup(ctx, stdout, stderr, "deploy", deployCommands, args)
}

// appPath turns TENANT/NAME into /v1/tenants/TENANT/KIND/NAME, escaped.
func appPath(arg, kind string) (string, error) {
	tenant, name, ok := strings.Cut(arg, "/")
	if !ok || tenant == "" || name == "" || strings.Contains(name, "/") {
		return "", fmt.Errorf("%q: want TENANT/NAME", arg)
	}
	return "/v1/tenants/" + url.PathEscape(tenant) + "/" + kind + "/" + url.PathEscape(name), nil
}

func showApps(tc *towerCtx, v any, as ...towerapi.App) error {
	return tc.show(v, "TENANT\tNAME\tVERSION\tIMAGE\tCREATED\tBY", func(w io.Writer) {
		for _, a := range as {
			image := ""
			if a.Spec != nil {
				image = a.Spec.Image.Ref + a.Spec.Image.Archive
			}
			fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\t%s\n", a.Tenant, a.Name, a.Version, image, a.CreatedAt.Format(time.RFC3339), a.CreatedBy)
		}
	})
}

func appsPut(ctx context.Context, tc *towerCtx, args []string) error {
	fs := tc.flags()
	file := fs.String("f", "", "the app spec, JSON (services/api/workloadapi); - reads stdin")
	if _, err := tc.parse(fs, args, 0, "no arguments"); err != nil {
		return err
	}
	if *file == "" {
		return fmt.Errorf("%s: give the spec with -f FILE", tc.cmd)
	}
	var data []byte
	var err error
	if *file == "-" {
		data, err = io.ReadAll(io.LimitReader(os.Stdin, workloadapi.MaxSpecBytes+1))
	} else {
		data, err = os.ReadFile(*file)
	}
	if err != nil {
		return err
	}
	// Checked here first, so a bad spec is refused before it travels; the
	// tower checks it again with the same code.
	spec, err := workloadapi.Parse(data)
	if err != nil {
		return fmt.Errorf("%s: %w", *file, err)
	}
	path, err := appPath(spec.Tenant+"/"+spec.Name, "apps")
	if err != nil {
		return err
	}
	var a towerapi.App
	if err := tc.c.Do(ctx, "PUT", path, json.RawMessage(data), &a); err != nil {
		return err
	}
	return showApps(tc, a, a)
}

func appsList(ctx context.Context, tc *towerCtx, args []string) error {
	as, err := listOfTenant[towerapi.App](ctx, tc, args, "apps")
	if err != nil {
		return err
	}
	return showApps(tc, as, as...)
}

// listOfTenant lists /v1/tenants/T/KIND for "-tenant T".
func listOfTenant[T any](ctx context.Context, tc *towerCtx, args []string, kind string) ([]T, error) {
	fs := tc.flags()
	tenant := fs.String("tenant", "", "the tenant whose "+kind+" to list")
	if _, err := tc.parse(fs, args, 0, "no arguments"); err != nil {
		return nil, err
	}
	if *tenant == "" {
		return nil, fmt.Errorf("%s: name the tenant with -tenant", tc.cmd)
	}
	return listAll[T](ctx, tc.c, "/v1/tenants/"+url.PathEscape(*tenant)+"/"+kind)
}

// appsShow prints the spec itself, which is what a person wants to read
// or edit and put again; -o json gives the stored version record.
func appsShow(ctx context.Context, tc *towerCtx, args []string) error {
	fs := tc.flags()
	version := fs.Int("version", 0, "this version (default the newest)")
	pos, err := tc.parse(fs, args, 1, "TENANT/NAME")
	if err != nil {
		return err
	}
	path, err := appPath(pos[0], "apps")
	if err != nil {
		return err
	}
	q := ""
	if *version > 0 {
		q = "?version=" + strconv.Itoa(*version)
	}
	var a towerapi.App
	if err := tc.c.Do(ctx, "GET", path+q, nil, &a); err != nil {
		return err
	}
	if tc.out == "json" {
		return tc.show(a, "", nil)
	}
	fmt.Fprintf(tc.stdout, "# %s/%s version %d, stored %s by %s\n", a.Tenant, a.Name, a.Version, a.CreatedAt.Format(time.RFC3339), a.CreatedBy)
	data, err := a.Spec.Marshal()
	if err != nil {
		return err
	}
	_, err = tc.stdout.Write(data)
	return err
}

// onePath parses the flags of a command whose one argument is
// TENANT/NAME and returns the argument and its API path under kind.
func (tc *towerCtx) onePath(args []string, kind string) (arg, path string, err error) {
	pos, err := tc.parse(tc.flags(), args, 1, "TENANT/NAME")
	if err != nil {
		return "", "", err
	}
	path, err = appPath(pos[0], kind)
	return pos[0], path, err
}

func appsDelete(ctx context.Context, tc *towerCtx, args []string) error {
	arg, path, err := tc.onePath(args, "apps")
	if err != nil {
		return err
	}
	if err := tc.c.Do(ctx, "DELETE", path, nil, nil); err != nil {
		return err
	}
	fmt.Fprintf(tc.stdout, "deleted app %s\n", arg)
	return nil
}

func showDeployments(tc *towerCtx, v any, ds ...towerapi.Deployment) error {
	return tc.show(v, "TENANT\tAPP\tVERSION\tSELECTOR\tSET\tBY\tROLLOUT", func(w io.Writer) {
		for _, d := range ds {
			sel := labelsString(d.Selector)
			if sel == "" {
				sel = "(every site)"
			}
			fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", d.Tenant, d.App, d.Version, sel, d.CreatedAt.Format(time.RFC3339), d.CreatedBy, rolloutSummary(d))
		}
	})
}

func deploySet(ctx context.Context, tc *towerCtx, args []string) error {
	fs := tc.flags()
	in := towerapi.DeploymentSet{Selector: map[string]string{}}
	fs.IntVar(&in.Version, "version", 0, "the app version to run")
	fs.Var(labelFlag(in.Selector), "selector", "site label `key=value` the sites must have (repeatable)")
	strategy := strategyFlags(fs)
	pos, err := tc.parse(fs, args, 1, "TENANT/APP")
	if err != nil {
		return err
	}
	if in.Strategy, err = strategy(); err != nil {
		return fmt.Errorf("%s: %w", tc.cmd, err)
	}
	if in.Version < 1 {
		return fmt.Errorf("%s: name the app version with -version N (skerryctl tower apps list shows the newest)", tc.cmd)
	}
	path, err := appPath(pos[0], "deployments")
	if err != nil {
		return err
	}
	var d towerapi.Deployment
	if err := tc.c.Do(ctx, "PUT", path, in, &d); err != nil {
		return err
	}
	return showDeployments(tc, d, d)
}

func deployList(ctx context.Context, tc *towerCtx, args []string) error {
	ds, err := listOfTenant[towerapi.Deployment](ctx, tc, args, "deployments")
	if err != nil {
		return err
	}
	return showDeployments(tc, ds, ds...)
}

func deployDelete(ctx context.Context, tc *towerCtx, args []string) error {
	arg, path, err := tc.onePath(args, "deployments")
	if err != nil {
		return err
	}
	if err := tc.c.Do(ctx, "DELETE", path, nil, nil); err != nil {
		return err
	}
	fmt.Fprintf(tc.stdout, "ended the deployment of %s\n", arg)
	return nil
}

// appStatusText is one app's status as the site reported it, in a line:
// "running, healthy, 2 restarts, last exit: exit status 1".
func appStatusText(a workloadapi.Status) string {
	parts := []string{a.State}
	if a.Health != "" {
		parts = append(parts, a.Health)
	}
	if a.Restarts > 0 {
		parts = append(parts, fmt.Sprintf("%d restarts", a.Restarts))
	}
	for _, kv := range [][2]string{{"last exit", a.LastExit}, {"error", a.Error}, {"health check", a.HealthError}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+": "+kv[1])
		}
	}
	return strings.Join(parts, ", ")
}
