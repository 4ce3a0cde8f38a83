package main

import (
	"bytes"
	"encoding/json"
	"fmt"
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

// crdNames are the CRDs the chart installs, as config/crd does.
var crdNames = []string{"codatconnections.codat.io", "codatcompanies.codat.io"}

// nonDefault exercises every switch of values.yaml.
func nonDefault() map[string]any {
	return map[string]any{
		"image":                map[string]any{"repository": "registry.example.com/platform/codat-operator", "digest": digest},
		"imagePullSecrets":     []any{map[string]any{"name": "registry-credentials"}},
		"commonLabels":         map[string]any{"team": "payments"},
		"commonAnnotations":    map[string]any{"example.com/owner": "payments"},
		"crds":                 map[string]any{"keep": false},
		"replicaCount":         2,
		"revisionHistoryLimit": 5,
		"strategy":             map[string]any{"type": "Recreate"},
		"podDisruptionBudget":  map[string]any{"enabled": true},
		"extraVolumes":         []any{map[string]any{"name": "proxy-ca", "configMap": map[string]any{"name": "proxy-ca-bundle"}}},
		"extraVolumeMounts":    []any{map[string]any{"name": "proxy-ca", "mountPath": "/etc/codat-operator/ca", "readOnly": true}},
		"grafanaDashboard":     map[string]any{"enabled": true, "namespace": "monitoring"},
		"defaultCredentials": map[string]any{
			"secretName": "",
		},
		"watchNamespaces":       []any{"customers", "partners"},
		"defaultDeletionPolicy": "Orphan",
		"extraArgs":             []any{"--poll-interval=5m"},
		"extraEnv":              []any{map[string]any{"name": "CODAT_BASE_URL", "value": "https://api.codat.io"}},
		"serviceAccount":        map[string]any{"annotations": map[string]any{"example.com/role": "codat"}},
		"podAnnotations":        map[string]any{"example.com/scrape": "false"},
		"podLabels":             map[string]any{"tier": "control"},
		"nodeSelector":          map[string]any{"kubernetes.io/os": "linux"},
		"tolerations":           []any{map[string]any{"key": "dedicated", "operator": "Equal", "value": "operators", "effect": "NoSchedule"}},
		"affinity":              map[string]any{"podAntiAffinity": map[string]any{"preferredDuringSchedulingIgnoredDuringExecution": []any{map[string]any{"weight": 100, "podAffinityTerm": map[string]any{"topologyKey": "kubernetes.io/hostname", "labelSelector": map[string]any{"matchLabels": map[string]any{"app.kubernetes.io/name": "codat-operator"}}}}}}},
		"priorityClassName":     "system-cluster-critical",
		"resources":             map[string]any{"requests": map[string]any{"cpu": "50m", "memory": "128Mi"}, "limits": map[string]any{"memory": "512Mi"}},
		"metrics": map[string]any{
			"tls": map[string]any{"certManager": map[string]any{"enabled": true, "issuerRef": map[string]any{"name": "cluster-ca", "kind": "ClusterIssuer"}}},
			"serviceMonitor": map[string]any{
				"enabled":                  true,
				"labels":                   map[string]any{"release": "kube-prometheus"},
				"prometheusServiceAccount": map[string]any{"name": "prometheus-k8s", "namespace": "monitoring"},
			},
		},
		"prometheusRule": map[string]any{"enabled": true, "labels": map[string]any{"release": "kube-prometheus"}},
		"networkPolicy": map[string]any{
			"enabled":     true,
			"egress":      map[string]any{"enabled": true},
			"webhookFrom": []any{map[string]any{"namespaceSelector": map[string]any{"matchLabels": map[string]any{"kubernetes.io/metadata.name": "ingress-nginx"}}}},
		},
		// A zero floor is a value, not "unset": it must still render.
		"codat": map[string]any{"baseURL": "https://api.codat.example", "requestsPerSecond": 2.5, "burst": 5, "quotaShare": 0.5, "quotaFloor": 0},
		"webhook": map[string]any{
			"enabled":       true,
			"port":          9444,
			"signingSecret": map[string]any{"name": "codat-signing"},
			"tls":           map[string]any{"secretName": "codat-receiver-tls"},
			"service":       map[string]any{"annotations": map[string]any{"example.com/exposed": "ingress"}},
			"ingress": map[string]any{
				"enabled":     true,
				"className":   "nginx",
				"annotations": map[string]any{"nginx.ingress.kubernetes.io/backend-protocol": "HTTPS"},
				"hosts":       []any{map[string]any{"host": "codat-webhooks.example.com"}},
				"tls":         []any{map[string]any{"hosts": []any{"codat-webhooks.example.com"}, "secretName": "codat-webhooks-ingress-tls"}},
			},
		},
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

	// The CRDs.
	for _, name := range crdNames {
		kustCRD := mustFind(t, kustObjs, "CustomResourceDefinition", name)
		chartCRD := mustFind(t, chartObjs, "CustomResourceDefinition", name)
		if diff := cmp.Diff(kustCRD.Object["spec"], chartCRD.Object["spec"]); diff != "" {
			t.Errorf("CRD %s spec (-config +chart):\n%s", name, diff)
		}
		if chartCRD.GetAnnotations()["helm.sh/resource-policy"] != "keep" {
			t.Errorf("the chart's CRD %s is not kept on uninstall: annotations %v", name, chartCRD.GetAnnotations())
		}
	}

	// Every CRD, role and binding, by name.
	for _, kind := range []string{"CustomResourceDefinition", "ClusterRole", "Role", "ClusterRoleBinding", "RoleBinding", "ServiceAccount", "Service", "Deployment"} {
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

	for _, name := range crdNames {
		crd := mustFind(t, objs, "CustomResourceDefinition", name)
		if _, kept := crd.GetAnnotations()["helm.sh/resource-policy"]; kept {
			t.Errorf("crds.keep=false still keeps the CRD %s", name)
		}
	}

	d := mustFind(t, objs, "Deployment", "payments-codat-operator-controller-manager")
	c := container(t, d)
	if got, want := c["image"], "registry.example.com/platform/codat-operator@"+digest; got != want {
		t.Errorf("image %v, want %s", got, want)
	}
	args, _ := json.Marshal(c["args"])
	for _, want := range []string{
		`"--watch-namespaces=customers,partners"`, `"--default-deletion-policy=Orphan"`, `"--metrics-cert-path=/tmp/k8s-metrics-server/metrics-certs"`, `"--poll-interval=5m"`, `"--leader-elect"`,
		`"--webhook-bind-address=:9444"`, `"--webhook-secret=$(POD_NAMESPACE)/codat-signing"`, `"--webhook-cert-dir=/tmp/codat-webhooks/certs"`,
		`"--codat-base-url=https://api.codat.example"`, `"--codat-requests-per-second=2.5"`, `"--codat-burst=5"`, `"--codat-quota-share=0.5"`, `"--codat-quota-floor=0"`,
	} {
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

	checkWebhookReceiver(t, objs, d, "payments-codat-operator", 9444)
}

// checkWebhookReceiver checks nonDefault's webhook values: the receiver's port and
// certificate in the Deployment, the Service in front of it, the Ingress routing
// /webhooks/codat to the Service, and the NetworkPolicy admitting the port from
// networkPolicy.webhookFrom.
func checkWebhookReceiver(t *testing.T, objs []*unstructured.Unstructured, d *unstructured.Unstructured, fullname string, port int64) {
	t.Helper()
	c := container(t, d)
	ports, _ := json.Marshal(c["ports"])
	if !bytes.Contains(ports, []byte(fmt.Sprintf(`{"containerPort":%d,"name":"webhooks","protocol":"TCP"}`, port))) {
		t.Errorf("container ports %s lack the receiver's port %d", ports, port)
	}
	mounts, _ := json.Marshal(c["volumeMounts"])
	if !bytes.Contains(mounts, []byte(`{"mountPath":"/tmp/codat-webhooks/certs","name":"webhook-certs","readOnly":true}`)) {
		t.Errorf("volumeMounts %s lack the receiver's certificate where --webhook-cert-dir points", mounts)
	}
	vols, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "volumes")
	if vs, _ := json.Marshal(vols); !bytes.Contains(vs, []byte(`"name":"webhook-certs","secret":{"items":[{"key":"tls.crt","path":"tls.crt"},{"key":"tls.key","path":"tls.key"}],"secretName":"codat-receiver-tls"}`)) {
		t.Errorf("volumes %s do not mount webhook.tls.secretName", vs)
	}

	svc := mustFind(t, objs, "Service", fullname+"-webhooks")
	svcPorts, _, _ := unstructured.NestedSlice(svc.Object, "spec", "ports")
	wantPorts := []any{map[string]any{"name": "webhooks", "port": port, "protocol": "TCP", "targetPort": "webhooks"}}
	if diff := cmp.Diff(wantPorts, svcPorts); diff != "" {
		t.Errorf("webhook Service ports (-want +got):\n%s", diff)
	}
	if typ, _, _ := unstructured.NestedString(svc.Object, "spec", "type"); typ != "ClusterIP" {
		t.Errorf("webhook Service type %q, want ClusterIP", typ)
	}
	if svc.GetAnnotations()["example.com/exposed"] != "ingress" {
		t.Errorf("webhook Service annotations %v lack webhook.service.annotations", svc.GetAnnotations())
	}
	checkSelectsTheLeader(t, svc, d)

	ing := mustFind(t, objs, "Ingress", fullname+"-webhooks")
	var spec struct {
		IngressClassName string `json:"ingressClassName"`
		TLS              []struct {
			Hosts      []string `json:"hosts"`
			SecretName string   `json:"secretName"`
		} `json:"tls"`
		Rules []struct {
			Host string `json:"host"`
			HTTP struct {
				Paths []struct {
					Path     string `json:"path"`
					PathType string `json:"pathType"`
					Backend  struct {
						Service struct {
							Name string `json:"name"`
							Port struct {
								Number int64 `json:"number"`
							} `json:"port"`
						} `json:"service"`
					} `json:"backend"`
				} `json:"paths"`
			} `json:"http"`
		} `json:"rules"`
	}
	raw, _ := json.Marshal(ing.Object["spec"])
	if err := json.Unmarshal(raw, &spec); err != nil {
		t.Fatalf("Ingress spec %s: %v", raw, err)
	}
	if spec.IngressClassName != "nginx" || len(spec.TLS) != 1 || spec.TLS[0].SecretName != "codat-webhooks-ingress-tls" ||
		!slices.Equal(spec.TLS[0].Hosts, []string{"codat-webhooks.example.com"}) {
		t.Errorf("Ingress class or TLS: %s", raw)
	}
	if len(spec.Rules) != 1 || spec.Rules[0].Host != "codat-webhooks.example.com" || len(spec.Rules[0].HTTP.Paths) != 1 {
		t.Fatalf("Ingress rules: %s", raw)
	}
	p := spec.Rules[0].HTTP.Paths[0]
	if p.Path != "/webhooks/codat" || p.PathType != "Exact" || p.Backend.Service.Name != svc.GetName() || p.Backend.Service.Port.Number != port {
		t.Errorf("Ingress path %+v, want /webhooks/codat (Exact) to Service %s port %d", p, svc.GetName(), port)
	}
	if ing.GetAnnotations()["nginx.ingress.kubernetes.io/backend-protocol"] != "HTTPS" {
		t.Errorf("Ingress annotations %v lack webhook.ingress.annotations", ing.GetAnnotations())
	}

	np := mustFind(t, objs, "NetworkPolicy", fullname+"-allow-webhook-traffic")
	rules, _, _ := unstructured.NestedSlice(np.Object, "spec", "ingress")
	wantRules := []any{map[string]any{
		"from":  []any{map[string]any{"namespaceSelector": map[string]any{"matchLabels": map[string]any{"kubernetes.io/metadata.name": "ingress-nginx"}}}},
		"ports": []any{map[string]any{"port": port, "protocol": "TCP"}},
	}}
	if diff := cmp.Diff(wantRules, rules); diff != "" {
		t.Errorf("webhook NetworkPolicy ingress (-want +got):\n%s", diff)
	}
	npSel, _, _ := unstructured.NestedStringMap(np.Object, "spec", "podSelector", "matchLabels")
	podLabels, _, _ := unstructured.NestedStringMap(d.Object, "spec", "template", "metadata", "labels")
	for k, v := range npSel {
		if podLabels[k] != v {
			t.Errorf("the webhook NetworkPolicy selects %s=%s, the pods have %q", k, v, podLabels[k])
		}
	}
}

// checkSelectsTheLeader: the webhook Service selects the manager's pods, and of them only the one
// the leader labels: the pod template must not carry the label, or every replica would match.
func checkSelectsTheLeader(t *testing.T, svc, d *unstructured.Unstructured) {
	t.Helper()
	sel, _, _ := unstructured.NestedStringMap(svc.Object, "spec", "selector")
	podLabels, _, _ := unstructured.NestedStringMap(d.Object, "spec", "template", "metadata", "labels")
	if sel["codat.io/webhook-receiver"] != "leader" {
		t.Errorf("the webhook Service %s selects %v: not the leader's Pod alone (codat.io/webhook-receiver=leader)", svc.GetName(), sel)
	}
	if _, ok := podLabels["codat.io/webhook-receiver"]; ok {
		t.Errorf("the pod template carries codat.io/webhook-receiver: every replica would receive deliveries")
	}
	for k, v := range sel {
		if k != "codat.io/webhook-receiver" && podLabels[k] != v {
			t.Errorf("the webhook Service selects %s=%s, the pods have %q", k, v, podLabels[k])
		}
	}
	env, _ := json.Marshal(container(t, d)["env"])
	if !bytes.Contains(env, []byte(`{"name":"POD_NAME","valueFrom":{"fieldRef":{"fieldPath":"metadata.name"}}}`)) {
		t.Errorf("the manager is not told its Pod's name (POD_NAME), which the leader labels: env %s", env)
	}
}

// TestChartWebhookDefaults: webhook.enabled alone renders what config/default with
// the config/webhook-receiver component does (same flags, port and Service), with
// no certificate, no Ingress, and a NetworkPolicy admitting the port from anywhere.
func TestChartWebhookDefaults(t *testing.T) {
	_, chartObjs := renderObjects(t, map[string]any{
		"webhook":       map[string]any{"enabled": true},
		"networkPolicy": map[string]any{"enabled": true},
	}, release, namespace)

	// config/default with the webhook-receiver component, as its comment says to turn it on.
	kustObjs := kustomizeDefaultWith(t, nil, []string{"../webhook-receiver"})

	kc := container(t, mustFind(t, kustObjs, "Deployment", "codat-operator-controller-manager"))
	cd := mustFind(t, chartObjs, "Deployment", "codat-operator-controller-manager")
	cc := container(t, cd)
	for _, f := range []string{"args", "ports", "volumeMounts"} {
		if diff := cmp.Diff(kc[f], cc[f]); diff != "" {
			t.Errorf("manager container %s (-config +chart):\n%s", f, diff)
		}
	}
	if vols, found, _ := unstructured.NestedSlice(cd.Object, "spec", "template", "spec", "volumes"); found {
		t.Errorf("volumes %v without webhook.tls.secretName", vols)
	}
	ks := mustFind(t, kustObjs, "Service", "codat-operator-webhooks")
	cs := mustFind(t, chartObjs, "Service", "codat-operator-webhooks")
	checkSelectsTheLeader(t, ks, mustFind(t, kustObjs, "Deployment", "codat-operator-controller-manager"))
	checkSelectsTheLeader(t, cs, cd)
	kr := mustFind(t, kustObjs, "Role", "codat-operator-webhook-receiver-role")
	cr := mustFind(t, chartObjs, "Role", "codat-operator-webhook-receiver-role")
	if diff := cmp.Diff(kr.Object["rules"], cr.Object["rules"]); diff != "" {
		t.Errorf("rules of the webhook receiver's Role (-config +chart):\n%s", diff)
	}
	for _, objs := range [][]*unstructured.Unstructured{kustObjs, chartObjs} {
		rb := mustFind(t, objs, "RoleBinding", "codat-operator-webhook-receiver-rolebinding")
		if ref, _, _ := unstructured.NestedString(rb.Object, "roleRef", "name"); ref != "codat-operator-webhook-receiver-role" {
			t.Errorf("the webhook receiver's RoleBinding binds %q", ref)
		}
	}
	kp, _, _ := unstructured.NestedSlice(ks.Object, "spec", "ports")
	cp, _, _ := unstructured.NestedSlice(cs.Object, "spec", "ports")
	if diff := cmp.Diff(kp, cp); diff != "" {
		t.Errorf("ports of Service codat-operator-webhooks (-config +chart):\n%s", diff)
	}
	if ing := find(chartObjs, "Ingress", ""); ing != nil {
		t.Errorf("Ingress %s rendered without webhook.ingress.enabled", ing.GetName())
	}
	np := mustFind(t, chartObjs, "NetworkPolicy", "codat-operator-allow-webhook-traffic")
	rules, _, _ := unstructured.NestedSlice(np.Object, "spec", "ingress")
	want := []any{map[string]any{"ports": []any{map[string]any{"port": int64(9443), "protocol": "TCP"}}}}
	if diff := cmp.Diff(want, rules); diff != "" {
		t.Errorf("webhook NetworkPolicy ingress with the default webhookFrom, want any source (-want +got):\n%s", diff)
	}
}

// TestChartGrantsDefaultCredentials: the default grants namespaces by label only
// (none until labelled); a list grants by name; without a Secret nothing is granted.
func TestChartGrantsDefaultCredentials(t *testing.T) {
	cases := []struct {
		name        string
		credentials map[string]any
		want, not   []string
	}{
		{"default", map[string]any{},
			[]string{`"--default-credentials-namespace-selector=codat.io/default-credentials=granted"`}, []string{"--default-credentials-namespaces"}},
		{"by name only", map[string]any{"namespaceSelector": "", "namespaces": []any{"team-a", "team-b"}},
			[]string{`"--default-credentials-namespaces=team-a,team-b"`}, []string{"--default-credentials-namespace-selector"}},
		{"no Secret", map[string]any{"secretName": "", "namespaces": []any{"team-a"}},
			nil, []string{"--default-credentials-namespaces", "--default-credentials-namespace-selector", "--default-credentials-secret"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, objs := renderObjects(t, map[string]any{"defaultCredentials": tc.credentials}, release, namespace)
			args, _ := json.Marshal(container(t, mustFind(t, objs, "Deployment", "codat-operator-controller-manager"))["args"])
			for _, want := range tc.want {
				if !bytes.Contains(args, []byte(want)) {
					t.Errorf("args %s lack %s", args, want)
				}
			}
			for _, not := range tc.not {
				if bytes.Contains(args, []byte(not)) {
					t.Errorf("args %s have %s", args, not)
				}
			}
		})
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
		"the latest tag":                   {map[string]any{"image": map[string]any{"tag": "latest"}}, "1.32.0", "latest is not allowed"},
		"a digest that is not a digest":    {map[string]any{"image": map[string]any{"digest": "v1"}}, "1.32.0", "at '/image/digest': 'v1' does not match pattern '^(sha256:"},
		"a ServiceMonitor without TLS":     {map[string]any{"metrics": map[string]any{"serviceMonitor": map[string]any{"enabled": true}}}, "1.32.0", "verifies the manager's certificate"},
		"cert-manager without issuer":      {map[string]any{"metrics": map[string]any{"tls": map[string]any{"certManager": map[string]any{"enabled": true}}}}, "1.32.0", "issuerRef.name is required"},
		"Kubernetes 1.31":                  {nil, "1.31.4", "kubeVersion"},
		"a webhook without signing secret": {map[string]any{"webhook": map[string]any{"enabled": true, "signingSecret": map[string]any{"name": ""}}}, "1.32.0", "webhook.signingSecret.name is required"},
		"a webhook Ingress without hosts":  {map[string]any{"webhook": map[string]any{"enabled": true, "ingress": map[string]any{"enabled": true}}}, "1.32.0", "webhook.ingress.hosts needs at least one host"},
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
		watched           []string
		want              []string
	}{
		{"defaults", release, namespace, nil, nil, []string{
			"customresourcedefinition.apiextensions.k8s.io/codatconnections.codat.io serverside-applied (server dry run)",
			"customresourcedefinition.apiextensions.k8s.io/codatcompanies.codat.io serverside-applied (server dry run)",
			"clusterrole.rbac.authorization.k8s.io/codat-operator-codatcompany-editor-role serverside-applied (server dry run)",
			"deployment.apps/codat-operator-controller-manager serverside-applied (server dry run)",
			"clusterrole.rbac.authorization.k8s.io/codat-operator-manager-role serverside-applied (server dry run)",
		}},
		{"non-default values", "payments", "platform", nonDefault(), []string{"customers", "partners", "monitoring"}, []string{
			"poddisruptionbudget.policy/payments-codat-operator-controller-manager serverside-applied (server dry run)",
			"configmap/payments-codat-operator-dashboard serverside-applied (server dry run)",
			"secret/payments-codat-operator-metrics-scraper-token serverside-applied (server dry run)",
			"deployment.apps/payments-codat-operator-controller-manager serverside-applied (server dry run)",
			"servicemonitor.monitoring.coreos.com/payments-codat-operator-controller-manager-metrics-monitor serverside-applied (server dry run)",
			"prometheusrule.monitoring.coreos.com/payments-codat-operator-alerts serverside-applied (server dry run)",
			"networkpolicy.networking.k8s.io/payments-codat-operator-egress serverside-applied (server dry run)",
			"networkpolicy.networking.k8s.io/payments-codat-operator-allow-webhook-traffic serverside-applied (server dry run)",
			"service/payments-codat-operator-webhooks serverside-applied (server dry run)",
			"ingress.networking.k8s.io/payments-codat-operator-webhooks serverside-applied (server dry run)",
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			manifest, _ := renderObjects(t, c.values, c.release, c.ns)
			out := dryRunApply(t, env, c.ns, manifest, c.watched...)
			for _, want := range c.want {
				if !strings.Contains(out, want) {
					t.Errorf("the dry run did not report %q:\n%s", want, out)
				}
			}
		})
	}
}

// kustomizeDefaultWith builds config/default with more resources and components,
// as its comments say to turn them on, from a copy of config/.
func kustomizeDefaultWith(t *testing.T, resources, components []string) []*unstructured.Unstructured {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join(repoRoot, "config"))); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "default", "kustomization.yaml")
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var k struct {
		Namespace  string   `json:"namespace"`
		NamePrefix string   `json:"namePrefix"`
		Resources  []string `json:"resources"`
		Components []string `json:"components,omitempty"`
	}
	if err := yaml.UnmarshalStrict(raw, &k); err != nil {
		t.Fatalf("config/default/kustomization.yaml: %v", err)
	}
	k.Resources = append(k.Resources, resources...)
	k.Components = append(k.Components, components...)
	if raw, err = yaml.Marshal(k); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	out, stderr, err := kubectl(t, "", "kustomize", filepath.Join(dir, "default"))
	if err != nil {
		t.Fatalf("kubectl kustomize config/default with resources %v and components %v: %v: %s", resources, components, err, stderr)
	}
	return decodeAll(t, out)
}

// TestConfigServiceMonitorVerifiesCertificate: config/prometheus's ServiceMonitor
// verifies the manager's certificate as the chart's does (CA from the Secret's
// ca.crt, server name of the metrics Service config/default renders), and the
// config/prometheus/metrics-cert component gives the manager that Secret as the
// chart does with metrics.tls.secretName.
func TestConfigServiceMonitorVerifiesCertificate(t *testing.T) {
	kustObjs := kustomizeDefaultWith(t, []string{"../prometheus"}, []string{"../prometheus/metrics-cert"})
	sm := mustFind(t, kustObjs, "ServiceMonitor", "codat-operator-controller-manager-metrics-monitor")
	var monitor monitoringv1.ServiceMonitor
	strictDecode(t, sm, &monitor)
	if len(monitor.Spec.Endpoints) != 1 {
		t.Fatalf("ServiceMonitor endpoints: %+v", monitor.Spec.Endpoints)
	}
	tc := monitor.Spec.Endpoints[0].TLSConfig
	if tc == nil || tc.InsecureSkipVerify != nil && *tc.InsecureSkipVerify {
		t.Fatalf("config/prometheus's ServiceMonitor does not verify the certificate: tlsConfig %+v", tc)
	}
	svc := mustFind(t, kustObjs, "Service", "codat-operator-controller-manager-metrics-service")
	serverName := ""
	if tc.ServerName != nil {
		serverName = *tc.ServerName
	}
	if want := svc.GetName() + "." + svc.GetNamespace() + ".svc"; serverName != want {
		t.Errorf("ServiceMonitor serverName %q, want the metrics Service's DNS name %s", serverName, want)
	}
	if tc.CA.Secret == nil || tc.CA.Secret.Key != "ca.crt" {
		t.Fatalf("ServiceMonitor CA %+v, want key ca.crt of a Secret", tc.CA)
	}
	secret := tc.CA.Secret.Name

	// The chart with the same Secret renders the same manager flags, mounts and ServiceMonitor endpoint.
	_, chartObjs := renderObjects(t, map[string]any{"metrics": map[string]any{
		"tls":            map[string]any{"secretName": secret},
		"serviceMonitor": map[string]any{"enabled": true},
	}}, release, namespace)
	kd := mustFind(t, kustObjs, "Deployment", "codat-operator-controller-manager")
	cd := mustFind(t, chartObjs, "Deployment", "codat-operator-controller-manager")
	kc, cc := container(t, kd), container(t, cd)
	for _, f := range []string{"args", "volumeMounts"} {
		if diff := cmp.Diff(cc[f], kc[f]); diff != "" {
			t.Errorf("manager container %s (-chart +config):\n%s", f, diff)
		}
	}
	kv, _, _ := unstructured.NestedSlice(kd.Object, "spec", "template", "spec", "volumes")
	cv, _, _ := unstructured.NestedSlice(cd.Object, "spec", "template", "spec", "volumes")
	if diff := cmp.Diff(cv, kv); diff != "" {
		t.Errorf("manager volumes (-chart +config):\n%s", diff)
	}
	var chartMonitor monitoringv1.ServiceMonitor
	strictDecode(t, mustFind(t, chartObjs, "ServiceMonitor", ""), &chartMonitor)
	chartEP := chartMonitor.Spec.Endpoints[0]
	chartEP.Interval = "" // the chart sets metrics.serviceMonitor.interval; config leaves Prometheus's default
	if diff := cmp.Diff(chartEP, monitor.Spec.Endpoints[0]); diff != "" {
		t.Errorf("ServiceMonitor endpoint (-chart +config):\n%s", diff)
	}
}

// TestCRDSurvivesGitOps: deleting the CRD deletes every CodatConnection, and Argo CD prunes and
// deletes what it rendered from a chart without reading helm.sh/resource-policy. The chart's CRD
// (with crds.keep, the default) and install.yaml's carry the annotations Argo CD and Flux read.
func TestCRDSurvivesGitOps(t *testing.T) {
	protect := map[string]string{
		"argocd.argoproj.io/sync-options":   "Prune=false,Delete=false",
		"kustomize.toolkit.fluxcd.io/prune": "disabled",
	}
	_, chartObjs := renderObjects(t, nil, release, namespace)
	out, stderr, err := kubectl(t, "", "kustomize", filepath.Join(repoRoot, "config", "default"))
	if err != nil {
		t.Fatalf("kubectl kustomize config/default: %v: %s", err, stderr)
	}
	for source, objs := range map[string][]*unstructured.Unstructured{"the chart": chartObjs, "config/default": decodeAll(t, out)} {
		crd := mustFind(t, objs, "CustomResourceDefinition", "codatconnections.codat.io")
		for k, v := range protect {
			if got := crd.GetAnnotations()[k]; got != v {
				t.Errorf("%s: the CRD's annotation %s is %q, want %q", source, k, got, v)
			}
		}
	}
	_, unkept := renderObjects(t, map[string]any{"crds": map[string]any{"keep": false}}, release, namespace)
	crd := mustFind(t, unkept, "CustomResourceDefinition", "codatconnections.codat.io")
	for k := range protect {
		if _, ok := crd.GetAnnotations()[k]; ok {
			t.Errorf("crds.keep=false: the CRD still carries %s", k)
		}
	}
}

// TestChartPlatformValues: what platform teams set on operators' charts renders where it belongs:
// revisionHistoryLimit, the rollout strategy, a PodDisruptionBudget, extra volumes and mounts (a
// CA bundle for a proxy), extra egress rules, the probes, and the dashboard ConfigMap for
// Grafana's sidecar.
func TestChartPlatformValues(t *testing.T) {
	probe := map[string]any{"httpGet": map[string]any{"path": "/healthz", "port": "health"}, "initialDelaySeconds": int64(30), "periodSeconds": int64(30), "failureThreshold": int64(5)}
	egress := map[string]any{"to": []any{map[string]any{"ipBlock": map[string]any{"cidr": "10.0.0.10/32"}}}, "ports": []any{map[string]any{"port": int64(3128), "protocol": "TCP"}}}
	_, objs := renderObjects(t, map[string]any{
		"replicaCount":         2,
		"revisionHistoryLimit": 3,
		"strategy":             map[string]any{"type": "Recreate"},
		"podDisruptionBudget":  map[string]any{"enabled": true},
		"extraVolumes":         []any{map[string]any{"name": "proxy-ca", "configMap": map[string]any{"name": "proxy-ca-bundle"}}},
		"extraVolumeMounts":    []any{map[string]any{"name": "proxy-ca", "mountPath": "/etc/codat-operator/ca", "readOnly": true}},
		"livenessProbe":        probe,
		"networkPolicy":        map[string]any{"enabled": true, "egress": map[string]any{"enabled": true, "extraRules": []any{egress}}},
		"grafanaDashboard":     map[string]any{"enabled": true, "namespace": "monitoring", "annotations": map[string]any{"grafana_folder": "Operators"}},
	}, release, namespace)

	d := mustFind(t, objs, "Deployment", "codat-operator-controller-manager")
	for path, want := range map[string]any{"revisionHistoryLimit": int64(3), "strategy.type": "Recreate"} {
		got, _, _ := unstructured.NestedFieldNoCopy(d.Object, append([]string{"spec"}, strings.Split(path, ".")...)...)
		if got != want {
			t.Errorf("Deployment spec.%s %v, want %v", path, got, want)
		}
	}
	c := container(t, d)
	if diff := cmp.Diff(probe, c["livenessProbe"]); diff != "" {
		t.Errorf("livenessProbe (-values +rendered):\n%s", diff)
	}
	mounts, _ := json.Marshal(c["volumeMounts"])
	vols, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "volumes")
	volsJSON, _ := json.Marshal(vols)
	if !bytes.Contains(mounts, []byte(`"mountPath":"/etc/codat-operator/ca"`)) || !bytes.Contains(volsJSON, []byte(`"configMap":{"name":"proxy-ca-bundle"}`)) {
		t.Errorf("extra volume or mount missing: volumes %s, mounts %s", volsJSON, mounts)
	}

	pdb := mustFind(t, objs, "PodDisruptionBudget", "codat-operator-controller-manager")
	if got, _, _ := unstructured.NestedFieldNoCopy(pdb.Object, "spec", "maxUnavailable"); got != int64(1) {
		t.Errorf("PodDisruptionBudget maxUnavailable %v, want 1", got)
	}
	sel, _, _ := unstructured.NestedStringMap(pdb.Object, "spec", "selector", "matchLabels")
	podLabels, _, _ := unstructured.NestedStringMap(d.Object, "spec", "template", "metadata", "labels")
	for k, v := range sel {
		if podLabels[k] != v {
			t.Errorf("the PodDisruptionBudget selects %s=%s, the pods have %q", k, v, podLabels[k])
		}
	}

	np := mustFind(t, objs, "NetworkPolicy", "codat-operator-egress")
	rules, _, _ := unstructured.NestedSlice(np.Object, "spec", "egress")
	if len(rules) != 4 || cmp.Diff(egress, rules[3]) != "" {
		t.Errorf("egress rules %v: want DNS, the API server, Codat and the extra rule", rules)
	}

	board := mustFind(t, objs, "ConfigMap", "codat-operator-dashboard")
	want, err := os.ReadFile(filepath.Join(repoRoot, "config", "grafana", "codat-operator.json"))
	if err != nil {
		t.Fatal(err)
	}
	if got, _, _ := unstructured.NestedString(board.Object, "data", "codat-operator.json"); got != strings.TrimRight(string(want), "\n") {
		t.Errorf("the dashboard ConfigMap does not hold config/grafana/codat-operator.json")
	}
	if board.GetNamespace() != "monitoring" || board.GetLabels()["grafana_dashboard"] != "1" || board.GetAnnotations()["grafana_folder"] != "Operators" {
		t.Errorf("dashboard ConfigMap in %q with labels %v, annotations %v", board.GetNamespace(), board.GetLabels(), board.GetAnnotations())
	}
	if find(objs, "ServiceAccount", "codat-operator-metrics-scraper") != nil {
		t.Error("a metrics scraper ServiceAccount without a ServiceMonitor")
	}
}

// TestChartServiceMonitorAuthorization: the ServiceMonitor authenticates with the token of a
// ServiceAccount the chart creates (authorization, not the deprecated bearerTokenFile), and that
// ServiceAccount may read the metrics: asked of a real API server.
func TestChartServiceMonitorAuthorization(t *testing.T) {
	const rel, ns = "scrape", "scrape-operator"
	_, objs := renderObjects(t, map[string]any{"metrics": map[string]any{
		"tls":            map[string]any{"secretName": "metrics-tls"},
		"serviceMonitor": map[string]any{"enabled": true},
	}}, rel, ns)
	var monitor monitoringv1.ServiceMonitor
	strictDecode(t, mustFind(t, objs, "ServiceMonitor", ""), &monitor)
	ep := monitor.Spec.Endpoints[0]
	if ep.BearerTokenFile != "" { //nolint:staticcheck // checking that the deprecated field is not used
		t.Errorf("the ServiceMonitor uses bearerTokenFile %q", ep.BearerTokenFile) //nolint:staticcheck // as above
	}
	if ep.Authorization == nil || ep.Authorization.Credentials == nil || ep.Authorization.Credentials.Key != "token" {
		t.Fatalf("ServiceMonitor authorization %+v, want the key token of a Secret", ep.Authorization)
	}
	if ep.Authorization.Type != "" && ep.Authorization.Type != "Bearer" {
		t.Errorf("authorization type %q, want Bearer", ep.Authorization.Type)
	}
	secret := mustFind(t, objs, "Secret", ep.Authorization.Credentials.Name)
	if typ, _, _ := unstructured.NestedString(secret.Object, "type"); typ != "kubernetes.io/service-account-token" {
		t.Errorf("Secret %s has type %q, want a ServiceAccount token", secret.GetName(), typ)
	}
	sa := mustFind(t, objs, "ServiceAccount", secret.GetAnnotations()["kubernetes.io/service-account.name"])

	env := startAPIServer(t)
	if _, stderr, err := kubectl(t, "", "--kubeconfig", env.Kubeconfig, "create", "namespace", ns); err != nil {
		t.Fatalf("creating namespace %s: %v: %s", ns, err, stderr)
	}
	var rbac []string
	for _, o := range objs {
		switch o.GetKind() {
		case "ClusterRole", "ClusterRoleBinding", "ServiceAccount":
			y, err := yaml.Marshal(o.Object)
			if err != nil {
				t.Fatal(err)
			}
			rbac = append(rbac, string(y))
		}
	}
	if _, stderr, err := kubectl(t, strings.Join(rbac, "---\n"), "--kubeconfig", env.Kubeconfig, "apply", "--server-side", "-f", "-"); err != nil {
		t.Fatalf("applying the chart's RBAC: %v: %s", err, stderr)
	}
	for as, want := range map[string]string{
		"system:serviceaccount:" + ns + ":" + sa.GetName(): "yes",
		"system:serviceaccount:" + ns + ":default":         "no",
	} {
		out, _, _ := kubectl(t, "", "--kubeconfig", env.Kubeconfig, "auth", "can-i", "get", "/metrics", "--as", as)
		if got := strings.TrimSpace(out); got != want {
			t.Errorf("can %s get /metrics: %q, want %q", as, got, want)
		}
	}
}
