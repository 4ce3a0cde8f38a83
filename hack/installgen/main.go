// Command installgen writes the files of the Helm chart and of config/prometheus
// that copy other files, so that the chart and config/ cannot drift:
//
//   - charts/codat-operator/templates/crd-<plural>.yaml from each CRD that
//     controller-gen writes into config/crd/bases (crds);
//   - charts/codat-operator/templates/_manager-rules.tpl from the RBAC role
//     that controller-gen writes into config/rbac/role.yaml;
//   - charts/codat-operator/files/alerts.rules.yaml and
//     config/prometheus/prometheusrule.yaml from the Prometheus rules in
//     config/prometheus/alerts.rules.yaml;
//   - examples/argocd/argocd-cm.yaml from the Argo CD health check of each
//     kind in health/argocd/;
//   - charts/codat-operator/files/codat-operator.json, the Grafana dashboard
//     of config/grafana (JSON has no comments: a plain copy).
//
// `make manifests` runs it from the repository root; its test fails when a
// written file differs from what it would write.
package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/codat-operator/codat-operator/health"
)

// crds are the kinds whose CRDs the chart installs: controller-gen's file in config/crd/bases and
// the chart's template, by plural.
var crds = []struct{ kind, plural string }{
	{"CodatConnection", "codatconnections"},
	{"CodatCompany", "codatcompanies"},
}

func crdSource(plural string) string { return "config/crd/bases/codat.io_" + plural + ".yaml" }
func chartCRD(plural string) string  { return "charts/codat-operator/templates/crd-" + plural + ".yaml" }

// healthLua is the Argo CD health check of a codat.io kind (health.Kinds).
func healthLua(kind string) string {
	return "health/" + health.ArgoCDGroupDir + "/" + kind + "/health.lua"
}

// Paths, relative to the repository root.
const (
	roleSource   = "config/rbac/role.yaml"
	rulesSource  = "config/prometheus/alerts.rules.yaml"
	chartRules   = "charts/codat-operator/templates/_manager-rules.tpl"
	chartAlerts  = "charts/codat-operator/files/alerts.rules.yaml"
	configPrRule = "config/prometheus/prometheusrule.yaml"
	argoCDCM     = "examples/argocd/argocd-cm.yaml"
	dashboard    = "config/grafana/codat-operator.json"
	chartBoard   = "charts/codat-operator/files/codat-operator.json"
)

func main() {
	root := "."
	if len(os.Args) > 1 {
		root = os.Args[1]
	}
	files, err := generate(root)
	if err != nil {
		fmt.Fprintln(os.Stderr, "installgen:", err)
		os.Exit(1)
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(root, f.path), f.content, 0o644); err != nil { //nolint:gosec // committed files, readable by everyone
			fmt.Fprintln(os.Stderr, "installgen:", err)
			os.Exit(1)
		}
	}
}

type file struct {
	path    string
	content []byte
}

// generate returns every generated file's content from the sources under root.
func generate(root string) ([]file, error) {
	read := func(p string) (string, error) {
		b, err := os.ReadFile(filepath.Join(root, p))
		return string(b), err
	}
	var out []file
	for _, c := range crds {
		crd, err := read(crdSource(c.plural))
		if err != nil {
			return nil, err
		}
		text, err := crdTemplate(crd, crdSource(c.plural), c.kind)
		if err != nil {
			return nil, err
		}
		out = append(out, file{chartCRD(c.plural), []byte(text)})
	}
	role, err := read(roleSource)
	if err != nil {
		return nil, err
	}
	rules, err := read(rulesSource)
	if err != nil {
		return nil, err
	}
	rulesText, err := managerRulesTemplate(role)
	if err != nil {
		return nil, err
	}
	if _, err := checkRules(rules); err != nil {
		return nil, err
	}
	var checks []healthCheck
	for _, kind := range health.Kinds {
		lua, err := read(healthLua(kind))
		if err != nil {
			return nil, err
		}
		checks = append(checks, healthCheck{kind, lua})
	}
	board, err := read(dashboard)
	if err != nil {
		return nil, err
	}
	return append(out, []file{
		{chartRules, []byte(rulesText)},
		{chartAlerts, []byte(generatedHeader(rulesSource) + rules)},
		{configPrRule, []byte(prometheusRule(rules))},
		{argoCDCM, []byte(argoCDConfigMap(checks))},
		{chartBoard, []byte(board)},
	}...), nil
}

// crdTemplate wraps the CRD (of kind, read from source) in the chart's
// crds.install switch and gives it the chart's labels and the keep policy. The
// CRD's text is kept as controller-gen wrote it; only metadata lines are added.
func crdTemplate(crd, source, kind string) (string, error) {
	if strings.Contains(crd, "{{") {
		return "", fmt.Errorf("%s holds {{, which Helm would read as a template", source)
	}
	const head = "---\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  annotations:\n"
	if !strings.HasPrefix(crd, head) {
		return "", fmt.Errorf("%s does not start as controller-gen writes a CRD:\n%s", source, head)
	}
	rest := strings.TrimPrefix(crd, head)
	annotations, rest, ok := strings.Cut(rest, "  name: ")
	if !ok {
		return "", fmt.Errorf("%s has no metadata.name", source)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "{{- if .Values.crds.install }}\n")
	fmt.Fprintf(&b, "# Generated by `make manifests` (hack/installgen) from %s: do not edit.\n", source)
	b.WriteString("apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  annotations:\n")
	b.WriteString(annotations)
	fmt.Fprintf(&b, "    {{- if .Values.crds.keep }}\n    # Uninstalling the release keeps the CRD and every %s. Argo CD and Flux do\n"+
		"    # not read Helm's policy when they prune or delete: these annotations tell them.\n    helm.sh/resource-policy: keep\n"+
		"    argocd.argoproj.io/sync-options: Prune=false,Delete=false\n    kustomize.toolkit.fluxcd.io/prune: disabled\n    {{- end }}\n", kind)
	b.WriteString("    {{- with .Values.commonAnnotations }}\n    {{- toYaml . | nindent 4 }}\n    {{- end }}\n")
	b.WriteString("  labels:\n    {{- include \"codat-operator.labels\" . | nindent 4 }}\n")
	b.WriteString("  name: ")
	b.WriteString(rest)
	if !strings.HasSuffix(rest, "\n") {
		b.WriteString("\n")
	}
	b.WriteString("{{- end }}\n")
	return b.String(), nil
}

// managerRulesTemplate copies the rules of controller-gen's ClusterRole into a
// named template the chart's ClusterRole includes.
func managerRulesTemplate(role string) (string, error) {
	var parsed struct {
		Kind  string `json:"kind"`
		Rules []any  `json:"rules"`
	}
	if err := yaml.Unmarshal([]byte(role), &parsed); err != nil {
		return "", fmt.Errorf("%s: %w", roleSource, err)
	}
	if parsed.Kind != "ClusterRole" || len(parsed.Rules) == 0 {
		return "", fmt.Errorf("%s is not a ClusterRole with rules", roleSource)
	}
	_, rules, ok := strings.Cut(role, "\nrules:\n")
	if !ok || strings.Contains(rules, "{{") {
		return "", fmt.Errorf("%s: no rules: block at the end, or it holds {{", roleSource)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "{{/* Generated by `make manifests` (hack/installgen) from %s: do not edit. */}}\n", roleSource)
	b.WriteString("{{- define \"codat-operator.managerRules\" }}\n")
	b.WriteString(strings.TrimRight(rules, "\n"))
	b.WriteString("\n{{- end }}\n")
	return b.String(), nil
}

func generatedHeader(source string) string {
	return fmt.Sprintf("# Generated by `make manifests` (hack/installgen) from %s: do not edit.\n", source)
}

// checkRules makes sure the rules file is a Prometheus rule file (groups).
func checkRules(rules string) (int, error) {
	var parsed struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []any  `json:"rules"`
		} `json:"groups"`
	}
	if err := yaml.UnmarshalStrict([]byte(rules), &parsed); err != nil {
		return 0, fmt.Errorf("%s: %w", rulesSource, err)
	}
	if len(parsed.Groups) == 0 {
		return 0, fmt.Errorf("%s has no rule groups", rulesSource)
	}
	return len(parsed.Groups), nil
}

// prometheusRule wraps the rule file in a Prometheus Operator PrometheusRule
// for config/prometheus (kustomize).
func prometheusRule(rules string) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Generated by `make manifests` (hack/installgen) from %s: do not edit.\n", filepath.Base(rulesSource))
	b.WriteString(`# Prometheus Operator PrometheusRule with the operator's alerts.
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  labels:
    app.kubernetes.io/name: codat-operator
    app.kubernetes.io/managed-by: kustomize
  name: alerts
  namespace: system
spec:
`)
	for _, line := range strings.Split(strings.TrimRight(rules, "\n"), "\n") {
		if line == "" {
			b.WriteString("\n")
			continue
		}
		b.WriteString("  " + line + "\n")
	}
	return b.String()
}

// healthCheck is a kind's Argo CD health check.
type healthCheck struct{ kind, lua string }

// argoCDConfigMap puts the health check of each kind into an argocd-cm
// resource customization, as Argo CD reads them without upstreaming.
func argoCDConfigMap(checks []healthCheck) string {
	var b strings.Builder
	b.WriteString(generatedHeader(healthLua("*")))
	b.WriteString(`# Merge data into your argocd-cm (or configs.cm of Argo CD's Helm chart).
apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-cm
  namespace: argocd
  labels:
    app.kubernetes.io/name: argocd-cm
    app.kubernetes.io/part-of: argocd
data:
`)
	for _, c := range checks {
		fmt.Fprintf(&b, "  resource.customizations.health.codat.io_%s: |\n", c.kind)
		for _, line := range strings.Split(strings.TrimRight(c.lua, "\n"), "\n") {
			if line == "" {
				b.WriteString("\n")
				continue
			}
			b.WriteString("    " + line + "\n")
		}
	}
	return b.String()
}
