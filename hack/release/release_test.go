package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"
	"sigs.k8s.io/yaml"
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
	for _, o := range objs {
		if got := o.GetLabels()["app.kubernetes.io/version"]; got != "v0.1.0" {
			t.Errorf("install.yaml's %s %s has version label %q, want v0.1.0", o.GetKind(), o.GetName(), got)
		}
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

// TestDeployImageIsReleased: `make deploy` (config/default) deploys an image that exists: the
// released repository at the chart's appVersion, never controller:latest.
func TestDeployImageIsReleased(t *testing.T) {
	out, stderr, err := kubectl(t, "", "kustomize", filepath.Join(repoRoot, "config", "default"))
	if err != nil {
		t.Fatalf("kubectl kustomize config/default: %v: %s", err, stderr)
	}
	want := DefaultImageRepository + ":" + loadChart(t, chartDir).Metadata.AppVersion
	if got := container(t, mustFind(t, decodeAll(t, out), "Deployment", "codat-operator-controller-manager"))["image"]; got != want {
		t.Errorf("make deploy's image %v, want %s (the chart's appVersion)", got, want)
	}
	if regexp.MustCompile(`image: \S*:latest`).MatchString(out) {
		t.Error("config/default names a latest image")
	}
}

// TestImageBuildCarriesVersion: the release workflow builds the image with the version build
// argument, the Dockerfile links it into the manager, and the manager so built reports it
// (--version; the same variable goes into its log and its User-Agent to Codat).
func TestImageBuildCarriesVersion(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(repoRoot, ".github", "workflows", "release.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var workflow struct {
		Jobs map[string]struct {
			Steps []struct {
				ID   string            `json:"id"`
				Uses string            `json:"uses"`
				With map[string]string `json:"with"`
			} `json:"steps"`
		} `json:"jobs"`
	}
	if err := yaml.Unmarshal(raw, &workflow); err != nil {
		t.Fatal(err)
	}
	var builds int
	for _, job := range workflow.Jobs {
		tags := ""
		for _, step := range job.Steps {
			if strings.HasPrefix(step.Uses, "docker/metadata-action@") {
				tags = step.With["tags"]
			}
			if !strings.HasPrefix(step.Uses, "docker/build-push-action@") {
				continue
			}
			builds++
			if !slices.Contains(strings.Split(step.With["build-args"], "\n"), "VERSION=${{ github.ref_name }}") {
				t.Errorf("the image build's build-args %q lack VERSION=${{ github.ref_name }}", step.With["build-args"])
			}
			if !strings.Contains(tags, "value=${{ github.ref_name }}") {
				t.Errorf("the image is tagged %q: not the tag the version comes from", tags)
			}
		}
	}
	if builds != 1 {
		t.Fatalf("%d image builds in the release workflow, want 1", builds)
	}

	dockerfile, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^ARG VERSION\b`).Match(dockerfile) {
		t.Fatal("the Dockerfile declares no VERSION build argument")
	}
	m := regexp.MustCompile(`go build [^\n]*-ldflags "([^"]*)"[^\n]*\./cmd/manager`).FindSubmatch(dockerfile)
	if m == nil || !strings.Contains(string(m[1]), "${VERSION}") {
		t.Fatalf("the Dockerfile does not build ./cmd/manager with ${VERSION} in its -ldflags")
	}
	// The Dockerfile's link flags (its -trimpath and CGO_ENABLED=0 only change how the build
	// is cached and linked, not the version).
	const version = "v9.8.7"
	ldflags := strings.ReplaceAll(string(m[1]), "${VERSION}", version)
	bin := filepath.Join(t.TempDir(), "manager")
	build := exec.Command("go", "build", "-ldflags", ldflags, "-o", bin, "./cmd/manager")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build as the Dockerfile does: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("manager --version: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != "codat-operator "+version {
		t.Errorf("manager --version printed %q, want codat-operator %s", got, version)
	}

	// make docker-build passes the tag as the version too.
	dry := exec.Command("make", "-n", "docker-build", "IMG_TAG="+version)
	dry.Dir = repoRoot
	dry.Env = withoutMake(os.Environ())
	out, err = dry.CombinedOutput()
	if err != nil {
		t.Fatalf("make -n docker-build: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "--build-arg VERSION="+version) {
		t.Errorf("make docker-build does not pass the version: %s", out)
	}
}

// withoutMake drops what a make running the tests would pass on to another make.
func withoutMake(environ []string) []string {
	var out []string
	for _, kv := range environ {
		if k, _, _ := strings.Cut(kv, "="); k != "MAKEFLAGS" && k != "MAKELEVEL" && k != "MFLAGS" && k != "IMG_REPO" && k != "IMG_TAG" && k != "IMG" && k != "VERSION" && k != "DIST" {
			out = append(out, kv)
		}
	}
	return out
}
