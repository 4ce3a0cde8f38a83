package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/codat-operator/codat-operator/internal/testenv"
)

// TestUninstall follows the uninstall procedure of docs/operations.md, running the commands of its
// marked blocks with bash and kubectl: install.yaml applied to a control plane of its own (it
// deletes the CRD at the end), the manager binary standing for the Deployment's pod, and the Codat
// simulator. Whatever the objects' deletion policies were, no connection is deleted or unlinked in
// Codat, and nothing is left behind.
func TestUninstall(t *testing.T) {
	const (
		operatorNS = "codat-operator-system"
		tenantNS   = "customers"
		company    = "5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b"
		adopted    = "0d1e2f3a-4b5c-4d6e-8f7a-8b9c0d1e2f3a"
	)
	uenv, err := testenv.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = uenv.Stop() })
	finalizeNamespaces(t, uenv)
	dir := t.TempDir() // where the user runs the commands, with install.yaml
	sh := func(block string) {
		t.Helper()
		runBlock(t, uenv.Kubeconfig, dir, uninstallBlock(t, block))
	}
	k := func(args ...string) string {
		t.Helper()
		out, err := uenv.Kubectl(args...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}

	// Installed as install.yaml installs it; the manager runs as its pod would.
	installYAML, err := exec.Command("kubectl", "kustomize", filepath.Join(root, "config", "default")).Output()
	if err != nil {
		t.Fatalf("kubectl kustomize config/default: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "install.yaml"), installYAML, 0o600); err != nil {
		t.Fatal(err)
	}
	k("apply", "--server-side", "--force-conflicts", "-f", filepath.Join(dir, "install.yaml"))
	k("create", "secret", "generic", "codat-credentials", "-n", operatorNS, "--from-literal=apiKey="+apiKey)
	k("create", "namespace", tenantNS)
	k("label", "namespace", tenantNS, "codat.io/default-credentials=granted")
	s := startSim(t, "--company", company, "--connection", company+":"+adopted+":mqjo:Linked")
	startOperator := func(name string) *process {
		return start(t, name, filepath.Join(binDir, "manager"), []string{
			"--kubeconfig", uenv.Kubeconfig, "--codat-base-url", s.URL,
			"--default-credentials-secret", operatorNS + "/codat-credentials",
			"--default-credentials-namespace-selector", "codat.io/default-credentials=granted",
			"--health-probe-bind-address", "0", "--metrics-bind-address", "0", "--leader-elect=false",
			"--pending-auth-poll-interval", "1s", "--retry-backoff-base", "200ms",
		})
	}
	manager := startOperator("manager")

	// Objects of every policy: created (Delete by default), Delete, Unlink, adopted, and paused.
	apply := func(names ...string) {
		t.Helper()
		var docs []string
		for _, name := range names {
			spec := fmt.Sprintf("companyId: %s\n  platformKey: gbol", company)
			switch {
			case strings.HasPrefix(name, "delete"):
				spec += "\n  deletionPolicy: Delete"
			case strings.HasPrefix(name, "unlink"):
				spec += "\n  deletionPolicy: Unlink"
			case strings.HasPrefix(name, "adopted"):
				spec = fmt.Sprintf("companyId: %s\n  platformKey: mqjo\n  connectionId: %s", company, adopted)
			}
			docs = append(docs, fmt.Sprintf("apiVersion: codat.io/v1alpha1\nkind: CodatConnection\nmetadata:\n  name: %s\n  namespace: %s\nspec:\n  %s\n", name, tenantNS, spec))
		}
		if err := kubectlIn(uenv.Kubeconfig, strings.Join(docs, "---\n"), "apply", "-f", "-"); err != nil {
			t.Fatal(err)
		}
		for _, name := range names {
			k("wait", "-n", tenantNS, "--timeout=60s", "--for=jsonpath={.status.connectionId}", "codatconnection/"+name)
		}
	}
	apply("created", "delete-me", "unlink-me", "adopted", "paused")
	// A company the operator created, to be deleted with it.
	if err := kubectlIn(uenv.Kubeconfig, fmt.Sprintf("apiVersion: codat.io/v1alpha1\nkind: CodatCompany\nmetadata:\n  name: made-here\n  namespace: %s\nspec:\n  name: Made Here\n  deletionPolicy: Delete\n", tenantNS), "apply", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	k("wait", "-n", tenantNS, "--timeout=60s", "--for=condition=Ready", "codatcompany/made-here")
	madeHere := k("get", "codatcompany", "made-here", "-n", tenantNS, "-o", "jsonpath={.status.companyId}")
	k("annotate", "-n", tenantNS, "codatconnection/paused", "codat.io/paused=true")
	k("wait", "-n", tenantNS, "--timeout=60s", "--for=jsonpath={.status.conditions[?(@.type==\"Ready\")].reason}=Paused", "codatconnection/paused")
	// Linked, as the business would link it, so that Unlink would have something to do.
	resp, err := http.Get(k("get", "codatconnection", "unlink-me", "-n", tenantNS, "-o", "jsonpath={.status.linkUrl}"))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	k("wait", "-n", tenantNS, "--timeout=60s", "--for=jsonpath={.status.connectionStatus}=Linked", "codatconnection/unlink-me")
	inCodat := len(s.connections(t, company))

	// 1 and 2: orphan everything, then delete the objects while the operator runs.
	sh("orphan")
	sh("delete-objects")
	if out := k("get", "codatconnections,codatcompanies", "-A", "-o", "name"); strings.TrimSpace(out) != "" {
		t.Fatalf("objects left after step 2:\n%s", out)
	}
	if s.company(t, madeHere) == nil {
		t.Errorf("the company %s was deleted in Codat in step 2, want it kept", madeHere)
	}
	if n := len(s.connections(t, company)); n != inCodat {
		t.Errorf("%d connections in Codat after step 2, want all %d kept", n, inCodat)
	}

	// The operator removed first: objects kept, or deleted without it, hold their finalizer.
	apply("kept", "delete-kept")
	sh("install-yaml")
	manager.signal(syscall.SIGTERM)
	if !manager.wait(30 * time.Second) {
		t.Fatal("the manager did not stop")
	}
	// Of what install.yaml installed, step 3 keeps the CRDs alone.
	if left := strings.Join(strings.Fields(k("get", "-f", filepath.Join(dir, "install.yaml"), "--ignore-not-found", "-o", "name")), " "); left !=
		"customresourcedefinition.apiextensions.k8s.io/codatcompanies.codat.io customresourcedefinition.apiextensions.k8s.io/codatconnections.codat.io" {
		t.Errorf("after step 3, install.yaml's objects left are %v, want the CRDs alone", left)
	}
	k("delete", "codatconnection", "delete-kept", "-n", tenantNS, "--wait=false")
	time.Sleep(time.Second)
	if out := k("get", "codatconnections", "-n", tenantNS, "-o", "name"); !strings.Contains(out, "delete-kept") {
		t.Fatalf("without the operator the deleted object should hang on its finalizer:\n%s", out)
	}
	sh("remove-finalizers")
	if out := k("get", "codatconnections", "-A", "-o", "name"); strings.TrimSpace(out) != "" {
		t.Fatalf("CodatConnections left after step 4:\n%s", out)
	}
	inCodat += 2

	sh("crd")
	if out, _ := uenv.Kubectl("get", "crd", "codatconnections.codat.io", "codatcompanies.codat.io", "--ignore-not-found", "-o", "name"); strings.TrimSpace(out) != "" {
		t.Errorf("CRDs still there after step 5: %s", out)
	}

	if n := len(s.connections(t, company)); n != inCodat {
		t.Errorf("%d connections in Codat at the end, want all %d kept", n, inCodat)
	}
	var reqs []simRequest
	s.get(t, "requests", &reqs)
	for _, r := range reqs {
		if r.Operation == "delete-connection" || r.Operation == "unlink-connection" || r.Operation == "delete-company" {
			t.Errorf("the uninstall made a Codat %s call for %s", r.Operation, r.ConnectionID)
		}
	}
}

// uninstallBlock returns the shell block of docs/operations.md marked <!-- uninstall:name -->.
func uninstallBlock(t *testing.T, name string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(raw), "<!-- uninstall:"+name+" -->\n")
	if !ok {
		t.Fatalf("docs/operations.md has no block marked <!-- uninstall:%s -->", name)
	}
	lines := strings.Split(after, "\n")
	fence := lines[0]
	indent := fence[:len(fence)-len(strings.TrimLeft(fence, " "))]
	if strings.TrimSpace(fence) != "```sh" {
		t.Fatalf("the block marked uninstall:%s does not start with ```sh: %q", name, fence)
	}
	var body []string
	for _, line := range lines[1:] {
		if strings.TrimSpace(line) == "```" {
			return strings.Join(body, "\n") + "\n"
		}
		body = append(body, strings.TrimPrefix(line, indent))
	}
	t.Fatalf("the block marked uninstall:%s never ends", name)
	return ""
}

// runBlock runs a documented block with bash, as a user would paste it, in dir.
func runBlock(t *testing.T, kubeconfig, dir, block string) {
	t.Helper()
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", block)
	cmd.Env = append(cleanEnv(), "KUBECONFIG="+kubeconfig)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("running\n%s: %v\n%s", block, err, out)
	}
}

// kubectlIn runs kubectl with stdin as its input.
func kubectlIn(kubeconfig, stdin string, args ...string) error {
	cmd := exec.Command("kubectl", append([]string{"--kubeconfig", kubeconfig}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

// finalizeNamespaces does the namespace controller's last step, which envtest does not run: a
// namespace being deleted is finalized, so that `kubectl delete` of install.yaml (its namespace)
// finishes as in a cluster.
func finalizeNamespaces(t *testing.T, e *testenv.Env) {
	t.Helper()
	cs, err := kubernetes.NewForConfig(e.Config)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() {
		for ctx.Err() == nil {
			list, err := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
			if err == nil {
				for i := range list.Items {
					ns := &list.Items[i]
					if ns.DeletionTimestamp != nil && len(ns.Spec.Finalizers) > 0 {
						ns.Spec.Finalizers = nil
						_, _ = cs.CoreV1().Namespaces().Finalize(ctx, ns, metav1.UpdateOptions{})
					}
				}
			}
			time.Sleep(200 * time.Millisecond)
		}
	}()
}
