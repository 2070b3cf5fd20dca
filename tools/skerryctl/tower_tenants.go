package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/skerry/skerry/services/api/towerapi"
	"github.com/skerry/skerry/services/api/workloadapi"
)

// tenantCommands are the "skerryctl tower tenants" subcommands. Creating a
// tenant and changing its software-identity policy need an operator token.
var tenantCommands = []towerCmd{
	{"create", "create [-name N] [-allow-software-identity] ID   create a tenant", tenantsCreate},
	{"list", "list                                             list tenants", tenantsList},
	{"update", "update [-name N] [-allow-software-identity=true|false] [-quota-cpu C] [-quota-memory M] [-quota-pids P | -no-quota] ID", tenantsUpdate},
}

func runTenants(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	return runTowerGroup(ctx, stdout, stderr, "tenants", tenantCommands, args)
}

// showTenants prints tenants; the policy column spells out what a box
// without a TPM gets, rather than a bare true/false.
func showTenants(tc *towerCtx, v any, ts ...towerapi.Tenant) error {
	return tc.show(v, "ID\tNAME\tSOFTWARE IDENTITY\tQUOTA\tCREATED", func(w io.Writer) {
		for _, t := range ts {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, yesNo(t.AllowSoftwareIdentity, "allowed", "refused"), quotaText(t.Quota), t.CreatedAt.Format("2006-01-02 15:04"))
		}
	})
}

// quotaText words a tenant's quota for a table.
func quotaText(q *workloadapi.Resources) string {
	if q == nil {
		return "sites' default"
	}
	var parts []string
	if q.CPU != "" {
		parts = append(parts, "cpu "+q.CPU)
	}
	if q.Memory != "" {
		parts = append(parts, "memory "+q.Memory)
	}
	if q.Pids > 0 {
		parts = append(parts, fmt.Sprintf("pids %d", q.Pids))
	}
	return strings.Join(parts, ", ")
}

// tenantFlags parses create's and update's flags and the tenant ID.
func tenantFlags(tc *towerCtx, args []string, more ...func(*flag.FlagSet)) (fs *flag.FlagSet, name *string, soft *bool, pos []string, err error) {
	fs = tc.flags()
	name = fs.String("name", "", "display name")
	soft = fs.Bool("allow-software-identity", false, "let boxes without a TPM enroll into this tenant")
	for _, f := range more {
		f(fs)
	}
	pos, err = tc.parse(fs, args, 1, "the tenant ID")
	return fs, name, soft, pos, err
}

func tenantsCreate(ctx context.Context, tc *towerCtx, args []string) error {
	_, name, soft, pos, err := tenantFlags(tc, args)
	if err != nil {
		return err
	}
	var t towerapi.Tenant
	if err := tc.c.Do(ctx, "POST", "/v1/tenants", towerapi.Tenant{ID: pos[0], Name: *name, AllowSoftwareIdentity: *soft}, &t); err != nil {
		return err
	}
	return showTenants(tc, t, t)
}

func tenantsList(ctx context.Context, tc *towerCtx, args []string) error {
	if _, err := tc.parse(tc.flags(), args, 0, "no arguments"); err != nil {
		return err
	}
	ts, err := listAll[towerapi.Tenant](ctx, tc.c, "/v1/tenants")
	if err != nil {
		return err
	}
	return showTenants(tc, ts, ts...)
}

// tenantsUpdate sends only the flags given on the command line, so an
// update never resets a field the operator did not name.
func tenantsUpdate(ctx context.Context, tc *towerCtx, args []string) error {
	var q workloadapi.Resources
	var noQuota bool
	fs, name, soft, pos, err := tenantFlags(tc, args, func(fs *flag.FlagSet) {
		fs.StringVar(&q.CPU, "quota-cpu", "", `the tenant's CPU on each of its sites, cores ("2") or millicores ("500m")`)
		fs.StringVar(&q.Memory, "quota-memory", "", `the tenant's memory on each of its sites ("512Mi")`)
		fs.Int64Var(&q.Pids, "quota-pids", 0, "the tenant's processes on each of its sites")
		fs.BoolVar(&noQuota, "no-quota", false, "remove the tenant's quota: its sites' defaults apply")
	})
	if err != nil {
		return err
	}
	var in towerapi.TenantUpdate
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "name":
			in.Name = name
		case "allow-software-identity":
			in.AllowSoftwareIdentity = soft
		case "quota-cpu", "quota-memory", "quota-pids", "no-quota":
			// The quota is sent whole: the flags given make the new one.
			in.Quota = &q
		}
	})
	if noQuota && q != (workloadapi.Resources{}) {
		return fmt.Errorf("-no-quota with -quota-*: give one or the other")
	}
	var t towerapi.Tenant
	if err := tc.c.Do(ctx, "PATCH", "/v1/tenants/"+pos[0], in, &t); err != nil {
		return err
	}
	return showTenants(tc, t, t)
}

// yesNo words a flag for a table.
func yesNo(b bool, yes, no string) string {
	if b {
		return yes
	}
	return no
}
