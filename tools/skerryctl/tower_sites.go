package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/skerry/skerry/services/api/towerapi"
)

// sitesCommands are the "skerryctl tower sites" subcommands. Pending boxes are
// listed by "sites pending" and addressed by EK hash: they have no site
// ID until they register.
var sitesCommands = []towerCmd{
	{"list", "list [-tenant T]                          list sites", sitesList},
	{"show", "show [-tenant T] SITE                     show a site (ID or name)", sitesShow},
	{"pending", "pending                                   list boxes waiting for approval", sitesPending},
	{"approve", "approve -tenant T -name N [-label k=v]... EKHASH   let a pending box register", sitesApprove},
	{"reject", "reject EKHASH                             refuse a pending box", sitesReject},
	{"revoke", "revoke [-tenant T] SITE                   end a site's identity, for good", sitesRevoke},
	{"reenroll", "reenroll [-tenant T] SITE                 let a site that lost its identity enroll once more", sitesReenroll},
	{"topics", "topics [-tenant T] SITE                   list the topics the site uplinked to the tower", sitesTopics},
	{"read", "read [-tenant T] SITE TENANT/NAME [-offset N|-since TIME] [-n M]   read a site topic's records at the tower", sitesRead},
	{"tail", "tail [-tenant T] SITE TENANT/NAME [-offset N]   print a site topic's records as they reach the tower", sitesTail},
	{"control", "control [-tenant T] SITE JSON|-f FILE     send the site a control record (its system/downlink)", sitesControl},
}

func runSites(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	return runTowerGroup(ctx, stdout, stderr, "sites", sitesCommands, args)
}

// siteName shows the name, marked when nothing proves which box it is.
func siteName(s towerapi.Site) string {
	if s.SoftwareIdentity {
		return s.Name + " (software identity)"
	}
	return s.Name
}

// ago renders a time as an age, which is what a person scanning a table
// wants from last-seen.
func ago(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return time.Since(t).Round(time.Second).String() + " ago"
}

func showSites(tc *towerCtx, v any, ss ...towerapi.Site) error {
	return tc.show(v, "ID\tTENANT\tNAME\tSTATE\tLAST SEEN\tAGENT\tIMAGE\tLABELS", func(w io.Writer) {
		for _, s := range ss {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, s.Tenant, siteName(s), s.State, ago(s.LastSeen), s.AgentVersion, s.ImageVersion, labelsString(s.Labels))
		}
	})
}

func sitesList(ctx context.Context, tc *towerCtx, args []string) error {
	fs := tc.flags()
	tenant := fs.String("tenant", "", "only this tenant's sites")
	if _, err := tc.parse(fs, args, 0, "no arguments"); err != nil {
		return err
	}
	ss, err := listAll[towerapi.Site](ctx, tc.c, "/v1/sites"+query("tenant", *tenant))
	if err != nil {
		return err
	}
	return showSites(tc, ss, ss...)
}

// resolveSite finds a site by ID, or by name (in -tenant when names repeat
// across tenants).
func resolveSite(ctx context.Context, tc *towerCtx, arg, tenant string) (towerapi.Site, error) {
	var s towerapi.Site
	if strings.HasPrefix(arg, "site-") {
		err := tc.c.Do(ctx, "GET", "/v1/sites/"+url.PathEscape(arg), nil, &s)
		return s, err
	}
	ss, err := listAll[towerapi.Site](ctx, tc.c, "/v1/sites"+query("name", arg, "tenant", tenant))
	if err != nil {
		return s, err
	}
	switch len(ss) {
	case 0:
		return s, fmt.Errorf("no site named %q; skerryctl tower sites list shows them", arg)
	case 1:
		return ss[0], nil
	}
	return s, fmt.Errorf("%d sites are named %q; name the tenant with -tenant or use the site ID", len(ss), arg)
}

// oneSite parses the arguments of a command that takes one site, by ID
// or by name (-tenant when the name is not unique), and finds it.
func oneSite(ctx context.Context, tc *towerCtx, args []string) (towerapi.Site, error) {
	fs := tc.flags()
	tenant := fs.String("tenant", "", "tenant of the site, when its name is not unique")
	pos, err := tc.parse(fs, args, 1, "a site ID or name")
	if err != nil {
		return towerapi.Site{}, err
	}
	return resolveSite(ctx, tc, pos[0], *tenant)
}

// sitesShow prints one site as field/value rows; the identity row says in
// words when no TPM stands behind the site.
func sitesShow(ctx context.Context, tc *towerCtx, args []string) error {
	s, err := oneSite(ctx, tc, args)
	if err != nil {
		return err
	}
	// A name resolves through the list, whose views leave out the uplink
	// state: read the site itself.
	if err := tc.c.Do(ctx, "GET", "/v1/sites/"+url.PathEscape(s.ID), nil, &s); err != nil {
		return err
	}
	return tc.show(s, "FIELD\tVALUE", func(w io.Writer) {
		identity := "TPM (EK " + s.EKHash + ")"
		if s.SoftwareIdentity {
			identity = "SOFTWARE: no TPM holds the key; nothing proves which box this is"
		}
		for _, kv := range [][2]string{
			{"id", s.ID}, {"name", s.Name}, {"tenant", s.Tenant}, {"state", s.State},
			{"identity", identity}, {"labels", labelsString(s.Labels)}, {"serial", s.Serial},
			{"hostname", s.Hostname}, {"enrolled", s.EnrolledAt.Format(time.RFC3339) + " via " + s.EnrolledVia},
			{"certificate", s.CertificateSerial + " until " + s.CertificateNotAfter.Format("2006-01-02")},
			{"first seen", ago(s.FirstSeen)}, {"last seen", ago(s.LastSeen)},
			{"agent", s.AgentVersion}, {"image", s.ImageVersion}, {"boot id", s.BootID},
			{"uptime", (time.Duration(s.UptimeSeconds) * time.Second).String()},
			{"re-enroll allowed", yesNo(s.ReenrollAllowed, "yes, once", "no")},
		} {
			fmt.Fprintf(w, "%s\t%s\n", kv[0], kv[1])
		}
		for _, a := range s.Apps {
			fmt.Fprintf(w, "app %s/%s\t%s\n", a.Tenant, a.Name, appStatusText(a))
		}
		if v := s.Vault; v != nil {
			fmt.Fprintf(w, "vault\t%s%s\n", v.State, yesNo(len(v.ChangedPCRs) > 0, " (PCR "+intsString(v.ChangedPCRs)+" changed)", ""))
		}
		for _, u := range s.Uplink {
			fmt.Fprintf(w, "uplink %s/%s\t%s\n", u.Tenant, u.Name, uplinkText(u))
		}
	})
}

func showPending(tc *towerCtx, v any, ps ...towerapi.Pending) error {
	return tc.show(v, "EK HASH\tSTATE\tIDENTITY\tHOSTNAME\tSERIAL\tATTEMPTS\tLAST SEEN\tAPPROVED AS", func(w io.Writer) {
		for _, p := range ps {
			as := ""
			if p.Tenant != "" {
				as = p.Tenant + "/" + p.SiteName
			}
			id := "hardware"
			if p.SoftwareIdentity {
				id = "software"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", p.EKHash, p.State, id, p.Hostname, p.Serial, p.Attempts, ago(p.LastSeen), as)
		}
	})
}

func sitesPending(ctx context.Context, tc *towerCtx, args []string) error {
	if _, err := tc.parse(tc.flags(), args, 0, "no arguments"); err != nil {
		return err
	}
	ps, err := listAll[towerapi.Pending](ctx, tc.c, "/v1/pending")
	if err != nil {
		return err
	}
	return showPending(tc, ps, ps...)
}

func sitesApprove(ctx context.Context, tc *towerCtx, args []string) error {
	fs := tc.flags()
	in := towerapi.Approve{Labels: map[string]string{}}
	fs.StringVar(&in.Tenant, "tenant", "", "tenant the box joins")
	fs.StringVar(&in.SiteName, "name", "", "the site's name")
	fs.Var(labelFlag(in.Labels), "label", "label `key=value` (repeatable)")
	return pendingAction(ctx, tc, fs, args, "approve", &in) // a pointer: the flags fill it in when parsed
}

func sitesReject(ctx context.Context, tc *towerCtx, args []string) error {
	return pendingAction(ctx, tc, tc.flags(), args, "reject", nil)
}

// pendingAction approves or rejects the pending box named by its EK hash.
func pendingAction(ctx context.Context, tc *towerCtx, fs *flag.FlagSet, args []string, verb string, body any) error {
	pos, err := tc.parse(fs, args, 1, "the EK hash from skerryctl tower sites pending")
	if err != nil {
		return err
	}
	var p towerapi.Pending
	if err := tc.c.Do(ctx, "POST", "/v1/pending/"+url.PathEscape(pos[0])+"/"+verb, body, &p); err != nil {
		return err
	}
	return showPending(tc, p, p)
}

func sitesRevoke(ctx context.Context, tc *towerCtx, args []string) error {
	return siteAction(ctx, tc, args, "revoke")
}

func sitesReenroll(ctx context.Context, tc *towerCtx, args []string) error {
	return siteAction(ctx, tc, args, "allow-reenroll")
}

// siteAction resolves the site first so that a name works as well as an
// ID, then posts the action.
func siteAction(ctx context.Context, tc *towerCtx, args []string, action string) error {
	s, err := oneSite(ctx, tc, args)
	if err != nil {
		return err
	}
	if err := tc.c.Do(ctx, "POST", "/v1/sites/"+s.ID+"/"+action, nil, &s); err != nil {
		return err
	}
	return showSites(tc, s, s)
}
