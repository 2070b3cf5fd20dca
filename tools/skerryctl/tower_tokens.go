package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/skerry/skerry/services/api/towerapi"
)

// tokenCommands are the "skerryctl tower tokens" subcommands: enrollment
// tokens, which boxes present in their site config.
var tokenCommands = []towerCmd{
	{"create", "create -tenant T [-ttl 24h] [-max-uses N] [-label k=v]... [-description D]   create an enrollment token", tokensCreate},
	{"list", "list [-tenant T]                 list enrollment tokens", tokensList},
	{"revoke", "revoke ID                        revoke an enrollment token", tokensRevoke},
}

func runTokens(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	return runTowerGroup(ctx, stdout, stderr, "tokens", tokenCommands, args)
}

// showTokens prints uses as used/max ("-" for no limit) and the state the
// tower computed, which says why a box would be refused.
func showTokens(tc *towerCtx, v any, ts ...towerapi.EnrollToken) error {
	return tc.show(v, "ID\tTENANT\tSTATE\tUSES\tEXPIRES\tLABELS\tDESCRIPTION", func(w io.Writer) {
		for _, t := range ts {
			uses := fmt.Sprintf("%d/%d", t.Uses, t.MaxUses)
			if t.MaxUses == 0 {
				uses = fmt.Sprintf("%d/-", t.Uses)
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Tenant, t.State, uses, t.ExpiresAt.Format("2006-01-02 15:04"), labelsString(t.Labels), t.Description)
		}
	})
}

// tokensCreate prints the secret after the table: it is shown once, and
// the table alone would hide it in a wide line.
func tokensCreate(ctx context.Context, tc *towerCtx, args []string) error {
	fs := tc.flags()
	in := towerapi.EnrollTokenCreate{Labels: map[string]string{}}
	fs.StringVar(&in.Tenant, "tenant", "", "tenant the boxes enroll into")
	ttl := fs.Duration("ttl", 24*time.Hour, "how long the token is valid")
	fs.IntVar(&in.MaxUses, "max-uses", 0, "how many boxes may enroll with it (0: no limit)")
	fs.StringVar(&in.Description, "description", "", "what the token is for")
	fs.Var(labelFlag(in.Labels), "label", "label `key=value` given to the sites (repeatable)")
	if _, err := tc.parse(fs, args, 0, "no arguments"); err != nil {
		return err
	}
	in.TTLSeconds = int64(ttl.Seconds())
	var out towerapi.EnrollTokenCreated
	if err := tc.c.Do(ctx, "POST", "/v1/enrollment-tokens", in, &out); err != nil {
		return err
	}
	if tc.out == "json" {
		return tc.show(out, "", nil)
	}
	if err := showTokens(tc, nil, out.EnrollToken); err != nil {
		return err
	}
	fmt.Fprintf(tc.stdout, "\ntoken (shown once; put it in the site config as tower.enrollmentToken):\n%s\n", out.Token)
	return nil
}

func tokensList(ctx context.Context, tc *towerCtx, args []string) error {
	fs := tc.flags()
	tenant := fs.String("tenant", "", "only this tenant's tokens")
	if _, err := tc.parse(fs, args, 0, "no arguments"); err != nil {
		return err
	}
	ts, err := listAll[towerapi.EnrollToken](ctx, tc.c, "/v1/enrollment-tokens"+query("tenant", *tenant))
	if err != nil {
		return err
	}
	return showTokens(tc, ts, ts...)
}

func tokensRevoke(ctx context.Context, tc *towerCtx, args []string) error {
	pos, err := tc.parse(tc.flags(), args, 1, "the token ID")
	if err != nil {
		return err
	}
	var t towerapi.EnrollToken
	if err := tc.c.Do(ctx, "POST", "/v1/enrollment-tokens/"+pos[0]+"/revoke", nil, &t); err != nil {
		return err
	}
	return showTokens(tc, t, t)
}
