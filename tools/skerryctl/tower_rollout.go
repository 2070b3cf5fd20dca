package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/skerry/skerry/services/api/towerapi"
)

// rolloutCommands are the "skerryctl tower rollout" subcommands: the
// progress of a deployment with a strategy, and a person's hand on it.
var rolloutCommands = []towerCmd{
	{"status", "status TENANT/APP                       each step and each site of the app's rollout", rolloutStatus},
	{"pause", "pause TENANT/APP                        hold the rollout where it is", rolloutAct("pause")},
	{"resume", "resume TENANT/APP                       carry on; failed and skipped sites get another chance", rolloutAct("resume")},
	{"rollback", "rollback TENANT/APP                     every site back to the previous version", rolloutAct("rollback")},
}

// runTowerRollout runs "skerryctl tower rollout ...".
func runTowerRollout(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	return runTowerGroup(ctx, stdout, stderr, "rollout", rolloutCommands, args)
}

// strategyFlags adds the strategy flags of "deploy set" to fs; the
// function it returns gives the strategy, or nil when no flag was given
// (the version then reaches every site at once).
func strategyFlags(fs *flag.FlagSet) func() (*towerapi.Strategy, error) {
	var st towerapi.Strategy
	var canaryHealthy, batchHealthy, siteTimeout time.Duration
	fs.IntVar(&st.Canary, "canary", 0, "sites of the canary step, the first to get the version")
	fs.DurationVar(&canaryHealthy, "canary-healthy", 0, "how long the canary must stay healthy before the batches (e.g. 5m)")
	fs.IntVar(&st.BatchSize, "batch", 0, "sites per batch after the canary (0: all the rest at once)")
	fs.DurationVar(&batchHealthy, "batch-healthy", 0, "how long each batch must stay healthy before the next")
	fs.IntVar(&st.MaxFailures, "max-failures", 0, "failed sites that stop the rollout (default 1)")
	fs.Float64Var(&st.MaxFailureFraction, "max-failure-fraction", 0, "fraction (0 to 1) of the sites reached that, failed, stops the rollout")
	fs.StringVar(&st.OnFailure, "on-failure", "", "what a stopped rollout does: rollback (default) or pause")
	fs.DurationVar(&siteTimeout, "site-timeout", 0, "a reached site not healthy within this has failed if online, is skipped if offline (default 10m)")
	names := map[string]bool{"canary": true, "canary-healthy": true, "batch": true, "batch-healthy": true, "max-failures": true,
		"max-failure-fraction": true, "on-failure": true, "site-timeout": true}
	return func() (*towerapi.Strategy, error) {
		set := false
		fs.Visit(func(f *flag.Flag) { set = set || names[f.Name] })
		if !set {
			return nil, nil
		}
		for _, d := range []struct {
			name string
			v    time.Duration
			to   *int64
		}{{"canary-healthy", canaryHealthy, &st.CanaryHealthySeconds}, {"batch-healthy", batchHealthy, &st.BatchHealthySeconds}, {"site-timeout", siteTimeout, &st.SiteTimeoutSeconds}} {
			if d.v < 0 || d.v%time.Second != 0 {
				return nil, fmt.Errorf("-%s %s: want whole seconds, 0 or more", d.name, d.v)
			}
			*d.to = int64(d.v / time.Second)
		}
		return &st, nil
	}
}

// rolloutSummary is a deployment's rollout in a few words, for tables.
func rolloutSummary(d towerapi.Deployment) string {
	r := d.Rollout
	if r == nil {
		return "all at once"
	}
	s := r.State
	if r.State == towerapi.RolloutProgressing || r.State == towerapi.RolloutPaused {
		s += fmt.Sprintf(" (step %d of %d)", r.Step+1, len(r.Steps))
	}
	if r.Failed > 0 {
		s += fmt.Sprintf(", %d failed", r.Failed)
	}
	return s
}

// rolloutCall sends method to the app's deployment path plus suffix and
// prints the deployment it answers: a table of its rollout, or JSON.
func rolloutCall(ctx context.Context, tc *towerCtx, args []string, method, suffix string) error {
	_, path, err := tc.onePath(args, "deployments")
	if err != nil {
		return err
	}
	var d towerapi.Deployment
	if err := tc.c.Do(ctx, method, path+suffix, nil, &d); err != nil {
		return err
	}
	if tc.out == "json" {
		return tc.show(d, "", nil)
	}
	return showRollout(tc.stdout, d)
}

func rolloutStatus(ctx context.Context, tc *towerCtx, args []string) error {
	return rolloutCall(ctx, tc, args, "GET", "")
}

// showRollout prints a summary line, the steps and the sites.
func showRollout(out io.Writer, d towerapi.Deployment) error {
	r := d.Rollout
	if r == nil {
		_, err := fmt.Fprintf(out, "%s/%s version %d: no strategy; it reached every selected site at once\n", d.Tenant, d.App, d.Version)
		return err
	}
	fmt.Fprintf(out, "%s/%s version %d (previous %d): %s", d.Tenant, d.App, d.Version, r.Previous, rolloutSummary(d))
	if r.Reason != "" {
		fmt.Fprintf(out, ": %s", r.Reason)
	}
	fmt.Fprintln(out)
	when := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.Format(time.RFC3339)
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\nSTEP\tSITES\tSTATE\tHEALTHY FOR\tSTARTED\tHEALTHY SINCE\tDONE")
	for _, s := range r.Steps {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\n", s.Name, s.Sites, s.State, time.Duration(s.HealthySeconds)*time.Second, when(s.StartedAt), when(s.HealthySince), when(s.DoneAt))
	}
	fmt.Fprintln(tw, "\nSITE\tNAME\tSTEP\tSTATE\tVERSION\tSINCE\tREASON")
	for _, s := range r.Sites {
		step := fmt.Sprint(s.Step)
		if s.Step < len(r.Steps) {
			step = r.Steps[s.Step].Name
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", s.Site, s.Name, step, s.State, s.Version, when(s.Since), s.Reason)
	}
	return tw.Flush()
}

// rolloutAct posts a person's action and prints the rollout after it.
func rolloutAct(action string) func(ctx context.Context, tc *towerCtx, args []string) error {
	return func(ctx context.Context, tc *towerCtx, args []string) error {
		return rolloutCall(ctx, tc, args, "POST", "/"+action)
	}
}
