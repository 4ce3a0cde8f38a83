// Command release writes a release's artifacts (`make release VERSION=x.y.z`):
//
//   - install.yaml: config/default rendered by kustomize, with the manager's
//     image set to IMG_REPO:vx.y.z;
//   - codat-operator-x.y.z.tgz: the Helm chart, linted, with version x.y.z and
//     appVersion vx.y.z (the image tag it deploys).
//
// It is its own Go module (hack/release) because it needs Helm's SDK, whose
// dependencies the operator does not need; the chart and release tests live
// beside it for the same reason. Its Kubernetes modules stay at the operator's
// versions, so that a build shares their compiled packages with the
// operator's.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/Masterminds/semver/v3"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
)

// DefaultImageRepository is where the release workflow pushes the image.
const DefaultImageRepository = "ghcr.io/codat-operator/codat-operator"

// Options say what to release and where.
type Options struct {
	// Root is the repository's root folder.
	Root string
	// Version is the release's semantic version, without a leading v.
	Version string
	// ImageRepository is the manager image's repository; the tag is
	// "v"+Version.
	ImageRepository string
	// OutDir receives install.yaml and the chart package.
	OutDir string
}

// Artifacts are the files a release wrote.
type Artifacts struct {
	InstallYAML  string
	ChartPackage string
}

func main() {
	var o Options
	flag.StringVar(&o.Root, "root", "../..", "The repository's root folder.")
	flag.StringVar(&o.Version, "version", "", "The release's version, x.y.z (semantic versioning, no leading v).")
	flag.StringVar(&o.ImageRepository, "img-repo", DefaultImageRepository, "The manager image's repository; the tag is v<version>.")
	flag.StringVar(&o.OutDir, "out", "../../dist", "Where to write install.yaml and the chart package.")
	flag.Parse()
	a, err := Release(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "release:", err)
		os.Exit(1)
	}
	fmt.Printf("wrote %s\nwrote %s\n", a.InstallYAML, a.ChartPackage)
}

// Release writes install.yaml and the chart package for o.Version.
func Release(o Options) (Artifacts, error) {
	v, err := semver.StrictNewVersion(o.Version)
	if err != nil {
		return Artifacts{}, fmt.Errorf("VERSION %q is not a semantic version x.y.z (no leading v): %w", o.Version, err)
	}
	if o.ImageRepository == "" || strings.ContainsAny(o.ImageRepository, ":@") {
		return Artifacts{}, fmt.Errorf("IMG_REPO %q must be a repository without tag or digest", o.ImageRepository)
	}
	tag := "v" + v.String()
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return Artifacts{}, err
	}
	var a Artifacts
	if a.InstallYAML, err = writeInstallYAML(o, tag); err != nil {
		return Artifacts{}, err
	}
	if a.ChartPackage, err = packageChart(o, v.String(), tag); err != nil {
		return Artifacts{}, err
	}
	return a, nil
}

// writeInstallYAML renders config/default with kustomize (kubectl's), with
// the image set as the Makefile's build-installer does and the version label.
func writeInstallYAML(o Options, tag string) (string, error) {
	overlay, err := os.MkdirTemp(o.OutDir, ".installer-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(overlay)
	absDefault, err := filepath.Abs(filepath.Join(o.Root, "config", "default"))
	if err != nil {
		return "", err
	}
	absOverlay, err := filepath.Abs(overlay)
	if err != nil {
		return "", err
	}
	rel, err := filepath.Rel(absOverlay, absDefault)
	if err != nil {
		return "", err
	}
	// The image config/default names is the released repository at the chart's appVersion; every
	// object says which release it belongs to, as the chart's objects do.
	kustomization := fmt.Sprintf("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- %s\nimages:\n- name: %s\n  newName: %s\n  newTag: %s\nlabels:\n- pairs:\n    app.kubernetes.io/version: %s\n",
		filepath.ToSlash(rel), DefaultImageRepository, o.ImageRepository, tag, tag)
	if err := os.WriteFile(filepath.Join(overlay, "kustomization.yaml"), []byte(kustomization), 0o644); err != nil {
		return "", err
	}
	cmd := exec.Command("kubectl", "kustomize", overlay)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("kubectl kustomize: %w: %s", err, stderr.String())
	}
	image := o.ImageRepository + ":" + tag
	if !bytes.Contains(stdout.Bytes(), []byte("image: "+image+"\n")) {
		return "", fmt.Errorf("the rendered manifests do not name the image %s", image)
	}
	header := fmt.Sprintf("# codat-operator %s: the CRD, RBAC and the manager (image %s).\n# kubectl apply --server-side -f install.yaml\n", tag, image)
	path := filepath.Join(o.OutDir, "install.yaml")
	return path, os.WriteFile(path, append([]byte(header), stdout.Bytes()...), 0o644)
}

// packageChart lints the chart and packages it with the release's version,
// as `helm package --version x.y.z --app-version vx.y.z` does.
func packageChart(o Options, version, appVersion string) (string, error) {
	dir := filepath.Join(o.Root, "charts", "codat-operator")
	ch, err := loader.Load(dir)
	if err != nil {
		return "", fmt.Errorf("loading the chart: %w", err)
	}
	ch.Metadata.Version = version
	ch.Metadata.AppVersion = appVersion
	if err := ch.Validate(); err != nil {
		return "", fmt.Errorf("the chart: %w", err)
	}
	if msgs := lintErrors(dir, nil); len(msgs) > 0 {
		return "", fmt.Errorf("helm lint: %s", strings.Join(msgs, "; "))
	}
	return chartutil.Save(ch, o.OutDir)
}

// lintErrors runs `helm lint` (strict: warnings count) on the chart folder
// with the given values and returns its findings.
func lintErrors(dir string, values map[string]any) []string {
	result := lint.AllWithKubeVersion(dir, values, "codat-operator-system", &chartutil.KubeVersion{Version: "v1.32.0", Major: "1", Minor: "32"})
	var msgs []string
	for _, m := range result.Messages {
		if m.Severity >= support.WarningSev {
			msgs = append(msgs, m.Error())
		}
	}
	return msgs
}
