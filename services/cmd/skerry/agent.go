package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"golang.org/x/sync/errgroup"

	"github.com/skerry/skerry/image/layout"
	"github.com/skerry/skerry/services/agent"
	"github.com/skerry/skerry/services/internal/daemon"
	"github.com/skerry/skerry/services/siteconfig"
)

// exitNoRestart asks init's supervisor not to restart the service: the
// agent uses it for refusals only a new site config or a TPM can cure.
const exitNoRestart = 125

// espMount is where init mounts the EFI system partition, read-only.
const espMount = "/boot"

// agentMain runs the registration agent.
func agentMain(_ context.Context, _, stderr io.Writer, args []string) int {
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	siteConfig := fs.String("site-config", "", `site config file (default: the ESP's `+filepath.Join(espMount, layout.ESPSiteConfig)+` if present, else `+layout.SiteConfigFile+`)`)
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
	log := daemon.Logger("agent")
	cfg, err := loadAgentConfig(log, *siteConfig, filepath.Join(espMount, layout.ESPSiteConfig), layout.SiteConfigFile)
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
	err = daemon.Run("agent", func(ctx context.Context, _ *errgroup.Group) error { return a.Run(ctx) })
	switch {
	case err == nil:
		return 0
	case errors.Is(err, agent.ErrConfig), errors.Is(err, agent.ErrNoTPM):
		// Already logged, and ready was signalled, so the box boots on.
		return exitNoRestart
	}
	fmt.Fprintf(stderr, "skerry agent: %v\n", err)
	return 1
}

// loadAgentConfig reads the site config: the named file, or the way init
// does, the ESP's copy when present and good, else the image's. Only a
// named file that is bad is an error; otherwise a bad file is logged and
// the agent falls back, as init does, so a typo cannot keep a box off.
func loadAgentConfig(log *slog.Logger, path, esp, baked string) (*siteconfig.Config, error) {
	if path != "" {
		return siteconfig.Load(path)
	}
	cfg, err := siteconfig.Load(esp)
	if err == nil {
		return cfg, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		log.Warn(fmt.Sprintf("site config: %v; using the image's", err))
	}
	cfg, err = siteconfig.Load(baked)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			log.Warn(fmt.Sprintf("site config: %v; using defaults", err))
		}
		return siteconfig.Default(), nil
	}
	return cfg, nil
}
