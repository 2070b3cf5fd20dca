package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/skerry/skerry/services/api/towerapi"
)

// towerConfigVersion is the newest tower config format this build reads.
const towerConfigVersion = 1

// towerConfig is what "skerryctl tower login" saves: where the tower is, how to
// trust it, and the operator token.
type towerConfig struct {
	Version int    `json:"version"`
	URL     string `json:"url"`
	Token   string `json:"token"`
	CA      string `json:"ca,omitempty"` // PEM; empty trusts the system roots
}

// towerConfigPath is $SKERRY_TOWER_CONFIG, or tower.json under
// $XDG_CONFIG_HOME/skerry, or ~/.config/skerry.
func towerConfigPath() (string, error) {
	if p := os.Getenv("SKERRY_TOWER_CONFIG"); p != "" {
		return p, nil
	}
	dir := os.Getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("find config directory: %w", err)
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "skerry", "tower.json"), nil
}

func loadTowerConfig() (*towerConfig, error) {
	path, err := towerConfigPath()
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("not logged in to a tower: run skerryctl tower login --tower URL --token T first")
	}
	if err != nil {
		return nil, fmt.Errorf("read tower config: %w", err)
	}
	var c towerConfig
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("read tower config %s: %w", path, err)
	}
	if c.Version < 1 || c.Version > towerConfigVersion {
		return nil, fmt.Errorf("tower config %s has version %d; this skerryctl reads 1 to %d: log in again", path, c.Version, towerConfigVersion)
	}
	return &c, nil
}

func towerClient() (*towerapi.Client, error) {
	c, err := loadTowerConfig()
	if err != nil {
		return nil, err
	}
	return towerapi.NewClient(c.URL, c.Token, []byte(c.CA))
}

// runLogin checks the token against the tower and saves the config (0600:
// it holds the token).
func runLogin(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	fs := flag.NewFlagSet("login", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("tower", "", "tower `URL`, https://host:port")
	token := fs.String("token", "", "operator `token`")
	caFile := fs.String("ca", "", "tower CA certificate `file` (PEM); default: the system roots")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *url == "" || *token == "" {
		fs.Usage()
		return errors.New("login needs --tower and --token")
	}
	cfg := towerConfig{Version: towerConfigVersion, URL: strings.TrimRight(*url, "/"), Token: strings.TrimSpace(*token)}
	if *caFile != "" {
		pem, err := os.ReadFile(*caFile)
		if err != nil {
			return fmt.Errorf("read CA: %w", err)
		}
		cfg.CA = string(pem)
	}
	c, err := towerapi.NewClient(cfg.URL, cfg.Token, []byte(cfg.CA))
	if err != nil {
		return err
	}
	var who towerapi.WhoAmI
	if err := c.Do(ctx, "GET", "/v1/whoami", nil, &who); err != nil {
		return escapeErr(fmt.Errorf("check token: %w", err))
	}
	path, err := towerConfigPath()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("save tower config: %w", err)
	}
	data, _ := json.MarshalIndent(cfg, "", "  ")
	if err := os.WriteFile(path, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("save tower config: %w", err)
	}
	tenant := ""
	if who.Tenant != "" {
		tenant = " of tenant " + who.Tenant
	}
	fmt.Fprintf(escapeWriter{stdout}, "logged in to %s as %s%s (token %s); saved to %s\n", cfg.URL, who.Role, tenant, who.TokenID, path)
	return nil
}
