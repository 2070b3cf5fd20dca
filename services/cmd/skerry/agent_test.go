package main

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

func TestLoadAgentConfig(t *testing.T) {
	const (
		espCfg   = `{"version":1,"tower":{"url":"https://esp.example"}}`
		bakedCfg = `{"version":1,"tower":{"url":"https://baked.example"}}`
		broken   = `{"version":1,`
	)
	for _, tc := range []struct {
		name, named, esp, baked string
		want                    string // tower URL
		wantErr                 bool
	}{
		{name: "ESP wins", esp: espCfg, baked: bakedCfg, want: "https://esp.example"},
		{name: "no ESP config", baked: bakedCfg, want: "https://baked.example"},
		{name: "broken ESP config", esp: broken, baked: bakedCfg, want: "https://baked.example"},
		{name: "nothing", want: ""},
		{name: "broken image config", baked: broken, want: ""},
		{name: "named file", named: bakedCfg, esp: espCfg, want: "https://baked.example"},
		{name: "named file broken", named: broken, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			file := func(name, content string) string {
				p := filepath.Join(dir, name)
				if content != "" {
					if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				return p
			}
			named := ""
			if tc.named != "" {
				named = file("named.json", tc.named)
			}
			cfg, err := loadAgentConfig(slog.New(slog.NewTextHandler(io.Discard, nil)), named, file("esp.json", tc.esp), file("baked.json", tc.baked))
			if tc.wantErr {
				if err == nil {
					t.Errorf("got config %+v, want an error", cfg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Tower.URL != tc.want {
				t.Errorf("tower URL: got %q, want %q", cfg.Tower.URL, tc.want)
			}
		})
	}
}
