package main

import (
	"context"
	"fmt"
	"io"
	"net/url"

	"github.com/skerry/skerry/services/api/towerapi"
)

// claimCommands are the "skerryctl tower claims" subcommands. A claim names the
// box by EK hash (proved by its TPM) or serial (only said by the box).
var claimCommands = []towerCmd{
	{"create", "create -tenant T -name SITE (-ek HASH | -serial S) [-label k=v]...   claim a box", claimsCreate},
	{"list", "list [-tenant T]                    list claims", claimsList},
	{"delete", "delete [-tenant T] ID               delete a claim (ek:HASH or serial:S)", claimsDelete},
}

func runClaims(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	return runTowerGroup(ctx, stdout, stderr, "claims", claimCommands, args)
}

func showClaims(tc *towerCtx, v any, cs ...towerapi.Claim) error {
	return tc.show(v, "ID\tTENANT\tSITE NAME\tLABELS\tUSED BY", func(w io.Writer) {
		for _, c := range cs {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", c.ID, c.Tenant, c.SiteName, labelsString(c.Labels), c.UsedBy)
		}
	})
}

func claimsCreate(ctx context.Context, tc *towerCtx, args []string) error {
	fs := tc.flags()
	in := towerapi.ClaimCreate{Labels: map[string]string{}}
	fs.StringVar(&in.Tenant, "tenant", "", "tenant the box belongs to")
	fs.StringVar(&in.SiteName, "name", "", "the site's name")
	fs.StringVar(&in.EKHash, "ek", "", "SHA-256 of the box's EK (PKIX DER), hex")
	fs.StringVar(&in.Serial, "serial", "", "the box's serial number (weaker: the box only says it)")
	fs.Var(labelFlag(in.Labels), "label", "label `key=value` (repeatable)")
	if _, err := tc.parse(fs, args, 0, "no arguments"); err != nil {
		return err
	}
	var c towerapi.Claim
	if err := tc.c.Do(ctx, "POST", "/v1/claims", in, &c); err != nil {
		return err
	}
	return showClaims(tc, c, c)
}

func claimsList(ctx context.Context, tc *towerCtx, args []string) error {
	fs := tc.flags()
	tenant := fs.String("tenant", "", "only this tenant's claims")
	if _, err := tc.parse(fs, args, 0, "no arguments"); err != nil {
		return err
	}
	cs, err := listAll[towerapi.Claim](ctx, tc.c, "/v1/claims"+query("tenant", *tenant))
	if err != nil {
		return err
	}
	return showClaims(tc, cs, cs...)
}

// claimsDelete escapes the ID: a serial may hold '/' or spaces.
func claimsDelete(ctx context.Context, tc *towerCtx, args []string) error {
	fs := tc.flags()
	tenant := fs.String("tenant", "", "the tenant whose claim to delete (default: your token's; an operator needs it when several tenants claim the ID)")
	pos, err := tc.parse(fs, args, 1, "the claim ID")
	if err != nil {
		return err
	}
	if err := tc.c.Do(ctx, "DELETE", "/v1/claims/"+url.PathEscape(pos[0])+query("tenant", *tenant), nil, nil); err != nil {
		return err
	}
	fmt.Fprintf(tc.stdout, "deleted claim %s\n", pos[0])
	return nil
}
