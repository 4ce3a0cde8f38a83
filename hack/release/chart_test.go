package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

const (
	// Installed as release "codat-operator" in the namespace config/default
	// uses, the chart names every object as kustomize does.
	release   = "codat-operator"
	namespace = "codat-operator-system"
	digest    = "sha256:4f1d2e3c5b6a79808f7e6d5c4b3a2918070f6e5d4c3b2a190817f6e5d4c3b2a1"
)

// nonDefault exercises every switch of values.yaml.
func nonDefault() map[string]any {
	return map[string]any{
		"image":             map[string]any{"repository": "registry.example.com/platform/codat-operator", "digest": digest},
		"imagePullSecrets":  []any{map[string]any{"name": "registry-credentials"}},
		"commonLabels":      map[string]any{"team": "payments"},
		"commonAnnotations": map[string]any{"example.com/owner": "payments"},
		"crds":              map[string]any{"keep": false},
		"replicaCount":      2,
		"defaultCredentials": map[string]any{
			"secretName": "",
		},
		"watchNamespaces":   []any{"customers", "partners"},
		"extraArgs":         []any{"--poll-interval=5m"},
		"extraEnv":          []any{map[string]any{"name": "CODAT_BASE_URL", "value": "https://api.codat.io"}},
		"serviceAccount":    map[string]any{"annotations": map[string]any{"example.com/role": "codat"}},
		"podAnnotations":    map[string]any{"example.com/scrape": "false"},
		"podLabels":         map[string]any{"tier": "control"},
		"nodeSelector":      map[string]any{"kubernetes.io/os": "linux"},
		"tolerations":       []any{map[string]any{"key": "dedicated", "operator": "Equal", "value": "operators", "effect": "NoSchedule"}},
		"affinity":          map[string]any{"podAntiAffinity": map[string]any{"preferredDuringSchedulingIgnoredDuringExecution": []any{map[string]any{"weight": 100, "podAffinityTerm": map[string]any{"topologyKey": "kubernetes.io/hostname", "labelSelector": map[string]any{"matchLabels": map[string]any{"app.kubernetes.io/name": "codat-operator"}}}}}}},
		"priorityClassName": "system-cluster-critical",
		"resources":         map[string]any{"requests": map[string]any{"cpu": "50m", "memory": "128Mi"}, "limits": map[string]any{"memory": "512Mi"}},
		"metrics": map[string]any{
			"tls": map[string]any{"certManager": map[string]any{"enabled": true, "issuerRef": map[string]any{"name": "cluster-ca", "kind": "ClusterIssuer"}}},
			"serviceMonitor": map[string]any{
				"enabled":                  true,
				"labels":                   map[string]any{"release": "kube-prometheus"},
				"prometheusServiceAccount": map[string]any{"name": "prometheus-k8s", "namespace": "monitoring"},
			},
		},
		"prometheusRule": map[string]any{"enabled": true, "labels": map[string]any{"release": "kube-prometheus"}},
		"networkPolicy":  map[string]any{"enabled": true, "egress": map[string]any{"enabled": true}},
	}
}

func TestChartLint(t *testing.T) {
	for name, values := range map[string]map[string]any{"defaults": nil, "non-default values": nonDefault()} {
		if msgs := lintErrors(chartDir, values); len(msgs) > 0 {
			t.Errorf("helm lint with %s:\n%s", name, strings.Join(msgs, "\n"))
		}
	}
}

// TestChartMatchesConfig: with default values the chart renders the CRD, the
// RBAC rules and the manager Deployment of `kubectl kustomize config/default`.
func TestChartMatchesConfig(t *testing.T) {
	_, chartObjs := renderObjects(t, nil, release, namespace)
	out, stderr, err := kubectl(t, "", "kustomize", filepath.Join(repoRoot, "config", "default"))
	if err != nil {
		t.Fatalf("kubectl kustomize config/default: %v: %s", err, stderr)
	}
	kustObjs := decodeAll(t, out)

	// The CRD.
	kustCRD := mustFind(t, kustObjs, "CustomResourceDefinition", "codatconnections.codat.io")
	chartCRD := mustFind(t, chartObjs, "CustomResourceDefinition", "codatconnections.codat.io")
	if diff := cmp.Diff(kustCRD.Object["spec"], chartCRD.Object["spec"]); diff != "" {
		t.Errorf("CRD spec (-config +chart):\n%s", diff)
	}
	if chartCRD.GetAnnotations()["helm.sh/resource-policy"] != "keep" {
		t.Errorf("the chart's CRD is not kept on uninstall: annotations %v", chartCRD.GetAnnotations())
	}

	// Every role and binding, by name.
	for _, kind := range []string{"ClusterRole", "Role", "ClusterRoleBinding", "RoleBinding", "ServiceAccount", "Service", "Deployment"} {
		var kustNames, chartNames []string
		for _, o := range kustObjs {
			if o.GetKind() == kind {
				kustNames = append(kustNames, o.GetNamespace()+"/"+o.GetName())
			}
		}
		for _, o := range chartObjs {
			if o.GetKind() == kind {
				chartNames = append(chartNames, o.GetNamespace()+"/"+o.GetName())
			}
		}
		slices.Sort(kustNames)
		slices.Sort(chartNames)
		if diff := cmp.Diff(kustNames, chartNames); diff != "" {
			t.Errorf("%s objects (-config +chart):\n%s", kind, diff)
		}
	}
	for _, k := range kustObjs {
		c := find(chartObjs, k.GetKind(), k.GetName())
		if c == nil {
			continue // reported above
		}
		switch k.GetKind() {
		case "ClusterRole", "Role":
			if diff := cmp.Diff(k.Object["rules"], c.Object["rules"]); diff != "" {
				t.Errorf("rules of %s %s (-config +chart):\n%s", k.GetKind(), k.GetName(), diff)
			}
		case "ClusterRoleBinding", "RoleBinding":
			for _, f := range []string{"roleRef", "subjects"} {
				if diff := cmp.Diff(k.Object[f], c.Object[f]); diff != "" {
					t.Errorf("%s of %s %s (-config +chart):\n%s", f, k.GetKind(), k.GetName(), diff)
				}
			}
		case "Service":
			kp, _, _ := unstructured.NestedSlice(k.Object, "spec", "ports")
			cp, _, _ := unstructured.NestedSlice(c.Object, "spec", "ports")
			if diff := cmp.Diff(kp, cp); diff != "" {
				t.Errorf("ports of Service %s (-config +chart):\n%s", k.GetName(), diff)
			}
		}
	}

	// The Deployment: everything but labels and the image.
	kd := mustFind(t, kustObjs, "Deployment", "codat-operator-controller-manager")
	cd := mustFind(t, chartObjs, "Deployment", "codat-operator-controller-manager")
	for _, f := range [][]string{
		{"spec", "replicas"},
		{"spec", "template", "spec", "securityContext"},
		{"spec", "template", "spec", "serviceAccountName"},
		{"spec", "template", "spec", "terminationGracePeriodSeconds"},
		{"spec", "template", "metadata", "annotations"},
	} {
		kv, _, _ := unstructured.NestedFieldNoCopy(kd.Object, f...)
		cv, _, _ := unstructured.NestedFieldNoCopy(cd.Object, f...)
		if diff := cmp.Diff(kv, cv); diff != "" {
			t.Errorf("Deployment %s (-config +chart):\n%s", strings.Join(f, "."), diff)
		}
	}
	kc, cc := container(t, kd), container(t, cd)
	for _, f := range []string{"name", "command", "args", "env", "ports", "securityContext", "livenessProbe", "readinessProbe", "resources", "volumeMounts"} {
		if diff := cmp.Diff(kc[f], cc[f]); diff != "" {
			t.Errorf("manager container %s (-config +chart):\n%s", f, diff)
		}
	}
	if got, want := cc["image"], "ghcr.io/codat-operator/codat-operator:"+loadChart(t, chartDir).Metadata.AppVersion; got != want {
		t.Errorf("default image %v, want %s (the chart's appVersion)", got, want)
	}
	// The Deployment's pods are selected by the metrics Service.
	svc := mustFind(t, chartObjs, "Service", "codat-operator-controller-manager-metrics-service")
	sel, _, _ := unstructured.NestedStringMap(svc.Object, "spec", "selector")
	podLabels, _, _ := unstructured.NestedStringMap(cd.Object, "spec", "template", "metadata", "labels")
	for k, v := range sel {
		if podLabels[k] != v {
			t.Errorf("the metrics Service selects %s=%s, the pods have %q", k, v, podLabels[k])
		}
	}
}

func container(t *testing.T, d *unstructured.Unstructured) map[string]any {
	t.Helper()
	cs, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
	if len(cs) != 1 {
		t.Fatalf("%s has %d containers, want 1", d.GetName(), len(cs))
	}
	return cs[0].(map[string]any)
}

// TestChartNonDefaultValues checks what matters for each non-default value.
func TestChartNonDefaultValues(t *testing.T) {
	const rel, ns = "payments", "platform"
	manifest, objs := renderObjects(t, nonDefault(), rel, ns)

	if strings.Contains(manifest, "insecureSkipVerify") {
		t.Error("the rendered chart skips TLS verification somewhere")
	}
	for _, o := range objs {
		if o.GetLabels()["team"] != "payments" {
			t.Errorf("%s %s lacks commonLabels", o.GetKind(), o.GetName())
		}
		if o.GetKind() != "ClusterRoleBinding" || !strings.HasSuffix(o.GetName(), "-prometheus") {
			if o.GetAnnotations()["example.com/owner"] != "payments" {
				t.Errorf("%s %s lacks commonAnnotations", o.GetKind(), o.GetName())
			}
		}
	}

	crd := mustFind(t, objs, "CustomResourceDefinition", "codatconnections.codat.io")
	if _, kept := crd.GetAnnotations()["helm.sh/resource-policy"]; kept {
		t.Error("crds.keep=false still keeps the CRD")
	}

	d := mustFind(t, objs, "Deployment", "payments-codat-operator-controller-manager")
	c := container(t, d)
	if got, want := c["image"], "registry.example.com/platform/codat-operator@"+digest; got != want {
		t.Errorf("image %v, want %s", got, want)
	}
	args, _ := json.Marshal(c["args"])
	for _, want := range []string{`"--watch-namespaces=customers,partners"`, `"--metrics-cert-path=/tmp/k8s-metrics-server/metrics-certs"`, `"--poll-interval=5m"`, `"--leader-elect"`} {
		if !bytes.Contains(args, []byte(want)) {
			t.Errorf("args %s lack %s", args, want)
		}
	}
	if bytes.Contains(args, []byte("--default-credentials-secret")) {
		t.Errorf("args %s name default credentials though defaultCredentials.secretName is empty", args)
	}
	if r, _, _ := unstructured.NestedInt64(d.Object, "spec", "replicas"); r != 2 {
		t.Errorf("replicas %d, want 2", r)
	}
	spec, _, _ := unstructured.NestedMap(d.Object, "spec", "template", "spec")
	for field, want := range map[string]any{
		"priorityClassName": "system-cluster-critical",
		"nodeSelector":      map[string]any{"kubernetes.io/os": "linux"},
		"imagePullSecrets":  []any{map[string]any{"name": "registry-credentials"}},
	} {
		if diff := cmp.Diff(want, spec[field]); diff != "" {
			t.Errorf("pod %s (-want +got):\n%s", field, diff)
		}
	}
	if spec["tolerations"] == nil || spec["affinity"] == nil {
		t.Errorf("pod spec lacks tolerations or affinity: %v", spec)
	}

	// Metrics TLS: cert-manager's certificate, mounted where --metrics-cert-path points,
	// verified by the ServiceMonitor for the Service's DNS name.
	cert := mustFind(t, objs, "Certificate", "payments-codat-operator-metrics")
	secretName, _, _ := unstructured.NestedString(cert.Object, "spec", "secretName")
	dnsNames, _, _ := unstructured.NestedStringSlice(cert.Object, "spec", "dnsNames")
	vols, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "volumes")
	if vs, _ := json.Marshal(vols); !bytes.Contains(vs, []byte(`"secretName":"`+secretName+`"`)) {
		t.Errorf("the Deployment does not mount the certificate's Secret %s: %s", secretName, vs)
	}
	sm := mustFind(t, objs, "ServiceMonitor", "")
	var monitor monitoringv1.ServiceMonitor
	strictDecode(t, sm, &monitor)
	if len(monitor.Spec.Endpoints) != 1 {
		t.Fatalf("ServiceMonitor endpoints: %+v", monitor.Spec.Endpoints)
	}
	ep := monitor.Spec.Endpoints[0]
	svcName := "payments-codat-operator-controller-manager-metrics-service"
	if ep.TLSConfig == nil || ep.TLSConfig.ServerName == nil || *ep.TLSConfig.ServerName != svcName+".platform.svc" {
		t.Fatalf("ServiceMonitor tlsConfig %+v, want serverName %s.platform.svc", ep.TLSConfig, svcName)
	}
	if !slices.Contains(dnsNames, *ep.TLSConfig.ServerName) {
		t.Errorf("the certificate's DNS names %v do not hold the ServiceMonitor's server name %s", dnsNames, *ep.TLSConfig.ServerName)
	}
	if ep.TLSConfig.CA.Secret == nil || ep.TLSConfig.CA.Secret.Name != secretName || ep.TLSConfig.CA.Secret.Key != "ca.crt" {
		t.Errorf("ServiceMonitor CA %+v, want key ca.crt of Secret %s", ep.TLSConfig.CA, secretName)
	}
	if ep.TLSConfig.InsecureSkipVerify != nil && *ep.TLSConfig.InsecureSkipVerify {
		t.Error("the ServiceMonitor skips TLS verification")
	}
	if monitor.Labels["release"] != "kube-prometheus" || monitor.Spec.Selector.MatchLabels["app.kubernetes.io/component"] != "metrics" {
		t.Errorf("ServiceMonitor labels %v, selector %v", monitor.Labels, monitor.Spec.Selector.MatchLabels)
	}
	binding := mustFind(t, objs, "ClusterRoleBinding", "payments-codat-operator-metrics-reader-prometheus")
	if subj, _ := json.Marshal(binding.Object["subjects"]); !bytes.Contains(subj, []byte(`"name":"prometheus-k8s","namespace":"monitoring"`)) {
		t.Errorf("metrics-reader binding subjects %s", subj)
	}

	// The PrometheusRule holds alerts.rules.yaml's groups.
	pr := mustFind(t, objs, "PrometheusRule", "")
	var rule monitoringv1.PrometheusRule
	strictDecode(t, pr, &rule)
	raw, err := os.ReadFile(filepath.Join(repoRoot, "config", "prometheus", "alerts.rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var want monitoringv1.PrometheusRuleSpec
	if err := yaml.UnmarshalStrict(raw, &want); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, rule.Spec); diff != "" {
		t.Errorf("PrometheusRule spec (-alerts.rules.yaml +chart):\n%s", diff)
	}

	// NetworkPolicies: metrics from labelled namespaces; egress to DNS, API server, Codat.
	ingress := mustFind(t, objs, "NetworkPolicy", "payments-codat-operator-allow-metrics-traffic")
	if in, _ := json.Marshal(ingress.Object["spec"]); !bytes.Contains(in, []byte(`"metrics":"enabled"`)) || !bytes.Contains(in, []byte(`"port":8443`)) {
		t.Errorf("metrics NetworkPolicy spec %s", in)
	}
	egress := mustFind(t, objs, "NetworkPolicy", "payments-codat-operator-egress")
	if eg, _ := json.Marshal(egress.Object["spec"]); !bytes.Contains(eg, []byte(`"port":53`)) || !bytes.Contains(eg, []byte(`"port":443`)) || !bytes.Contains(eg, []byte(`"port":6443`)) {
		t.Errorf("egress NetworkPolicy spec %s", eg)
	}
}

func strictDecode(t *testing.T, obj *unstructured.Unstructured, into any) {
	t.Helper()
	js, err := obj.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		t.Errorf("%s %s does not decode strictly into the Prometheus Operator's type: %v", obj.GetKind(), obj.GetName(), err)
	}
}

// TestChartRefuses: values that would install something wrong fail to render.
func TestChartRefuses(t *testing.T) {
	ch := loadChart(t, chartDir)
	for name, c := range map[string]struct {
		values      map[string]any
		kubeVersion string
		want        string
	}{
		"the latest tag":                {map[string]any{"image": map[string]any{"tag": "latest"}}, "1.32.0", "latest is not allowed"},
		"a digest that is not a digest": {map[string]any{"image": map[string]any{"digest": "v1"}}, "1.32.0", "not a sha256"},
		"a ServiceMonitor without TLS":  {map[string]any{"metrics": map[string]any{"serviceMonitor": map[string]any{"enabled": true}}}, "1.32.0", "verifies the manager's certificate"},
		"cert-manager without issuer":   {map[string]any{"metrics": map[string]any{"tls": map[string]any{"certManager": map[string]any{"enabled": true}}}}, "1.32.0", "issuerRef.name is required"},
		"Kubernetes 1.31":               {nil, "1.31.4", "kubeVersion"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := render(ch, c.values, release, namespace, c.kubeVersion)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got error %v, want one containing %q", err, c.want)
			}
		})
	}
}

// thirdPartyCRDs lets the test API server accept the Prometheus Operator's
// and cert-manager's kinds. They keep unknown fields: the objects' fields are
// checked against the Prometheus Operator's Go types above, and the
// Certificate's by TestChartNonDefaultValues.
const thirdPartyCRDs = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: servicemonitors.monitoring.coreos.com}
spec:
  group: monitoring.coreos.com
  names: {kind: ServiceMonitor, plural: servicemonitors, listKind: ServiceMonitorList, singular: servicemonitor}
  scope: Namespaced
  versions:
  - {name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: prometheusrules.monitoring.coreos.com}
spec:
  group: monitoring.coreos.com
  names: {kind: PrometheusRule, plural: prometheusrules, listKind: PrometheusRuleList, singular: prometheusrule}
  scope: Namespaced
  versions:
  - {name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: certificates.cert-manager.io}
spec:
  group: cert-manager.io
  names: {kind: Certificate, plural: certificates, listKind: CertificateList, singular: certificate}
  scope: Namespaced
  versions:
  - {name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}}
`

// TestChartAppliesToAPIServer applies what the chart renders, with default and
// with non-default values, to a real API server with server-side dry-run.
func TestChartAppliesToAPIServer(t *testing.T) {
	env := startAPIServer(t)
	if _, stderr, err := kubectl(t, thirdPartyCRDs, "--kubeconfig", env.Kubeconfig, "apply", "--server-side", "-f", "-"); err != nil {
		t.Fatalf("installing the Prometheus Operator's and cert-manager's CRDs: %v: %s", err, stderr)
	}
	if _, stderr, err := kubectl(t, "", "--kubeconfig", env.Kubeconfig, "wait", "--for=condition=Established", "crd/servicemonitors.monitoring.coreos.com", "crd/prometheusrules.monitoring.coreos.com", "crd/certificates.cert-manager.io", "--timeout=60s"); err != nil {
		t.Fatalf("waiting for the CRDs: %v: %s", err, stderr)
	}
	for _, c := range []struct {
		name, release, ns string
		values            map[string]any
		want              []string
	}{
		{"defaults", release, namespace, nil, []string{
			"customresourcedefinition.apiextensions.k8s.io/codatconnections.codat.io serverside-applied (server dry run)",
			"deployment.apps/codat-operator-controller-manager serverside-applied (server dry run)",
			"clusterrole.rbac.authorization.k8s.io/codat-operator-manager-role serverside-applied (server dry run)",
		}},
		{"non-default values", "payments", "platform", nonDefault(), []string{
			"deployment.apps/payments-codat-operator-controller-manager serverside-applied (server dry run)",
			"servicemonitor.monitoring.coreos.com/payments-codat-operator-controller-manager-metrics-monitor serverside-applied (server dry run)",
			"prometheusrule.monitoring.coreos.com/payments-codat-operator-alerts serverside-applied (server dry run)",
			"networkpolicy.networking.k8s.io/payments-codat-operator-egress serverside-applied (server dry run)",
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			manifest, _ := renderObjects(t, c.values, c.release, c.ns)
			out := dryRunApply(t, env, c.ns, manifest)
			for _, want := range c.want {
				if !strings.Contains(out, want) {
					t.Errorf("the dry run did not report %q:\n%s", want, out)
				}
			}
		})
	}
}
