package gitopshealth

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	lua "github.com/yuin/gopher-lua"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
	"github.com/codat-operator/codat-operator/health"
)

// Argo CD's health status codes (gitops-engine pkg/health).
const (
	ArgoHealthy     = "Healthy"
	ArgoProgressing = "Progressing"
	ArgoDegraded    = "Degraded"
	ArgoSuspended   = "Suspended"
	ArgoMissing     = "Missing"
	ArgoUnknown     = "Unknown"
)

// ArgoHealth is an Argo CD health assessment: what health.lua returns, and
// what Argo CD shows for the resource.
type ArgoHealth struct {
	Status  string `json:"status"`
	Message string `json:"message,omitempty"`
}

// argoHookFinalizer marks Argo CD hook resources; gitops-engine runs health
// checks on those even while they are being deleted.
const argoHookFinalizer = "argocd.argoproj.io/hook-finalizer"

// ArgoCD is the health Argo CD shows for obj. Like gitops-engine's
// GetResourceHealth, an object being deleted is Progressing ("Pending
// deletion") before any custom health check runs; otherwise it is the result
// of the shipped health.lua.
func ArgoCD(obj *unstructured.Unstructured) (ArgoHealth, error) {
	if obj.GetDeletionTimestamp() != nil && !hasFinalizer(obj, argoHookFinalizer) {
		return ArgoHealth{Status: ArgoProgressing, Message: "Pending deletion"}, nil
	}
	return ArgoCDScript(obj)
}

// ArgoCDScript runs the shipped health.lua of obj's kind on obj the way Argo
// CD's Lua VM (util/lua) runs a health customization from argocd-cm without
// useOpenLibs: Argo CD picks the script by the object's group and kind; only
// the package, base and table libraries are open, the object is the global obj
// (a Lua table converted from the unstructured content), the script has a
// second to finish, and the table it returns is read as {status, message}. A
// status outside Argo CD's set becomes Unknown. Argo CD's health_test.yaml
// cases assert this result.
func ArgoCDScript(obj *unstructured.Unstructured) (ArgoHealth, error) {
	gk := obj.GroupVersionKind().GroupKind()
	if gk.Group != codatv1.GroupVersion.Group {
		return ArgoHealth{}, fmt.Errorf("no Argo CD health check for %s: codat-operator ships them for group %s", gk, codatv1.GroupVersion.Group)
	}
	script, err := health.ArgoCDHealthLuaOf(gk.Kind)
	if err != nil {
		return ArgoHealth{}, err
	}
	return runHealthLua(obj.Object, script)
}

func runHealthLua(obj map[string]any, script string) (ArgoHealth, error) {
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer l.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
	} {
		if err := l.CallByParam(lua.P{Fn: l.NewFunction(lib.open), NRet: 0, Protect: true}, lua.LString(lib.name)); err != nil {
			return ArgoHealth{}, fmt.Errorf("opening the Lua library %q: %w", lib.name, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.SetContext(ctx)
	l.SetGlobal("obj", toLua(l, obj))
	if err := l.DoString(script); err != nil {
		return ArgoHealth{}, fmt.Errorf("running health.lua: %w", err)
	}
	ret := l.Get(-1)
	table, ok := ret.(*lua.LTable)
	if !ok {
		return ArgoHealth{}, fmt.Errorf("expect table output from Lua script, not %s", ret.Type())
	}
	var hs ArgoHealth
	for field, dst := range map[string]*string{"status": &hs.Status, "message": &hs.Message} {
		switch v := table.RawGetString(field).(type) {
		case *lua.LNilType:
		case lua.LString:
			*dst = string(v)
		default:
			// Argo CD encodes the table as JSON into a struct of strings.
			return ArgoHealth{}, fmt.Errorf("health.lua returned a %s as %s, not a string", v.Type(), field)
		}
	}
	switch hs.Status {
	case ArgoHealthy, ArgoProgressing, ArgoDegraded, ArgoSuspended, ArgoMissing, ArgoUnknown:
		return hs, nil
	}
	return ArgoHealth{Status: ArgoUnknown, Message: "Lua returned an invalid health status"}, nil
}

// toLua converts unstructured content to Lua values as Argo CD does
// (decodeValue in util/lua): numbers of any Go type become Lua numbers,
// json.Number a string, lists and maps tables, anything else nil.
func toLua(l *lua.LState, value any) lua.LValue {
	switch v := value.(type) {
	case bool:
		return lua.LBool(v)
	case float64:
		return lua.LNumber(v)
	case int:
		return lua.LNumber(v)
	case int32:
		return lua.LNumber(v)
	case int64:
		return lua.LNumber(v)
	case string:
		return lua.LString(v)
	case json.Number:
		return lua.LString(v)
	case []any:
		t := l.CreateTable(len(v), 0)
		for _, item := range v {
			t.Append(toLua(l, item))
		}
		return t
	case map[string]any:
		t := l.CreateTable(0, len(v))
		for key, item := range v {
			t.RawSetH(lua.LString(key), toLua(l, item))
		}
		return t
	}
	return lua.LNil
}

func hasFinalizer(obj *unstructured.Unstructured, name string) bool {
	for _, f := range obj.GetFinalizers() {
		if f == name {
			return true
		}
	}
	return false
}
