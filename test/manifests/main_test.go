// Package manifests tests what the repository ships besides the Go code: the
// kustomize manifests of config/ applied to a real API server, the files
// generated from the Go types (CRD, RBAC role, deepcopy, API reference), and
// the kube-apiserver that hack/envtest builds for every test.
package manifests

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/codat-operator/codat-operator/internal/testenv"
)

var (
	env *testenv.Env
	k8s client.Client
)

// TestMain starts a real kube-apiserver with the generated CRD installed.
func TestMain(m *testing.M) {
	testenv.Main(m, func(e *testenv.Env, c client.Client) { env, k8s = e, c })
}

func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "manifests-" + rand.String(8)}}
	if err := k8s.Create(context.Background(), ns); err != nil {
		t.Fatalf("creating namespace: %v", err)
	}
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), ns) })
	return ns.Name
}
