package manifests

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/codat-operator/codat-operator/internal/testenv"
)

// TestGeneratedFilesAreCurrent regenerates the CRD, the RBAC role, the
// deepcopy code and the API reference in a copy of the module and compares
// them with the committed files: editing a marker, a type or its comment
// without `make manifests generate` fails.
func TestGeneratedFilesAreCurrent(t *testing.T) {
	root := testenv.ModuleRoot()
	work := t.TempDir()
	for _, dir := range []string{"api", "internal", "cmd"} {
		copyGoTree(t, filepath.Join(root, dir), filepath.Join(work, dir), ".go")
	}
	// internal/gitopshealth embeds the health checks in health/: all their files.
	copyGoTree(t, filepath.Join(root, "health"), filepath.Join(work, "health"), "")
	for _, f := range []string{"go.mod", "go.sum"} {
		copyFile(t, filepath.Join(root, f), filepath.Join(work, f))
	}
	controllerGen := pinnedTool(t, "controller-gen")
	run := func(tool string, args ...string) {
		cmd := exec.Command(tool, args...)
		cmd.Dir = work
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v\n%s", filepath.Base(tool), args, err, out)
		}
	}
	// The same invocations as `make manifests generate` (api-docs included).
	run(controllerGen, "rbac:roleName=manager-role", "crd", "paths=./...", "output:crd:artifacts:config=config/crd/bases")
	run(controllerGen, "object", "paths=./api/...")
	if err := os.MkdirAll(filepath.Join(work, "docs"), 0o750); err != nil {
		t.Fatal(err)
	}
	apiDocs := filepath.Join(root, "hack", "api-docs")
	run(pinnedTool(t, "crd-ref-docs"), "--log-level=WARN", "--source-path=./api", "--config="+filepath.Join(apiDocs, "config.yaml"),
		"--renderer=markdown", "--templates-dir="+filepath.Join(apiDocs, "templates"), "--output-path=docs/api.md")

	for _, f := range []string{
		"config/crd/bases/codat.io_codatconnections.yaml",
		"config/crd/bases/codat.io_codatcompanies.yaml",
		"config/rbac/role.yaml",
		"api/v1alpha1/zz_generated.deepcopy.go",
		"docs/api.md",
	} {
		committed, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		fresh, err := os.ReadFile(filepath.Join(work, f))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(committed, fresh) {
			t.Errorf("%s is out of date: run `make manifests generate` and commit the result", f)
		}
	}
}

// pinnedTool builds the tool at the version pinned in hack/tools/<name>/go.mod
// (the one `make` uses; cached by Go after the first build) and returns the
// path of its binary.
func pinnedTool(t *testing.T, name string) string {
	t.Helper()
	cmd := exec.Command("go", "tool", "-n", name)
	cmd.Dir = filepath.Join(testenv.ModuleRoot(), "hack", "tools", name)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("building %s from %s: %v\n%s", name, cmd.Dir, err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// copyGoTree copies the files of a tree whose names end with suffix.
func copyGoTree(t *testing.T, from, to, suffix string) {
	t.Helper()
	err := filepath.WalkDir(from, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, suffix) {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		copyFile(t, path, filepath.Join(to, rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	raw, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, raw, 0o600); err != nil {
		t.Fatal(err)
	}
}
