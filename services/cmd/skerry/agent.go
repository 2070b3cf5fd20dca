package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"golang.org/x/sync/errgroup"

	"github.com/skerry/skerry/services/agent"
	"github.com/skerry/skerry/services/contract"
	"github.com/skerry/skerry/services/internal/daemon"
	"github.com/skerry/skerry/services/siteconfig"
)

// agentMain runs the registration agent until ctx ends or a termination
// signal arrives, logging to stderr.
func agentMain(ctx context.Context, _, stderr io.Writer, args []string) int {
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	siteConfig := fs.String("site-config", "", `site config file (default: `+siteconfig.ESPPath+` if present and valid, else `+siteconfig.BakedPath+`)`)
	towerURL := fs.String("tower-url", "", "tower URL, overriding the site config's tower.url")
	towerCA := fs.String("tower-ca", "", "PEM file of the CA that verifies the tower, overriding tower.ca")
	token := fs.String("token", "", "enrollment token, overriding tower.enrollmentToken")
	home := fs.String("home", agent.DefaultHome, "directory the site identity is kept in")
	tpm := fs.String("tpm", agent.DefaultTPM, `TPM device, or "unix:PATH" for a simulator's command socket`)
	software := fs.Bool("allow-software-identity", false, "enroll with a key on disk when there is no TPM (also tower.allowSoftwareIdentity)")
	retry := fs.Duration("enroll-retry", 0, "wait between enrollments while pending (default: as the tower says, else 10s)")
	slowRetry := fs.Duration("slow-retry", agent.DefaultSlowRetry, "wait after a refusal only a person can change (rejected, bad token)")
	report := fs.Duration("report-interval", 0, "status report interval (default: as the tower says, else 30s)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	// daemon.Logger's format, on the stderr given.
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo})).With("service", "agent")
	cfg, err := loadAgentConfig(log, *siteConfig, siteconfig.ESPPath, siteconfig.BakedPath)
	if err != nil {
		fmt.Fprintf(stderr, "skerry agent: %v\n", err)
		return 2
	}
	tower := cfg.Tower
	if *towerURL != "" {
		tower.URL = *towerURL
	}
	if *token != "" {
		tower.EnrollmentToken = *token
	}
	if *towerCA != "" {
		pem, err := os.ReadFile(*towerCA)
		if err != nil {
			fmt.Fprintf(stderr, "skerry agent: read tower CA: %v\n", err)
			return 2
		}
		tower.CA = string(pem)
	}
	hostname := cfg.Hostname
	if hostname == "" {
		hostname, _ = os.Hostname()
	}
	a := agent.New(tower,
		agent.WithHome(*home),
		agent.WithTPM(*tpm),
		agent.WithSoftwareIdentity(*software || tower.AllowSoftwareIdentity),
		agent.WithHostname(hostname),
		agent.WithSerial(agent.Serial()),
		agent.WithVersions(agent.AgentVersion(), agent.ImageVersion()),
		agent.WithRetry(*retry),
		agent.WithSlowRetry(*slowRetry),
		agent.WithReportInterval(*report),
		agent.WithLogger(log),
		agent.WithReady(daemon.Ready),
	)
	err = daemon.Run("agent", func(sctx context.Context, _ *errgroup.Group) error {
		// Stop at a signal (sctx) or when the caller's ctx ends.
		sctx, cancel := context.WithCancel(sctx)
		defer cancel()
		defer context.AfterFunc(ctx, cancel)()
		return a.Run(sctx)
	})
	switch {
	case err == nil:
		return 0
	case errors.Is(err, agent.ErrConfig), errors.Is(err, agent.ErrNoTPM):
		// Already logged, and ready was signalled, so the box boots on.
		return contract.ExitDoNotRestart // only a new site config or a TPM can cure it
	}
	fmt.Fprintf(stderr, "skerry agent: %v\n", err)
	return 1
}

// loadAgentConfig reads the site config: the named file, or the one init
// resolved (see siteconfig.Resolve). Only a named file that is bad is an
// error; otherwise a bad file is logged and the next one used.
func loadAgentConfig(log *slog.Logger, path string, fallbacks ...string) (*siteconfig.Config, error) {
	if path != "" {
		return siteconfig.Load(path)
	}
	cfg, _ := siteconfig.Resolve(func(msg string) { log.Warn("site config: " + msg) }, fallbacks...)
	return cfg, nil
}
