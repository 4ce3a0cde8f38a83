package gitopshealth_test

import (
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/yaml"

	"github.com/codat-operator/codat-operator/health"
	"github.com/codat-operator/codat-operator/internal/gitopshealth"
	"github.com/codat-operator/codat-operator/internal/testenv"
)

func testdataObject(t *testing.T, name string) *unstructured.Unstructured {
	t.Helper()
	return exampleObject(t, health.ArgoCDCustomizationDir, name)
}

// exampleObject reads a testdata object of the Argo CD customization in dir.
func exampleObject(t *testing.T, dir, name string) *unstructured.Unstructured {
	t.Helper()
	raw, err := fs.ReadFile(health.ArgoCDCustomization, path.Join(dir, "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	obj, err := gitopshealth.DecodeObject(raw)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return obj
}

// TestHealthTable evaluates every state's object of every kind with kstatus,
// Flux and Argo CD and asserts the table.
func TestHealthTable(t *testing.T) {
	for _, table := range gitopshealth.Tables {
		for _, w := range table.States {
			t.Run(table.Kind+"/"+w.Name, func(t *testing.T) {
				obj := exampleObject(t, table.Dir, w.File)
				if obj.GetKind() != table.Kind {
					t.Fatalf("%s is a %s, in the table of %s", w.File, obj.GetKind(), table.Kind)
				}
				got, err := gitopshealth.Evaluate(obj)
				if err != nil {
					t.Fatal(err)
				}
				if got.Kstatus != w.Kstatus {
					t.Errorf("kstatus: %s, want %s", got.Kstatus, w.Kstatus)
				}
				if got.Flux != w.Flux {
					t.Errorf("Flux: %s, want %s", got.Flux, w.Flux)
				}
				if got.ArgoCDScript.Status != w.ArgoCDScript {
					t.Errorf("health.lua: %+v, want status %s", got.ArgoCDScript, w.ArgoCDScript)
				}
				if got.ArgoCD.Status != w.ArgoCD {
					t.Errorf("Argo CD: %+v, want status %s", got.ArgoCD, w.ArgoCD)
				}
				if got.ArgoCD.Message == "" {
					t.Errorf("Argo CD shows no message: %+v", got.ArgoCD)
				}
				linkURL, _, _ := unstructured.NestedString(obj.Object, "status", "linkUrl")
				if linkURL != "" && strings.Contains(got.ArgoCDScript.Message, linkURL) {
					t.Errorf("health.lua's message holds the one-time link: %q", got.ArgoCDScript.Message)
				}
			})
		}
	}
}

// argoTests is Argo CD's health_test.yaml.
type argoTests struct {
	Tests []struct {
		HealthStatus gitopshealth.ArgoHealth `json:"healthStatus"`
		InputPath    string                  `json:"inputPath"`
	} `json:"tests"`
}

// TestArgoCDHealthTests runs each kind's health_test.yaml as Argo CD's own
// test runner (util/lua TestLuaHealthScript) does: each object is read with
// sigs.k8s.io/yaml (numbers as float64), run through health.lua, and the
// result compared with healthStatus. Each case also runs on the object as the
// API machinery decodes it (integers as int64), as the controller sees it.
func TestArgoCDHealthTests(t *testing.T) {
	for _, table := range gitopshealth.Tables {
		t.Run(table.Kind, func(t *testing.T) { argoCDHealthTests(t, table) })
	}
}

func argoCDHealthTests(t *testing.T, table gitopshealth.Table) {
	dir := table.Dir
	raw, err := fs.ReadFile(health.ArgoCDCustomization, path.Join(dir, "health_test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cases argoTests
	if err := yaml.UnmarshalStrict(raw, &cases); err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	for _, c := range cases.Tests {
		t.Run(c.InputPath, func(t *testing.T) {
			used[path.Base(c.InputPath)] = true
			raw, err := fs.ReadFile(health.ArgoCDCustomization, path.Join(dir, c.InputPath))
			if err != nil {
				t.Fatal(err)
			}
			asArgo := map[string]any{}
			if err := yaml.Unmarshal(raw, &asArgo); err != nil {
				t.Fatal(err)
			}
			got, err := gitopshealth.ArgoCDScript(gitopshealth.FromMap(asArgo))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(c.HealthStatus, got); diff != "" {
				t.Errorf("health.lua (-health_test.yaml +got):\n%s", diff)
			}
			asAPI, err := gitopshealth.DecodeObject(raw)
			if err != nil {
				t.Fatal(err)
			}
			got, err = gitopshealth.ArgoCDScript(asAPI)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(c.HealthStatus, got); diff != "" {
				t.Errorf("health.lua on int64 content (-health_test.yaml +got):\n%s", diff)
			}
		})
	}
	// Every testdata object is a case, and every state of the table is too.
	files, err := fs.Glob(health.ArgoCDCustomization, path.Join(dir, "testdata", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !used[path.Base(f)] {
			t.Errorf("%s is not a case of health_test.yaml", f)
		}
	}
	for _, w := range table.States {
		if !used[w.File] {
			t.Errorf("state %q (%s) is not a case of health_test.yaml", w.Name, w.File)
		}
	}
	if len(files) != len(table.States) {
		t.Errorf("%d testdata objects, %d states in the table: give each object a row", len(files), len(table.States))
	}
}

// TestEveryKindHasATable: each kind with a shipped health check has its table
// of states, and each table a kind with a health check.
func TestEveryKindHasATable(t *testing.T) {
	var kinds []string
	for _, table := range gitopshealth.Tables {
		kinds = append(kinds, table.Kind)
		if table.Dir != path.Join(health.ArgoCDGroupDir, table.Kind) {
			t.Errorf("the table of %s reads the customization %s", table.Kind, table.Dir)
		}
		if len(table.States) == 0 {
			t.Errorf("the table of %s has no state", table.Kind)
		}
	}
	if diff := cmp.Diff(health.Kinds, kinds); diff != "" {
		t.Errorf("the kinds of the tables differ from the kinds with a health check (-health +tables):\n%s", diff)
	}
	dirs, err := fs.ReadDir(health.ArgoCDCustomization, health.ArgoCDGroupDir)
	if err != nil {
		t.Fatal(err)
	}
	var shipped []string
	for _, d := range dirs {
		shipped = append(shipped, d.Name())
	}
	if diff := cmp.Diff(sorted(health.Kinds), sorted(shipped)); diff != "" {
		t.Errorf("health.Kinds differs from the folders of %s (-Kinds +folders):\n%s", health.ArgoCDGroupDir, diff)
	}
	exprs, err := gitopshealth.ShippedFluxExprs()
	if err != nil {
		t.Fatal(err)
	}
	var fluxKinds []string
	for _, e := range exprs {
		fluxKinds = append(fluxKinds, e.Kind)
	}
	if diff := cmp.Diff(health.Kinds, fluxKinds); diff != "" {
		t.Errorf("the Flux healthCheckExprs cover other kinds (-health.Kinds +healthcheckexprs.yaml):\n%s", diff)
	}
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

// TestArgoCDFileNamesSayTheHealth: Argo CD's convention names each testdata
// file after the health it expects.
func TestArgoCDFileNamesSayTheHealth(t *testing.T) {
	for _, table := range gitopshealth.Tables {
		for _, w := range table.States {
			if prefix := strings.ToLower(w.ArgoCDScript) + "_"; !strings.HasPrefix(w.File, prefix) {
				t.Errorf("%s/%s: health.lua says %s, so the file name should start with %q", table.Kind, w.File, w.ArgoCDScript, prefix)
			}
		}
	}
}

// TestDocsTable: docs/conditions.md shows, for each kind, the same table as
// this test asserts, each example linked in its kind's testdata.
func TestDocsTable(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(testenv.ModuleRoot(), "docs", "conditions.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, table := range gitopshealth.Tables {
		t.Run(table.Kind, func(t *testing.T) {
			_, section, ok := strings.Cut(string(raw), table.Marker)
			if !ok {
				t.Fatalf("docs/conditions.md has no %s marker before the GitOps health table of %s", table.Marker, table.Kind)
			}
			got := docsTable(t, section, table.Dir)
			if diff := cmp.Diff(byFile(table.States), byFile(got)); diff != "" {
				t.Errorf("docs/conditions.md's GitOps health table of %s differs from what the tests assert (-tests +docs):\n%s", table.Kind, diff)
			}
		})
	}
}

// docsTable reads the first table of section, whose example links must point
// into the testdata of dir.
func docsTable(t *testing.T, section, dir string) []gitopshealth.State {
	t.Helper()
	link := regexp.MustCompile(`\[[^]]*\]\(([^)]*)/testdata/([a-z_]+\.yaml)\)`)
	var got []gitopshealth.State
	for _, line := range strings.Split(section, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") {
			if len(got) > 0 {
				break
			}
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if len(cells) != 6 {
			t.Fatalf("a row of the GitOps health table has %d cells, want 6: %s", len(cells), line)
		}
		m := link.FindStringSubmatch(cells[1])
		if m == nil {
			continue // the header and its separator
		}
		if want := "../health/" + dir; m[1] != want {
			t.Errorf("%s links %s/testdata, want %s/testdata", m[2], m[1], want)
		}
		got = append(got, gitopshealth.State{
			Name: cells[0], File: m[2],
			Kstatus: status.Status(cells[2]), Flux: status.Status(cells[3]),
			ArgoCDScript: cells[4], ArgoCD: cells[5],
		})
	}
	return got
}

func byFile(ws []gitopshealth.State) []gitopshealth.State {
	out := append([]gitopshealth.State(nil), ws...)
	sort.Slice(out, func(i, j int) bool { return out[i].File < out[j].File })
	for i := range out {
		out[i].Name = "" // the wording of a state may differ
	}
	return out
}

// TestArgoCDPausedValues: each kind's health.lua pauses on exactly the
// values of codat.io/paused the operator pauses on: any value but one of Go's
// strconv.ParseBool false values.
func TestArgoCDPausedValues(t *testing.T) {
	ready := map[string]string{"CodatConnection": "healthy_linked.yaml", "CodatCompany": "healthy_applied.yaml"}
	for _, table := range gitopshealth.Tables {
		file, ok := ready[table.Kind]
		if !ok {
			t.Errorf("no Ready example of %s to pause", table.Kind)
			continue
		}
		for value, paused := range map[string]bool{
			"true": true, "1": true, "TRUE": true, "yes": true, "": true,
			"false": false, "0": false, "f": false, "F": false, "FALSE": false, "False": false,
		} {
			obj := exampleObject(t, table.Dir, file)
			obj.SetAnnotations(map[string]string{"codat.io/paused": value})
			got, err := gitopshealth.ArgoCDScript(obj)
			if err != nil {
				t.Fatal(err)
			}
			if (got.Status == "Suspended") != paused {
				t.Errorf("%s with codat.io/paused=%q: health.lua says %s, want paused %v", table.Kind, value, got.Status, paused)
			}
		}
	}
}
