package monitoring

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v2"
)

// operatorMetrics are the metrics the manager exports (docs/operations.md),
// with their type: histograms are read through _bucket, _sum and _count.
var operatorMetrics = map[string]string{
	"codat_client_requests_total":                          "counter",
	"codat_client_request_duration_seconds":                "histogram",
	"codat_client_rate_limit_remaining":                    "gauge",
	"codat_client_rate_limit_limit":                        "gauge",
	"codat_connections":                                    "gauge",
	"codat_connections_stalled":                            "gauge",
	"codat_companies":                                      "gauge",
	"codat_companies_stalled":                              "gauge",
	"codat_reconcile_failures_total":                       "counter",
	"codat_webhook_events_total":                           "counter",
	"codat_requests_budget_mode":                           "gauge",
	"codat_connections_awaiting_authorization_max_seconds": "gauge",
	"codat_operator_build_info":                            "gauge",
	"codat_webhook_receiver_healthy":                       "gauge",
	// controller-runtime's, exported by the manager too.
	"leader_election_master_status": "gauge",
}

// known says whether a metric name is one the operator exports.
func known(name string) bool {
	if _, ok := operatorMetrics[name]; ok {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && operatorMetrics[base] == "histogram" {
			return true
		}
	}
	return false
}

// metricNames parses a PromQL expression and returns the metric names its
// selectors read.
func metricNames(expr string) ([]string, error) {
	parsed, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	var names []string
	parser.Inspect(parsed, func(node parser.Node, _ []parser.Node) error {
		if vs, ok := node.(*parser.VectorSelector); ok {
			name := vs.Name
			for _, m := range vs.LabelMatchers {
				if m.Name == labels.MetricName {
					name = m.Value
				}
			}
			names = append(names, name)
		}
		return nil
	})
	return names, nil
}

// grafanaVariables replaces Grafana's interval variables, which PromQL cannot
// parse, with a duration; label variables ($namespace) sit in strings.
var grafanaVariables = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h")

// TestDashboard: config/grafana/codat-operator.json is a Grafana dashboard
// whose every query parses as PromQL and reads only the operator's metrics,
// and which shows every one of them.
func TestDashboard(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(repoRoot, "config", "grafana", "codat-operator.json"))
	if err != nil {
		t.Fatal(err)
	}
	type target struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	}
	type panel struct {
		ID      int      `json:"id"`
		Type    string   `json:"type"`
		Title   string   `json:"title"`
		Targets []target `json:"targets"`
		Panels  []panel  `json:"panels"`
		GridPos *struct {
			W, H int
		} `json:"gridPos"`
	}
	var dash struct {
		Title      string  `json:"title"`
		UID        string  `json:"uid"`
		Schema     int     `json:"schemaVersion"`
		Panels     []panel `json:"panels"`
		Templating struct {
			List []struct {
				Name string `json:"name"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("the dashboard is not valid JSON: %v", err)
	}
	if dash.Title == "" || dash.UID == "" || dash.Schema == 0 {
		t.Errorf("title %q, uid %q, schemaVersion %d: a dashboard needs all three", dash.Title, dash.UID, dash.Schema)
	}
	var vars []string
	for _, v := range dash.Templating.List {
		vars = append(vars, v.Name)
	}
	// The operator's namespace, and the tenants' (the objects' namespace label, which Prometheus
	// stores as exported_namespace behind a ServiceMonitor).
	for _, want := range []string{"datasource", "namespace", "tenant"} {
		if !slices.Contains(vars, want) {
			t.Errorf("no template variable %q (have %v)", want, vars)
		}
	}

	seen := map[string]bool{}
	ids := map[int]bool{}
	var walk func([]panel)
	walk = func(panels []panel) {
		for _, p := range panels {
			if ids[p.ID] {
				t.Errorf("panel id %d is used twice", p.ID)
			}
			ids[p.ID] = true
			if p.GridPos == nil || p.GridPos.W == 0 || p.GridPos.H == 0 {
				t.Errorf("panel %q has no size (gridPos)", p.Title)
			}
			if p.Type != "row" && len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for _, tg := range p.Targets {
				names, err := metricNames(grafanaVariables.Replace(tg.Expr))
				if err != nil {
					t.Errorf("panel %q query %s does not parse: %v\n%s", p.Title, tg.RefID, err, tg.Expr)
					continue
				}
				if len(names) == 0 {
					t.Errorf("panel %q query %s reads no metric", p.Title, tg.RefID)
				}
				for _, n := range names {
					if !known(n) {
						t.Errorf("panel %q reads %q, which the operator does not export", p.Title, n)
					}
					seen[strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_sum"), "_count")] = true
				}
			}
			walk(p.Panels)
		}
	}
	walk(dash.Panels)
	for name := range operatorMetrics {
		if !seen[name] {
			t.Errorf("no panel shows %s", name)
		}
	}
}

// TestAlertRulesReadKnownMetrics: every alert reads metrics the operator
// exports, so a renamed metric cannot silence an alert.
func TestAlertRulesReadKnownMetrics(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(repoRoot, "config", "prometheus", "alerts.rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	count := 0
	for _, g := range file.Groups {
		for _, r := range g.Rules {
			count++
			names, err := metricNames(r.Expr)
			if err != nil {
				t.Errorf("alert %s: %v", r.Alert, err)
			}
			for _, n := range names {
				if !known(n) {
					t.Errorf("alert %s reads %q, which the operator does not export", r.Alert, n)
				}
			}
		}
	}
	if count < 3 {
		t.Errorf("%d alerts; want at least stalled connections, Codat errors and quota", count)
	}
}
