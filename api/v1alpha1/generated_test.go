package v1alpha1_test

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

// TestGeneratedFilesAreCurrent regenerates the CRD, the RBAC role and the
// deepcopy code in a copy of the module and compares them with the committed
// files: editing a marker or a type without `make manifests generate` fails.
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
	run := func(args ...string) {
		cmd := exec.Command("go", append([]string{"tool", "controller-gen"}, args...)...)
		cmd.Dir = work
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("controller-gen %v: %v\n%s", args, err, out)
		}
	}
	// The same invocations as `make manifests generate`.
	run("rbac:roleName=manager-role", "crd", "paths=./...", "output:crd:artifacts:config=config/crd/bases")
	run("object", "paths=./api/...")

	for _, f := range []string{
		"config/crd/bases/codat.io_codatconnections.yaml",
		"config/rbac/role.yaml",
		"api/v1alpha1/zz_generated.deepcopy.go",
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
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, raw, 0o644); err != nil {
		t.Fatal(err)
	}
}
