package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"
)

// TestMakeRelease runs `make release VERSION=0.1.0` into a temporary folder
// and applies both artifacts to a real API server with server-side dry-run:
// install.yaml as is, the packaged chart as `helm template` renders it.
func TestMakeRelease(t *testing.T) {
	dist := t.TempDir()
	cmd := exec.Command("make", "release", "VERSION=0.1.0", "DIST="+dist)
	cmd.Dir = repoRoot
	for _, kv := range os.Environ() {
		// A make running this test must not leak its flags and variables.
		if k, _, _ := strings.Cut(kv, "="); k != "MAKEFLAGS" && k != "MAKELEVEL" && k != "MFLAGS" && k != "IMG_REPO" && k != "VERSION" && k != "DIST" {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make release: %v\n%s", err, out)
	}
	const image = "ghcr.io/codat-operator/codat-operator:v0.1.0"

	install, err := os.ReadFile(filepath.Join(dist, "install.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	objs := decodeAll(t, string(install))
	d := mustFind(t, objs, "Deployment", "codat-operator-controller-manager")
	if got := container(t, d)["image"]; got != image {
		t.Errorf("install.yaml's image %v, want %s", got, image)
	}
	if strings.Contains(string(install), ":latest") {
		t.Error("install.yaml names a latest image")
	}
	for _, name := range crdNames {
		mustFind(t, objs, "CustomResourceDefinition", name)
	}

	pkg := filepath.Join(dist, "codat-operator-0.1.0.tgz")
	ch, err := loader.Load(pkg)
	if err != nil {
		t.Fatalf("loading the packaged chart: %v", err)
	}
	if ch.Metadata.Version != "0.1.0" || ch.Metadata.AppVersion != "v0.1.0" {
		t.Errorf("packaged chart version %q, appVersion %q; want 0.1.0 and v0.1.0", ch.Metadata.Version, ch.Metadata.AppVersion)
	}
	manifest, err := render(ch, nil, "codat-operator", "codat-operator-chart", "1.32.0")
	if err != nil {
		t.Fatalf("rendering the packaged chart: %v", err)
	}
	chartObjs := decodeAll(t, manifest)
	if got := container(t, mustFind(t, chartObjs, "Deployment", "codat-operator-controller-manager"))["image"]; got != image {
		t.Errorf("the packaged chart's image %v, want %s", got, image)
	}

	env := startAPIServer(t)
	out := dryRunApply(t, env, "codat-operator-system", string(install))
	for _, want := range []string{
		"namespace/codat-operator-system serverside-applied (server dry run)",
		"deployment.apps/codat-operator-controller-manager serverside-applied (server dry run)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("applying install.yaml did not report %q:\n%s", want, out)
		}
	}
	out = dryRunApply(t, env, "codat-operator-chart", manifest)
	if want := "deployment.apps/codat-operator-controller-manager serverside-applied (server dry run)"; !strings.Contains(out, want) {
		t.Errorf("applying the packaged chart did not report %q:\n%s", want, out)
	}
}

// TestReleaseRefuses: a version that is not x.y.z, or an image repository
// with a tag, writes nothing.
func TestReleaseRefuses(t *testing.T) {
	for _, o := range []Options{
		{Version: "v0.1.0", ImageRepository: DefaultImageRepository},
		{Version: "latest", ImageRepository: DefaultImageRepository},
		{Version: "0.1", ImageRepository: DefaultImageRepository},
		{Version: "0.1.0", ImageRepository: DefaultImageRepository + ":latest"},
	} {
		dir := t.TempDir()
		o.Root, o.OutDir = repoRoot, dir
		if _, err := Release(o); err == nil {
			t.Errorf("Release(%+v) succeeded", o)
		}
		if entries, _ := os.ReadDir(dir); len(entries) > 0 {
			t.Errorf("Release(%+v) wrote %d files", o, len(entries))
		}
	}
}
