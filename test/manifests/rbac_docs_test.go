package manifests

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"

	"github.com/codat-operator/codat-operator/internal/testenv"
)

// TestRBACDocs: docs/operations.md's table of the manager's ClusterRole is the generated
// config/rbac/role.yaml, resource by resource and verb by verb, and its RBAC section names every
// role config/ installs.
func TestRBACDocs(t *testing.T) {
	root := testenv.ModuleRoot()
	raw, err := os.ReadFile(filepath.Join(root, "config", "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var role rbacv1.ClusterRole
	if err := yaml.Unmarshal(raw, &role); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, r := range role.Rules {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				verbs := slices.Clone(r.Verbs)
				slices.Sort(verbs)
				want[g+"/"+res] = strings.Join(verbs, ",")
			}
		}
	}

	doc, err := os.ReadFile(filepath.Join(root, "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(doc), "\n## RBAC\n")
	if !ok {
		t.Fatal("docs/operations.md has no RBAC section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	_, table, ok := strings.Cut(section, "<!-- manager-role -->\n")
	if !ok {
		t.Fatal("docs/operations.md's RBAC section has no <!-- manager-role --> table")
	}
	got := map[string]string{}
	for _, line := range strings.Split(table, "\n") {
		if !strings.HasPrefix(line, "|") {
			break
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) != 4 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
			continue // the header and its separator
		}
		group := strings.Trim(strings.TrimSpace(cells[0]), "`")
		if group == "core" {
			group = ""
		}
		var verbs []string
		for _, v := range strings.Split(cells[2], ",") {
			verbs = append(verbs, strings.TrimSpace(v))
		}
		slices.Sort(verbs)
		got[group+"/"+strings.Trim(strings.TrimSpace(cells[1]), "`")] = strings.Join(verbs, ",")
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("manager-role: %s may %s; docs/operations.md says %q", k, v, got[k])
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("docs/operations.md lists %s, which manager-role does not hold", k)
		}
	}

	// Every Role and ClusterRole of config/ is named in the section.
	for _, dir := range []string{"rbac", "prometheus", "webhook-receiver"} {
		files, err := filepath.Glob(filepath.Join(root, "config", dir, "*.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, part := range strings.Split(string(raw), "\n---\n") {
				var obj struct {
					Kind     string `json:"kind"`
					Metadata struct {
						Name string `json:"name"`
					} `json:"metadata"`
				}
				if err := yaml.Unmarshal([]byte(part), &obj); err != nil {
					continue // a JSON patch, not an object
				}
				if (obj.Kind == "Role" || obj.Kind == "ClusterRole") && !strings.Contains(section, "`"+obj.Metadata.Name+"`") {
					t.Errorf("docs/operations.md's RBAC section does not name %s %s (%s)", obj.Kind, obj.Metadata.Name, f)
				}
			}
		}
	}
}
