package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/skerry/skerry/services/api/towerapi"
)

// towerVaultCommands are the "skerryctl tower vault" subcommands: sites' vaults
// as the tower sees them, and the decisions on remote unseals.
var towerVaultCommands = []towerCmd{
	{"show", "show SITE                           a site's vault: state, changed PCRs, escrow, open request", vaultShow},
	{"requests", "requests [-tenant T] [-state S]     list remote unseal requests", vaultRequests},
	{"approve", "approve REQUEST                     release the key for this request, once", vaultDecide("approve")},
	{"refuse", "refuse REQUEST                      refuse this request (the site stays sealed)", vaultDecide("refuse")},
	{"approve-pcrs", "approve-pcrs [-tenant T] [-image V] (-from REQUEST | -pcr I=HEX...)   approve PCR values for every site (an image version)", vaultApprovePCRs},
	{"approvals", "approvals                           list PCR approvals", vaultApprovals},
	{"withdraw", "withdraw APPROVAL                   withdraw a PCR approval", vaultWithdraw},
}

func runTowerVault(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	return runTowerGroup(ctx, stdout, stderr, "vault", towerVaultCommands, args)
}

func showUnsealRequests(tc *towerCtx, v any, rs ...towerapi.UnsealRequest) error {
	return tc.show(v, "ID\tSTATE\tSITE\tTENANT/NAME\tCHANGED PCRS\tIMAGE\tASKS\tLAST ASKED\tDECIDED BY", func(w io.Writer) {
		for _, r := range rs {
			by := r.DecidedBy
			if r.Approval != "" {
				by = r.Approval
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s/%s\t%s\t%s\t%d\t%s\t%s\n", r.ID, r.State, r.Site, r.Tenant, r.SiteName,
				intsString(r.ChangedPCRs), r.ImageVersion, r.Asks, ago(r.LastAsked), by)
		}
	})
}

func showPCRApprovals(tc *towerCtx, v any, as ...towerapi.PCRApproval) error {
	return tc.show(v, "ID\tTENANT\tIMAGE\tPCRS\tCREATED BY", func(w io.Writer) {
		for _, a := range as {
			tenant := a.Tenant
			if tenant == "" {
				tenant = "(all)"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", a.ID, tenant, a.ImageVersion, pcrsString(a.PCRs), a.CreatedBy)
		}
	})
}

func vaultShow(ctx context.Context, tc *towerCtx, args []string) error {
	s, err := oneSite(ctx, tc, args)
	if err != nil {
		return err
	}
	var v towerapi.SiteVault
	if err := tc.c.Do(ctx, "GET", "/v1/sites/"+url.PathEscape(s.ID)+"/vault", nil, &v); err != nil {
		return err
	}
	return tc.show(v, "FIELD\tVALUE", func(w io.Writer) {
		state, changed, reason := "not reported", "", ""
		if v.Reported != nil {
			state, changed, reason = v.Reported.State, intsString(v.Reported.ChangedPCRs), v.Reported.Reason
		}
		escrow := "no"
		if v.Escrowed {
			escrow = fmt.Sprintf("yes, generation %d, %s", v.Generation, ago(v.EscrowedAt))
		}
		fmt.Fprintf(w, "site\t%s\nstate\t%s\nchanged PCRs\t%s\nreason\t%s\nescrowed\t%s\n", v.Site, state, changed, reason, escrow)
		if r := v.OpenRequest; r != nil {
			fmt.Fprintf(w, "open request\t%s (%s, %d asks, last %s)\n", r.ID, r.State, r.Asks, ago(r.LastAsked))
		}
	})
}

func vaultRequests(ctx context.Context, tc *towerCtx, args []string) error {
	fs := tc.flags()
	tenant := fs.String("tenant", "", "only this tenant's requests")
	state := fs.String("state", "", "only requests in this state: pending, approved, refused, released")
	if _, err := tc.parse(fs, args, 0, "no arguments"); err != nil {
		return err
	}
	rs, err := listAll[towerapi.UnsealRequest](ctx, tc.c, "/v1/vault/requests"+query("tenant", *tenant, "state", *state))
	if err != nil {
		return err
	}
	return showUnsealRequests(tc, rs, rs...)
}

func vaultDecide(verb string) func(ctx context.Context, tc *towerCtx, args []string) error {
	return func(ctx context.Context, tc *towerCtx, args []string) error {
		pos, err := tc.parse(tc.flags(), args, 1, "an unseal request ID (skerryctl tower vault requests)")
		if err != nil {
			return err
		}
		var r towerapi.UnsealRequest
		if err := tc.c.Do(ctx, "POST", "/v1/vault/requests/"+url.PathEscape(pos[0])+"/"+verb, struct{}{}, &r); err != nil {
			return err
		}
		return showUnsealRequests(tc, r, r)
	}
}

func vaultApprovePCRs(ctx context.Context, tc *towerCtx, args []string) error {
	fs := tc.flags()
	in := towerapi.PCRApprovalCreate{PCRs: map[string]string{}}
	fs.StringVar(&in.Tenant, "tenant", "", "tenant whose sites it approves (empty: every tenant; operators only)")
	fs.StringVar(&in.ImageVersion, "image", "", "image version the values belong to (a label for people)")
	fs.StringVar(&in.FromRequest, "from", "", "take the values of this unseal request (a canary box's)")
	fs.Var(labelFlag(in.PCRs), "pcr", "PCR value `index=hex` (repeatable)")
	if _, err := tc.parse(fs, args, 0, "no arguments"); err != nil {
		return err
	}
	if len(in.PCRs) == 0 {
		in.PCRs = nil
	}
	var a towerapi.PCRApproval
	if err := tc.c.Do(ctx, "POST", "/v1/vault/pcr-approvals", in, &a); err != nil {
		return err
	}
	return showPCRApprovals(tc, a, a)
}

func vaultApprovals(ctx context.Context, tc *towerCtx, args []string) error {
	if _, err := tc.parse(tc.flags(), args, 0, "no arguments"); err != nil {
		return err
	}
	var l towerapi.List[towerapi.PCRApproval]
	if err := tc.c.Do(ctx, "GET", "/v1/vault/pcr-approvals", nil, &l); err != nil {
		return err
	}
	return showPCRApprovals(tc, l.Items, l.Items...)
}

func vaultWithdraw(ctx context.Context, tc *towerCtx, args []string) error {
	pos, err := tc.parse(tc.flags(), args, 1, "a PCR approval ID")
	if err != nil {
		return err
	}
	if err := tc.c.Do(ctx, "DELETE", "/v1/vault/pcr-approvals/"+url.PathEscape(pos[0]), nil, nil); err != nil {
		return err
	}
	fmt.Fprintf(tc.stdout, "withdrew PCR approval %s\n", pos[0])
	return nil
}

func intsString(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}

// pcrsString shows PCR values in index order, each hash cut to 12 digits.
func pcrsString(m map[string]string) string {
	keys := make([]int, 0, len(m))
	for k := range m {
		n, _ := strconv.Atoi(k)
		keys = append(keys, n)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		v := m[strconv.Itoa(k)]
		if len(v) > 12 {
			v = v[:12] + "…"
		}
		parts = append(parts, fmt.Sprintf("%d=%s", k, v))
	}
	return strings.Join(parts, " ")
}
