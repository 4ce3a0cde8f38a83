package monitoring

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v2"
)

// runbooks is where every alert's runbook_url points: a section of docs/runbooks.md.
const runbooks = "https://github.com/codat-operator/codat-operator/blob/main/docs/runbooks.md#"

// TestEveryAlertHasARunbook: each alert links, in its runbook_url annotation, a section of
// docs/runbooks.md named after it (GitHub's anchor of its heading), and each section of
// docs/runbooks.md named like an alert is one.
func TestEveryAlertHasARunbook(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(repoRoot, "config", "prometheus", "alerts.rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Groups []struct {
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join(repoRoot, "docs", "runbooks.md"))
	if err != nil {
		t.Fatal(err)
	}
	sections := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^## (.+)$`).FindAllStringSubmatch(string(doc), -1) {
		sections[githubAnchor(m[1])] = true
	}
	alerts := map[string]bool{}
	for _, g := range file.Groups {
		for _, r := range g.Rules {
			anchor := strings.ToLower(r.Alert)
			alerts[anchor] = true
			if got, want := r.Annotations["runbook_url"], runbooks+anchor; got != want {
				t.Errorf("alert %s: runbook_url %q, want %q", r.Alert, got, want)
			}
			if !sections[anchor] {
				t.Errorf("docs/runbooks.md has no section ## %s", r.Alert)
			}
		}
	}
	for s := range sections {
		if strings.HasPrefix(s, "codat") && !alerts[s] {
			t.Errorf("docs/runbooks.md has a section #%s for no alert", s)
		}
	}
}

// githubAnchor is the anchor GitHub gives a Markdown heading: lower case, punctuation dropped,
// spaces as hyphens.
func githubAnchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteRune('-')
		}
	}
	return b.String()
}
