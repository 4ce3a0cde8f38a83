package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/strvals"
	"sigs.k8s.io/yaml"
)

// TestChartSchemaRefuses: values that cannot work are refused before anything renders, and the
// refusal names the value and says what it must be.
func TestChartSchemaRefuses(t *testing.T) {
	ch := loadChart(t, chartDir)
	for name, c := range map[string]struct {
		values map[string]any
		want   []string
	}{
		"two replicas without leader election": {map[string]any{"replicaCount": 2, "leaderElection": map[string]any{"enabled": false}},
			[]string{"at '/leaderElection/enabled': value must be true"}},
		"a namespace given as a string (--set watchNamespaces=team-a)": {map[string]any{"watchNamespaces": "team-a"},
			[]string{"at '/watchNamespaces': got string, want array"}},
		"a namespace that is no name": {map[string]any{"watchNamespaces": []any{"Team_A"}},
			[]string{"at '/watchNamespaces/0': 'Team_A' does not match pattern"}},
		"a link URL destination that does not exist": {map[string]any{"linkURLDestination": "configmap"},
			[]string{"at '/linkURLDestination': value must be one of 'status', 'secret'"}},
		"a deletion policy in the wrong case": {map[string]any{"defaultDeletionPolicy": "orphan"},
			[]string{"at '/defaultDeletionPolicy': value must be one of '', 'Delete', 'Unlink', 'Orphan'"}},
		"a quota share above 1": {map[string]any{"codat": map[string]any{"quotaShare": 1.5}},
			[]string{"at '/codat/quotaShare': maximum: got 1.5, want 1"}},
		"a quota share of 0": {map[string]any{"codat": map[string]any{"quotaShare": 0}},
			[]string{"at '/codat/quotaShare': exclusiveMinimum: got 0, want 0"}},
		"a quota floor of 1": {map[string]any{"codat": map[string]any{"quotaFloor": 1}},
			[]string{"at '/codat/quotaFloor': exclusiveMaximum: got 1, want 1"}},
		"a base URL without scheme": {map[string]any{"codat": map[string]any{"baseURL": "api.codat.io"}},
			[]string{"at '/codat/baseURL': 'api.codat.io' does not match pattern '^(https?://"}},
		"a misspelt value": {map[string]any{"replicas": 2},
			[]string{"at '': additional properties 'replicas' not allowed"}},
		"a replica count as a string": {map[string]any{"replicaCount": "2"},
			[]string{"at '/replicaCount': got string, want integer"}},
		"a port out of range": {map[string]any{"webhook": map[string]any{"port": 70000}},
			[]string{"at '/webhook/port': maximum: got 70,000, want 65,535"}},
		"a pull policy that does not exist": {map[string]any{"image": map[string]any{"pullPolicy": "Sometimes"}},
			[]string{"at '/image/pullPolicy': value must be one of 'Always', 'IfNotPresent', 'Never'"}},
		"an extra argument that is no flag": {map[string]any{"extraArgs": []any{"poll-interval=5m"}},
			[]string{"at '/extraArgs/0': 'poll-interval=5m' does not match pattern '^--'"}},
		"a scrape interval that is no duration": {map[string]any{"metrics": map[string]any{"serviceMonitor": map[string]any{"interval": "30 seconds"}}},
			[]string{"at '/metrics/serviceMonitor/interval': '30 seconds' does not match pattern"}},
		"an issuer kind that does not exist": {map[string]any{"metrics": map[string]any{"tls": map[string]any{"certManager": map[string]any{"issuerRef": map[string]any{"kind": "CA"}}}}},
			[]string{"at '/metrics/tls/certManager/issuerRef/kind': value must be one of 'Issuer', 'ClusterIssuer'"}},
		"a rollout strategy that does not exist": {map[string]any{"strategy": map[string]any{"type": "BlueGreen"}},
			[]string{"at '/strategy/type': value must be one of 'RollingUpdate', 'Recreate'"}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := render(ch, c.values, release, namespace, "1.32.0")
			if err == nil {
				t.Fatal("rendered")
			}
			for _, want := range c.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("the refusal does not say %q:\n%v", want, err)
				}
			}
		})
	}
}

// TestChartTemplateRefuses: rules across values that the schema does not hold refuse with a
// message that says what to change.
func TestChartTemplateRefuses(t *testing.T) {
	ch := loadChart(t, chartDir)
	for name, c := range map[string]struct {
		values map[string]any
		want   string
	}{
		"a PodDisruptionBudget that blocks every drain": {map[string]any{"podDisruptionBudget": map[string]any{"enabled": true, "minAvailable": 1}},
			"podDisruptionBudget.minAvailable 1 with replicaCount 1 would block every node drain: set replicaCount above minAvailable, or use maxUnavailable: 1"},
		"a PodDisruptionBudget without a bound": {map[string]any{"podDisruptionBudget": map[string]any{"enabled": true, "maxUnavailable": nil}},
			"podDisruptionBudget.enabled needs podDisruptionBudget.minAvailable or podDisruptionBudget.maxUnavailable"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := render(ch, c.values, release, namespace, "1.32.0")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got error %v, want one containing %q", err, c.want)
			}
		})
	}
}

// TestChartSchemaTypesEveryValue: every value of values.yaml has a type (or a list of allowed
// values) in values.schema.json, and the schema knows no value values.yaml lacks.
func TestChartSchemaTypesEveryValue(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]any{}
	if err := yaml.Unmarshal(raw, &values); err != nil {
		t.Fatal(err)
	}
	raw, err = os.ReadFile(filepath.Join(chartDir, "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	schema := map[string]any{}
	if err := json.Unmarshal(raw, &schema); err != nil {
		t.Fatal(err)
	}
	var untyped, unknown []string
	var walk func(path string, v any, s map[string]any)
	walk = func(path string, v any, s map[string]any) {
		if s == nil {
			untyped = append(untyped, path)
			return
		}
		if s["type"] == nil && s["enum"] == nil {
			untyped = append(untyped, path)
		}
		m, ok := v.(map[string]any)
		props, _ := s["properties"].(map[string]any)
		if !ok || props == nil {
			return
		}
		for k, item := range m {
			sub, _ := props[k].(map[string]any)
			walk(path+"."+k, item, sub)
		}
		for k := range props {
			// An empty map (strategy: {}) documents its fields in a comment.
			if _, ok := m[k]; !ok && path != "" && len(m) > 0 {
				unknown = append(unknown, path+"."+k)
			}
		}
	}
	walk("", values, schema)
	sort.Strings(untyped)
	sort.Strings(unknown)
	if len(untyped) > 0 {
		t.Errorf("values without a type in values.schema.json: %s", strings.Join(untyped, ", "))
	}
	if len(unknown) > 0 {
		t.Errorf("values.schema.json has values that values.yaml lacks (document them there): %s", strings.Join(unknown, ", "))
	}
}

// readmeFileNames are the names `helm show readme` looks for, in its order.
var readmeFileNames = []string{"readme.md", "readme.txt", "readme"}

// TestChartReadme: `helm show readme` has something to show (it finds the README among the chart's
// files as this test does), and its values table names every top-level value of values.yaml.
func TestChartReadme(t *testing.T) {
	ch := loadChart(t, chartDir)
	var readme string
	for _, n := range readmeFileNames {
		for _, f := range ch.Files {
			if strings.EqualFold(f.Name, n) && readme == "" {
				readme = string(f.Data)
			}
		}
	}
	if readme == "" {
		t.Fatal("the chart has no README: helm show readme prints nothing")
	}
	_, table, ok := strings.Cut(readme, "## Values")
	if !ok {
		t.Fatal("the chart's README has no Values section")
	}
	table, _, _ = strings.Cut(table, "\n## ")
	named := map[string]bool{}
	for _, line := range strings.Split(table, "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		first := strings.Split(line, "|")[1]
		for _, part := range strings.Split(first, ",") {
			named[strings.Trim(strings.TrimSpace(part), "`")] = true
		}
	}
	for k := range ch.Values {
		if !named[k] {
			t.Errorf("the README's values table does not name %s", k)
		}
	}
}

// TestChartSetWatchNamespaces: the README's fix works as the helm CLI reads --set (Helm's strvals
// parser): a plain value is refused with the schema's message, a list renders the flag.
func TestChartSetWatchNamespaces(t *testing.T) {
	ch := loadChart(t, chartDir)
	for set, want := range map[string]string{
		"watchNamespaces=team-a":          "at '/watchNamespaces': got string, want array",
		"watchNamespaces={team-a,team-b}": `"--watch-namespaces=team-a,team-b"`,
	} {
		values, err := strvals.Parse(set)
		if err != nil {
			t.Fatal(err)
		}
		manifest, err := render(ch, values, release, namespace, "1.32.0")
		got := manifest
		if err != nil {
			got = err.Error()
		}
		if !strings.Contains(got, strings.Trim(want, `"`)) {
			t.Errorf("--set %s: want %s in\n%.2000s", set, want, got)
		}
	}
}
