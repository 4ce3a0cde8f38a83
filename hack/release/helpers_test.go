package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/releaseutil"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/codat-operator/codat-operator/internal/testenv"
)

var (
	repoRoot = filepath.Join("..", "..")
	chartDir = filepath.Join(repoRoot, "charts", "codat-operator")
)

// The API server tests share one control plane, started by the first of them.
var (
	apiServerOnce sync.Once
	apiServer     *testenv.Env
	apiServerErr  error
)

func startAPIServer(t *testing.T) *testenv.Env {
	t.Helper()
	apiServerOnce.Do(func() { apiServer, apiServerErr = testenv.Start() })
	if apiServerErr != nil {
		t.Fatal(apiServerErr)
	}
	return apiServer
}

func TestMain(m *testing.M) {
	code := m.Run()
	if apiServer != nil {
		if err := apiServer.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping envtest:", err)
		}
	}
	os.Exit(code)
}

// render renders a chart as `helm template --kube-version <kubeVersion>`
// does: the same steps as Helm's install action in client-only mode
// (dependencies, capabilities with the given Kubernetes version, values with
// schema validation, the chart's kubeVersion constraint, the template engine,
// NOTES.txt left out, manifests sorted in install order), without the
// action's Kubernetes client, registry and storage packages, which would
// double this module's build time.
func render(ch *chart.Chart, values map[string]any, release, namespace, kubeVersion string) (string, error) {
	if err := chartutil.ProcessDependenciesWithMerge(ch, values); err != nil {
		return "", err
	}
	kv, err := chartutil.ParseKubeVersion(kubeVersion)
	if err != nil {
		return "", err
	}
	caps := chartutil.DefaultCapabilities.Copy()
	caps.KubeVersion = *kv
	vals, err := chartutil.ToRenderValuesWithSchemaValidation(ch, values, chartutil.ReleaseOptions{
		Name: release, Namespace: namespace, Revision: 1, IsInstall: true,
	}, caps, false)
	if err != nil {
		return "", err
	}
	if ch.Metadata.KubeVersion != "" && !chartutil.IsCompatibleRange(ch.Metadata.KubeVersion, caps.KubeVersion.String()) {
		return "", fmt.Errorf("chart requires kubeVersion: %s which is incompatible with Kubernetes %s", ch.Metadata.KubeVersion, caps.KubeVersion.String())
	}
	files, err := engine.Engine{}.Render(ch, vals)
	if err != nil {
		return "", err
	}
	for name := range files {
		if strings.HasSuffix(name, "NOTES.txt") {
			delete(files, name)
		}
	}
	hooks, manifests, err := releaseutil.SortManifests(files, nil, releaseutil.InstallOrder)
	if err != nil {
		return "", err
	}
	if len(hooks) > 0 {
		return "", fmt.Errorf("the chart has %d hooks; these tests expect none", len(hooks))
	}
	var b strings.Builder
	for _, m := range manifests {
		fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", m.Name, m.Content)
	}
	return b.String(), nil
}

func loadChart(t *testing.T, dir string) *chart.Chart {
	t.Helper()
	ch, err := loader.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// renderObjects renders the chart in chartDir and decodes the objects.
func renderObjects(t *testing.T, values map[string]any, release, namespace string) (string, []*unstructured.Unstructured) {
	t.Helper()
	manifest, err := render(loadChart(t, chartDir), values, release, namespace, "1.32.0")
	if err != nil {
		t.Fatalf("rendering the chart: %v", err)
	}
	return manifest, decodeAll(t, manifest)
}

func decodeAll(t *testing.T, manifests string) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(manifests), 4096)
	for {
		obj := map[string]any{}
		if err := dec.Decode(&obj); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("decoding rendered manifests: %v", err)
		}
		if len(obj) == 0 {
			continue
		}
		// Round trip through the unstructured JSON decoder: integers as int64.
		js, err := (&unstructured.Unstructured{Object: obj}).MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(js); err != nil {
			t.Fatal(err)
		}
		out = append(out, u)
	}
	return out
}

func find(objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind && (name == "" || o.GetName() == name) {
			return o
		}
	}
	return nil
}

func mustFind(t *testing.T, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	o := find(objs, kind, name)
	if o == nil {
		t.Fatalf("no %s %q rendered", kind, name)
	}
	return o
}

func kubectl(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	cmd := exec.Command("kubectl", args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// dryRunApply applies manifests with server-side dry-run to the test API
// server in namespace ns, created with the restricted Pod Security Standard
// enforced; the API server warns about pods that would violate it.
func dryRunApply(t *testing.T, env *testenv.Env, ns, manifests string, watched ...string) string {
	t.Helper()
	// The release namespace, and the namespaces the operator watches, exist before an install.
	for _, n := range append([]string{ns}, watched...) {
		nsYAML := fmt.Sprintf("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n  labels:\n    pod-security.kubernetes.io/enforce: restricted\n", n)
		if _, stderr, err := kubectl(t, nsYAML, "--kubeconfig", env.Kubeconfig, "apply", "--server-side", "-f", "-"); err != nil {
			t.Fatalf("creating namespace %s: %v: %s", n, err, stderr)
		}
	}
	// The CRD is already installed by envtest from config/crd/bases; the
	// dry-run apply takes it over, as an upgrade would.
	stdout, stderr, err := kubectl(t, manifests, "--kubeconfig", env.Kubeconfig, "apply", "--server-side", "--dry-run=server", "--force-conflicts", "-f", "-")
	if err != nil {
		t.Fatalf("server-side dry-run apply: %v\n%s%s", err, stdout, stderr)
	}
	if strings.Contains(stderr, "PodSecurity") || strings.Contains(stderr, "would violate") {
		t.Errorf("the manager's pods would violate the restricted Pod Security Standard:\n%s", stderr)
	}
	return stdout
}
