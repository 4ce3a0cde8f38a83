package gitopshealth

import (
	"context"
	"fmt"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/ext"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/yaml"

	"github.com/codat-operator/codat-operator/health"
)

// HealthCheckExprs is one entry of a Flux Kustomization's
// spec.healthCheckExprs.
type HealthCheckExprs struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	InProgress string `json:"inProgress,omitempty"`
	Failed     string `json:"failed,omitempty"`
	Current    string `json:"current"`
}

// ShippedFluxExprs parses the shipped health/flux/healthcheckexprs.yaml.
func ShippedFluxExprs() ([]HealthCheckExprs, error) {
	var exprs []HealthCheckExprs
	if err := yaml.UnmarshalStrict(health.FluxHealthCheckExprs, &exprs); err != nil {
		return nil, fmt.Errorf("parsing health/flux/healthcheckexprs.yaml: %w", err)
	}
	return exprs, nil
}

// Flux is the health Flux's kustomize-controller computes for obj with the
// shipped healthCheckExprs. An expression that fails to evaluate is an error
// (Flux then reports the object's status as Unknown with that error and keeps
// waiting until the health check times out).
func Flux(obj *unstructured.Unstructured) (status.Status, error) {
	exprs, err := ShippedFluxExprs()
	if err != nil {
		return status.UnknownStatus, err
	}
	return FluxWith(exprs, obj)
}

// FluxWith evaluates obj with the entry of exprs for its group and kind, the
// way fluxcd/pkg runtime/cel's StatusEvaluator does (RFC-0009):
//
//   - when status.observedGeneration exists and differs from
//     metadata.generation, the object is InProgress, whatever the expressions;
//   - otherwise inProgress, failed and current are evaluated in that order and
//     the first that is true decides; when none is, the object is InProgress.
//
// The expressions are parsed, not type-checked, and the variables are the
// object's top-level fields (apiVersion, kind, metadata, spec, status): a
// field that is missing makes the evaluation fail.
func FluxWith(exprs []HealthCheckExprs, obj *unstructured.Unstructured) (status.Status, error) {
	entry, err := entryFor(exprs, obj.GroupVersionKind().GroupKind())
	if err != nil {
		return status.UnknownStatus, err
	}
	content := obj.UnstructuredContent()
	switch observed, err := generationObserved(content); {
	case err != nil:
		return status.UnknownStatus, err
	case !observed:
		return status.InProgressStatus, nil
	}

	for _, step := range []struct {
		expr   string
		result status.Status
	}{
		{entry.InProgress, status.InProgressStatus},
		{entry.Failed, status.FailedStatus},
		{entry.Current, status.CurrentStatus},
	} {
		if step.expr == "" {
			continue
		}
		ok, err := evalFluxBool(step.expr, content)
		if err != nil {
			return status.UnknownStatus, err
		}
		if ok {
			return step.result, nil
		}
	}
	return status.InProgressStatus, nil
}

// entryFor finds the healthCheckExprs entry of the object's group and kind, with its current
// expression.
func entryFor(exprs []HealthCheckExprs, gk schema.GroupKind) (*HealthCheckExprs, error) {
	for i := range exprs {
		gv, err := schema.ParseGroupVersion(exprs[i].APIVersion)
		if err != nil {
			return nil, fmt.Errorf("healthCheckExprs apiVersion %q: %w", exprs[i].APIVersion, err)
		}
		if gv.Group != gk.Group || exprs[i].Kind != gk.Kind {
			continue
		}
		if exprs[i].Current == "" {
			return nil, fmt.Errorf("the healthCheckExprs entry for %s has no current expression", gk)
		}
		return &exprs[i], nil
	}
	return nil, fmt.Errorf("no healthCheckExprs entry for %s", gk)
}

// generationObserved says whether status.observedGeneration, when there is one, is the object's
// generation: Flux reads an unobserved generation as InProgress before any expression.
func generationObserved(content map[string]any) (bool, error) {
	observed, found, err := unstructured.NestedInt64(content, "status", "observedGeneration")
	if err != nil || !found {
		return true, err
	}
	generation, found, err := unstructured.NestedInt64(content, "metadata", "generation")
	if err != nil || !found {
		return true, err
	}
	return observed == generation, nil
}

// evalFluxBool parses and runs one expression with the environment and
// program options of fluxcd/pkg runtime/cel NewExpression (without
// WithCompile, as the StatusEvaluator uses it).
func evalFluxBool(expr string, data map[string]any) (bool, error) {
	env, err := cel.NewEnv(
		cel.HomogeneousAggregateLiterals(),
		cel.EagerlyValidateDeclarations(true),
		cel.DefaultUTCTimeZone(true),
		cel.CrossTypeNumericComparisons(true),
		cel.OptionalTypes(),
		ext.Strings(),
		ext.Sets(),
		ext.Encoders(),
	)
	if err != nil {
		return false, fmt.Errorf("creating the CEL environment: %w", err)
	}
	ast, issues := env.Parse(expr)
	if issues != nil && issues.Err() != nil {
		return false, fmt.Errorf("parsing the CEL expression %q: %w", expr, issues.Err())
	}
	prog, err := env.Program(ast, cel.EvalOptions(cel.OptOptimize), cel.InterruptCheckFrequency(100))
	if err != nil {
		return false, fmt.Errorf("creating the CEL program of %q: %w", expr, err)
	}
	val, _, err := prog.ContextEval(context.Background(), data)
	if err != nil {
		return false, fmt.Errorf("evaluating the CEL expression %q: %w", expr, err)
	}
	b, ok := val.(types.Bool)
	if !ok {
		return false, fmt.Errorf("the CEL expression %q returned %s, not a bool", expr, val.Type())
	}
	return bool(b), nil
}
