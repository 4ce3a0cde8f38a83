package monitoring

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/model"
	"github.com/prometheus/common/promslog"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/promql/promqltest"
	"github.com/prometheus/prometheus/rules"
	"go.yaml.in/yaml/v2"
)

// TestAlertRules runs config/prometheus/alerts_test.yaml, written in
// Prometheus's rule unit-test format, against alerts.rules.yaml.
//
// `promtool test rules` is the usual runner, but promtool is a binary whose
// module builds every service-discovery SDK (AWS, Azure, GCE...): far too
// heavy for `make test`. This runner uses the same Prometheus packages
// promtool's does (rules.Manager loading the rule files, promqltest's lazy
// loader for the input series, the PromQL engine) with promtool's semantics:
// the series are loaded at the group's interval, the rule groups are evaluated
// every evaluation_interval from time 0, and at each eval_time the firing
// alerts (labels with alertname, and annotations) must equal exp_alerts
// exactly; promql_expr_test queries are instant queries compared sample by
// sample.
func TestAlertRules(t *testing.T) {
	path := filepath.Join(repoRoot, "config", "prometheus", "alerts_test.yaml")
	errs := runRuleTests(path)
	for _, err := range errs {
		t.Error(err)
	}
}

// TestAlertRulesCanFail: the runner reports a wrong expectation.
func TestAlertRulesCanFail(t *testing.T) {
	dir := t.TempDir()
	rulesFile, err := os.ReadFile(filepath.Join(repoRoot, "config", "prometheus", "alerts.rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "alerts.rules.yaml"), rulesFile, 0o644); err != nil {
		t.Fatal(err)
	}
	wrong := `rule_files: [alerts.rules.yaml]
tests:
- interval: 1m
  input_series:
  - series: 'codat_requests_budget_mode{namespace="x"}'
    values: '2x30'
  alert_rule_test:
  - eval_time: 20m
    alertname: CodatRequestBudgetWritesOnly
    exp_alerts: []
`
	if err := os.WriteFile(filepath.Join(dir, "wrong_test.yaml"), []byte(wrong), 0o644); err != nil {
		t.Fatal(err)
	}
	errs := runRuleTests(filepath.Join(dir, "wrong_test.yaml"))
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "CodatRequestBudgetWritesOnly") {
		t.Errorf("a firing alert expected not to fire: got %v, want one error naming the alert", errs)
	}
}

// The unit-test file format (Prometheus docs: "Unit testing for rules").
type ruleTestFile struct {
	RuleFiles          []string       `yaml:"rule_files"`
	EvaluationInterval model.Duration `yaml:"evaluation_interval,omitempty"`
	GroupEvalOrder     []string       `yaml:"group_eval_order,omitempty"`
	Tests              []ruleTestCase `yaml:"tests"`
}

type ruleTestCase struct {
	Name            string            `yaml:"name,omitempty"`
	Interval        model.Duration    `yaml:"interval,omitempty"`
	InputSeries     []inputSeries     `yaml:"input_series"`
	AlertRuleTests  []alertRuleTest   `yaml:"alert_rule_test,omitempty"`
	PromQLExprTests []promQLExprTest  `yaml:"promql_expr_test,omitempty"`
	ExternalLabels  map[string]string `yaml:"external_labels,omitempty"`
}

type inputSeries struct {
	Series string `yaml:"series"`
	Values string `yaml:"values"`
}

type alertRuleTest struct {
	EvalTime  model.Duration  `yaml:"eval_time"`
	Alertname string          `yaml:"alertname"`
	ExpAlerts []expectedAlert `yaml:"exp_alerts"`
}

type expectedAlert struct {
	ExpLabels      map[string]string `yaml:"exp_labels"`
	ExpAnnotations map[string]string `yaml:"exp_annotations"`
}

type promQLExprTest struct {
	Expr       string         `yaml:"expr"`
	EvalTime   model.Duration `yaml:"eval_time"`
	ExpSamples []struct {
		Labels string  `yaml:"labels"`
		Value  float64 `yaml:"value"`
	} `yaml:"exp_samples"`
}

// alertState is a firing alert as the tests compare it.
type alertState struct {
	Labels      string
	Annotations string
}

func runRuleTests(path string) []error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return []error{err}
	}
	var file ruleTestFile
	if err := yaml.UnmarshalStrict(raw, &file); err != nil {
		return []error{fmt.Errorf("%s: %w", path, err)}
	}
	var ruleFiles []string
	for _, rf := range file.RuleFiles {
		if !filepath.IsAbs(rf) {
			rf = filepath.Join(filepath.Dir(path), rf)
		}
		ruleFiles = append(ruleFiles, rf)
	}
	if file.EvaluationInterval == 0 {
		file.EvaluationInterval = model.Duration(time.Minute)
	}
	order := map[string]int{}
	for i, g := range file.GroupEvalOrder {
		order[g] = i
	}
	var errs []error
	for i, tc := range file.Tests {
		if tc.Interval == 0 {
			tc.Interval = file.EvaluationInterval
		}
		name := tc.Name
		if name == "" {
			name = fmt.Sprintf("test %d", i)
		}
		for _, err := range tc.run(time.Duration(file.EvaluationInterval), order, ruleFiles) {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	return errs
}

func (tc ruleTestCase) run(evalInterval time.Duration, order map[string]int, ruleFiles []string) (errs []error) {
	var load strings.Builder
	fmt.Fprintf(&load, "load %s\n", time.Duration(tc.Interval))
	for _, s := range tc.InputSeries {
		fmt.Fprintf(&load, "  %s %s\n", s.Series, s.Values)
	}
	p := parser.NewParser(parser.Options{})
	suite, err := promqltest.NewLazyLoader(load.String(), promqltest.LazyLoaderOpts{
		EnableAtModifier: true, EnableNegativeOffset: true, Parser: p,
	})
	if err != nil {
		return []error{err}
	}
	defer func() {
		if err := suite.Close(); err != nil {
			errs = append(errs, err)
		}
	}()
	suite.SubqueryInterval = evalInterval

	manager := rules.NewManager(&rules.ManagerOptions{
		QueryFunc:    rules.EngineQueryFunc(suite.QueryEngine(), suite.Storage()),
		AppendableV2: suite.Storage(),
		Context:      context.Background(),
		NotifyFunc:   func(context.Context, string, ...*rules.Alert) {},
		Logger:       promslog.NewNopLogger(),
		Parser:       p,
	})
	groupsByName, loadErrs := manager.LoadGroups(time.Duration(tc.Interval), labels.FromMap(tc.ExternalLabels), "", nil, false, ruleFiles...)
	if loadErrs != nil {
		return loadErrs
	}
	groups := make([]*rules.Group, 0, len(groupsByName))
	for _, g := range groupsByName {
		groups = append(groups, g)
	}
	sort.SliceStable(groups, func(i, j int) bool { return order[groups[i].Name()] < order[groups[j].Name()] })
	for _, g := range groups {
		for _, r := range g.Rules() {
			if ar, ok := r.(*rules.AlertingRule); ok {
				ar.SetRestored(true) // as after a restart: the ALERTS series is written
			}
		}
	}

	var maxEval model.Duration
	byTime := map[model.Duration][]alertRuleTest{}
	var times []model.Duration
	for _, at := range tc.AlertRuleTests {
		if at.Alertname == "" {
			return []error{fmt.Errorf("an alert_rule_test at %s has no alertname", at.EvalTime)}
		}
		if _, ok := byTime[at.EvalTime]; !ok {
			times = append(times, at.EvalTime)
		}
		byTime[at.EvalTime] = append(byTime[at.EvalTime], at)
		maxEval = max(maxEval, at.EvalTime)
	}
	for _, et := range tc.PromQLExprTests {
		maxEval = max(maxEval, et.EvalTime)
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })

	start := time.Unix(0, 0).UTC()
	next := 0
	for ts := start; !ts.After(start.Add(time.Duration(maxEval))); ts = ts.Add(evalInterval) {
		var evalErrs []error
		suite.WithSamplesTill(ts, func(err error) {
			if err != nil {
				evalErrs = append(evalErrs, err)
				return
			}
			for _, g := range groups {
				g.Eval(suite.Context(), ts)
				for _, r := range g.Rules() {
					if r.LastError() != nil {
						evalErrs = append(evalErrs, fmt.Errorf("rule %s at %s: %w", r.Name(), ts.Sub(start), r.LastError()))
					}
				}
			}
		})
		if len(evalErrs) > 0 {
			return append(errs, evalErrs...)
		}
		// Expectations whose eval_time falls in [ts, ts+evalInterval) are
		// checked against this evaluation.
		for next < len(times) && time.Duration(times[next]) < ts.Add(evalInterval).Sub(start) {
			for _, at := range byTime[times[next]] {
				if err := checkAlerts(groups, at); err != nil {
					errs = append(errs, err)
				}
			}
			next++
		}
	}

	for _, et := range tc.PromQLExprTests {
		if err := checkExpr(suite, p, start, et); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

func checkAlerts(groups []*rules.Group, at alertRuleTest) error {
	var got []alertState
	for _, g := range groups {
		for _, r := range g.Rules() {
			ar, ok := r.(*rules.AlertingRule)
			if !ok || ar.Name() != at.Alertname {
				continue
			}
			for _, a := range ar.ActiveAlerts() {
				if a.State == rules.StateFiring {
					got = append(got, alertState{a.Labels.String(), a.Annotations.String()})
				}
			}
		}
	}
	var want []alertState
	for _, a := range at.ExpAlerts {
		lbls := map[string]string{labels.AlertName: at.Alertname}
		for k, v := range a.ExpLabels {
			lbls[k] = v
		}
		want = append(want, alertState{labels.FromMap(lbls).String(), labels.FromMap(a.ExpAnnotations).String()})
	}
	sortStates := func(s []alertState) {
		sort.Slice(s, func(i, j int) bool { return s[i].Labels+s[i].Annotations < s[j].Labels+s[j].Annotations })
	}
	sortStates(got)
	sortStates(want)
	if diff := cmp.Diff(want, got); diff != "" {
		return fmt.Errorf("alert %s at %s (-want +got):\n%s", at.Alertname, at.EvalTime, diff)
	}
	return nil
}

func checkExpr(suite *promqltest.LazyLoader, p parser.Parser, start time.Time, et promQLExprTest) error {
	q, err := suite.QueryEngine().NewInstantQuery(suite.Context(), suite.Queryable(), nil, et.Expr, start.Add(time.Duration(et.EvalTime)))
	if err != nil {
		return err
	}
	defer q.Close()
	res := q.Exec(suite.Context())
	if res.Err != nil {
		return fmt.Errorf("%s at %s: %w", et.Expr, et.EvalTime, res.Err)
	}
	var got []string
	switch v := res.Value.(type) {
	case promql.Vector:
		for _, s := range v {
			got = append(got, fmt.Sprintf("%s %g", s.Metric, s.F))
		}
	case promql.Scalar:
		got = append(got, fmt.Sprintf("{} %g", v.V))
	default:
		return fmt.Errorf("%s at %s: not a vector or scalar", et.Expr, et.EvalTime)
	}
	var want []string
	for _, s := range et.ExpSamples {
		lb, err := p.ParseMetric(s.Labels)
		if err != nil {
			return fmt.Errorf("labels %q: %w", s.Labels, err)
		}
		want = append(want, fmt.Sprintf("%s %g", lb, s.Value))
	}
	sort.Strings(got)
	sort.Strings(want)
	if diff := cmp.Diff(want, got); diff != "" {
		return fmt.Errorf("%s at %s (-want +got):\n%s", et.Expr, et.EvalTime, diff)
	}
	return nil
}
