package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/skerry/skerry/services/api/towerapi"
)

// tenantCommands are the "skerryctl tower tenants" subcommands. Creating a
// tenant and changing its software-identity policy need an operator token.
var tenantCommands = []towerCmd{
	{"create", "create [-name N] [-allow-software-identity] ID   create a tenant", tenantsCreate},
	{"list", "list                                             list tenants", tenantsList},
	{"update", "update [-name N] [-allow-software-identity=true|false] ID", tenantsUpdate},
}

func runTenants(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	return runTowerGroup(ctx, stdout, stderr, "tenants", tenantCommands, args)
}

// showTenants prints tenants; the policy column spells out what a box
// without a TPM gets, rather than a bare true/false.
func showTenants(tc *towerCtx, v any, ts ...towerapi.Tenant) error {
	return tc.show(v, "ID\tNAME\tSOFTWARE IDENTITY\tCREATED", func(w io.Writer) {
		for _, t := range ts {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", t.ID, t.Name, yesNo(t.AllowSoftwareIdentity, "allowed", "refused"), t.CreatedAt.Format("2006-01-02 15:04"))
		}
	})
}

// tenantFlags parses create's and update's flags and the tenant ID.
func tenantFlags(tc *towerCtx, args []string) (fs *flag.FlagSet, name *string, soft *bool, pos []string, err error) {
	fs = tc.flags()
	name = fs.String("name", "", "display name")
	soft = fs.Bool("allow-software-identity", false, "let boxes without a TPM enroll into this tenant")
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
	fs, name, soft, pos, err := tenantFlags(tc, args)
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
		}
	})
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
