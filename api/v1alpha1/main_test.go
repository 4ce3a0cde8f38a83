package v1alpha1_test

import (
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/codat-operator/codat-operator/internal/testenv"
)

var (
	env *testenv.Env
	k8s client.Client
)

// TestMain runs the package's tests against a real kube-apiserver with the
// generated CRD installed: admission (schema and CEL) is the API server's.
func TestMain(m *testing.M) {
	testenv.Main(m, func(e *testenv.Env, c client.Client) { env, k8s = e, c })
}
