package main

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// TestChartNamespacedRBAC installs the chart's RBAC with watchNamespaces on a real API server
// and asks it what the manager's ServiceAccount may do: Secrets and CodatConnections only in the
// watched namespaces and its own, Namespaces (their labels grant credentials) cluster-wide.
func TestChartNamespacedRBAC(t *testing.T) {
	const rel, ns = "tenant", "tenant-operator"
	env := startAPIServer(t)
	_, objs := renderObjects(t, map[string]any{"watchNamespaces": []any{"team-a", "team-b"}}, rel, ns)
	var rbac []string
	for _, o := range objs {
		switch o.GetKind() {
		case "ClusterRoleBinding":
			if ref, _, _ := unstructured.NestedString(o.Object, "roleRef", "name"); ref == rel+"-codat-operator-manager-role" {
				t.Errorf("ClusterRoleBinding %s grants the manager role cluster-wide although watchNamespaces is set", o.GetName())
			}
			fallthrough
		case "ClusterRole", "Role", "RoleBinding":
			y, err := yaml.Marshal(o.Object)
			if err != nil {
				t.Fatal(err)
			}
			rbac = append(rbac, string(y))
		}
	}
	for _, n := range []string{ns, "team-a", "team-b", "team-c"} {
		if _, stderr, err := kubectl(t, "", "--kubeconfig", env.Kubeconfig, "create", "namespace", n); err != nil {
			t.Fatalf("creating namespace %s: %v: %s", n, err, stderr)
		}
	}
	if _, stderr, err := kubectl(t, strings.Join(rbac, "---\n"), "--kubeconfig", env.Kubeconfig, "apply", "--server-side", "-f", "-"); err != nil {
		t.Fatalf("applying the chart's RBAC: %v: %s", err, stderr)
	}

	sa := "system:serviceaccount:" + ns + ":" + rel + "-codat-operator-controller-manager"
	for _, c := range []struct {
		verb, resource, namespace string
		want                      bool
	}{
		{"get", "secrets", "team-a", true},
		{"create", "secrets", "team-b", true},
		{"get", "secrets", ns, true},
		{"watch", "codatconnections.codat.io", "team-a", true},
		{"get", "secrets", "team-c", false},
		{"list", "secrets", "", false},
		{"update", "codatconnections.codat.io/status", "team-c", false},
		{"watch", "namespaces", "", true},
	} {
		args := []string{"--kubeconfig", env.Kubeconfig, "auth", "can-i", c.verb, c.resource, "--as", sa}
		if c.namespace != "" {
			args = append(args, "-n", c.namespace)
		} else {
			args = append(args, "--all-namespaces")
		}
		out, _, _ := kubectl(t, "", args...)
		if got := strings.TrimSpace(out) == "yes"; got != c.want {
			t.Errorf("%s %s in %q: %q, want allowed=%v", c.verb, c.resource, c.namespace, strings.TrimSpace(out), c.want)
		}
	}
}

// TestChartUserRolesAggregation: the editor role joins edit, the viewer role joins view only
// when asked (docs/security.md).
func TestChartUserRolesAggregation(t *testing.T) {
	for _, c := range []struct {
		values             map[string]any
		wantEdit, wantView bool
	}{
		{nil, true, false},
		{map[string]any{"rbac": map[string]any{"aggregateToView": true, "aggregateToEdit": false}}, false, true},
	} {
		_, objs := renderObjects(t, c.values, release, namespace)
		for _, kind := range []string{"codatconnection", "codatcompany"} {
			editor := mustFind(t, objs, "ClusterRole", "codat-operator-"+kind+"-editor-role")
			viewer := mustFind(t, objs, "ClusterRole", "codat-operator-"+kind+"-viewer-role")
			if got := editor.GetLabels()["rbac.authorization.k8s.io/aggregate-to-edit"] == "true"; got != c.wantEdit {
				t.Errorf("values %v: %s editor aggregates to edit = %v", c.values, kind, got)
			}
			if got := viewer.GetLabels()["rbac.authorization.k8s.io/aggregate-to-view"] == "true"; got != c.wantView {
				t.Errorf("values %v: %s viewer aggregates to view = %v", c.values, kind, got)
			}
		}
	}
	// Without userRoles, neither kind's roles are rendered.
	_, objs := renderObjects(t, map[string]any{"rbac": map[string]any{"userRoles": false}}, release, namespace)
	for _, o := range objs {
		if o.GetKind() == "ClusterRole" && (strings.HasSuffix(o.GetName(), "-editor-role") || strings.HasSuffix(o.GetName(), "-viewer-role")) {
			t.Errorf("rbac.userRoles=false still renders %s", o.GetName())
		}
	}
}

// TestChartWebhookRBAC: with webhook.enabled the manager may label the Pods of its own namespace
// (the leader's, for the receiver's Service), and no other namespace's; without it, none.
func TestChartWebhookRBAC(t *testing.T) {
	const rel, ns = "hooks", "hooks-operator"
	env := startAPIServer(t)
	_, objs := renderObjects(t, map[string]any{"webhook": map[string]any{"enabled": true}}, rel, ns)
	var rbac []string
	for _, o := range objs {
		switch o.GetKind() {
		case "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding":
			y, err := yaml.Marshal(o.Object)
			if err != nil {
				t.Fatal(err)
			}
			rbac = append(rbac, string(y))
		}
	}
	for _, n := range []string{ns, "hooks-elsewhere"} {
		if _, stderr, err := kubectl(t, "", "--kubeconfig", env.Kubeconfig, "create", "namespace", n); err != nil {
			t.Fatalf("creating namespace %s: %v: %s", n, err, stderr)
		}
	}
	if _, stderr, err := kubectl(t, strings.Join(rbac, "---\n"), "--kubeconfig", env.Kubeconfig, "apply", "--server-side", "-f", "-"); err != nil {
		t.Fatalf("applying the chart's RBAC: %v: %s", err, stderr)
	}
	sa := "system:serviceaccount:" + ns + ":" + rel + "-codat-operator-controller-manager"
	for _, c := range []struct {
		verb, namespace string
		want            bool
	}{
		{"patch", ns, true},
		{"list", ns, true},
		{"patch", "hooks-elsewhere", false},
		{"delete", ns, false},
	} {
		out, _, _ := kubectl(t, "", "--kubeconfig", env.Kubeconfig, "auth", "can-i", c.verb, "pods", "--as", sa, "-n", c.namespace)
		if got := strings.TrimSpace(out) == "yes"; got != c.want {
			t.Errorf("%s pods in %s: %q, want allowed=%v", c.verb, c.namespace, strings.TrimSpace(out), c.want)
		}
	}
	_, plain := renderObjects(t, nil, rel, ns)
	if r := find(plain, "Role", rel+"-codat-operator-webhook-receiver-role"); r != nil {
		t.Error("the webhook receiver's Role without webhook.enabled")
	}
}
