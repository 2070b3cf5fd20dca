package tower_test

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"

	"github.com/skerry/skerry/services/tower"
)

// TestOpenAPIMatchesRoutes checks docs/openapi/tower.yaml against the
// routes the tower serves: every route documented, every documented route
// served, and every $ref resolving.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	data, err := os.ReadFile("../../docs/openapi/tower.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OpenAPI    string                               `yaml:"openapi"`
		Paths      map[string]map[string]yaml.Node      `yaml:"paths"`
		Components map[string]map[string]map[string]any `yaml:"components"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("parse tower.yaml: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi: got %q, want 3.x", doc.OpenAPI)
	}
	var documented []string
	for path, ops := range doc.Paths {
		for method := range ops {
			if method == "parameters" {
				continue
			}
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}
	var served []string
	for _, r := range tower.Routes() {
		served = append(served, r[0]+" "+r[1])
	}
	slices.Sort(documented)
	slices.Sort(served)
	if diff := cmp.Diff(served, documented); diff != "" {
		t.Errorf("routes (-served +documented):\n%s", diff)
	}

	for _, m := range refs(string(data)) {
		parts := strings.Split(strings.TrimPrefix(m, "#/components/"), "/")
		if len(parts) != 2 || doc.Components[parts[0]][parts[1]] == nil {
			t.Errorf("$ref %s does not resolve", m)
		}
	}
}

func refs(s string) []string {
	var out []string
	for {
		i := strings.Index(s, `$ref: "`)
		if i < 0 {
			return out
		}
		s = s[i+len(`$ref: "`):]
		j := strings.IndexByte(s, '"')
		out = append(out, s[:j])
		s = s[j:]
	}
}
