// Package gitopshealth evaluates a CodatConnection or a CodatCompany the way
// GitOps tools do: kstatus (what Flux uses without health-check expressions,
// and `kubectl wait`-style tooling), Flux with the shipped healthCheckExprs,
// and Argo CD with the shipped health.lua of the object's kind. It runs the
// very files in health/, so tests that assert its results test what users
// install.
//
// The functions take the object as the API server returns it, as an
// *unstructured.Unstructured (FromMap and ReadObject build one). Integers
// must be int64, as the API machinery decodes them; ReadObject takes care of
// that for YAML files.
package gitopshealth

import (
	"fmt"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/yaml"
)

// Result is what each tool concludes about one object.
type Result struct {
	// Kstatus is sigs.k8s.io/cli-utils kstatus's status.
	Kstatus status.Status
	// Flux is the status Flux computes with the shipped healthCheckExprs.
	Flux status.Status
	// ArgoCDScript is what the shipped health.lua returns.
	ArgoCDScript ArgoHealth
	// ArgoCD is what Argo CD shows: ArgoCDScript, except while the object is
	// being deleted.
	ArgoCD ArgoHealth
}

// Evaluate runs every evaluation on obj.
func Evaluate(obj *unstructured.Unstructured) (Result, error) {
	var r Result
	var err error
	if r.Kstatus, err = Kstatus(obj); err != nil {
		return r, fmt.Errorf("kstatus: %w", err)
	}
	if r.Flux, err = Flux(obj); err != nil {
		return r, fmt.Errorf("flux: %w", err)
	}
	if r.ArgoCDScript, err = ArgoCDScript(obj); err != nil {
		return r, fmt.Errorf("argo cd health.lua: %w", err)
	}
	if r.ArgoCD, err = ArgoCD(obj); err != nil {
		return r, fmt.Errorf("argo cd: %w", err)
	}
	return r, nil
}

// Kstatus is kstatus's status of obj (status.Compute).
func Kstatus(obj *unstructured.Unstructured) (status.Status, error) {
	res, err := status.Compute(obj)
	if err != nil {
		return status.UnknownStatus, err
	}
	return res.Status, nil
}

// FromMap wraps unstructured content, e.g. from
// runtime.DefaultUnstructuredConverter.ToUnstructured.
func FromMap(content map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: content}
}

// ReadObject reads one object from a YAML (or JSON) file and decodes it as
// an API client does, with integers as int64.
func ReadObject(path string) (*unstructured.Unstructured, error) {
	raw, err := os.ReadFile(path) //nolint:gosec // the caller names a testdata file
	if err != nil {
		return nil, err
	}
	return DecodeObject(raw)
}

// DecodeObject decodes one object from YAML or JSON as an API client does.
func DecodeObject(raw []byte) (*unstructured.Unstructured, error) {
	js, err := yaml.YAMLToJSON(raw)
	if err != nil {
		return nil, err
	}
	obj := &unstructured.Unstructured{}
	if err := obj.UnmarshalJSON(js); err != nil {
		return nil, err
	}
	return obj, nil
}
