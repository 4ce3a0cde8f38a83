package gitopshealth_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/codat-operator/codat-operator/internal/gitopshealth"
	"github.com/codat-operator/codat-operator/internal/testenv"
)

// The API server tests share one control plane, started by the first of
// them, so that the package's other tests run without one.
var (
	apiServerOnce sync.Once
	apiServer     *testenv.Env
	apiServerErr  error
	k8s           client.Client
)

// startAPIServer starts a real kube-apiserver with the CRD: what it returns
// for a new object, and whether it accepts the testdata's status, is the API
// server's business.
func startAPIServer(t *testing.T) {
	t.Helper()
	apiServerOnce.Do(func() {
		if apiServer, apiServerErr = testenv.Start(); apiServerErr != nil {
			return
		}
		if k8s, apiServerErr = client.New(apiServer.Config, client.Options{Scheme: testenv.Scheme}); apiServerErr == nil {
			apiServerErr = k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "customers"}})
		}
	})
	if apiServerErr != nil {
		t.Fatal(apiServerErr)
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if apiServer != nil {
		if err := apiServer.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping envtest:", err)
		}
	}
	os.Exit(code)
}

func codatConnection(name string) *unstructured.Unstructured {
	obj := &unstructured.Unstructured{}
	obj.SetAPIVersion("codat.io/v1alpha1")
	obj.SetKind("CodatConnection")
	obj.SetNamespace("customers")
	obj.SetName(name)
	return obj
}

// TestNewObjectFromTheAPIServer: a CodatConnection as the API server returns
// it before the operator has written anything is the "no status yet" state,
// status.observedGeneration 0 by the CRD's default, and every tool reads it as
// the table says.
func TestNewObjectFromTheAPIServer(t *testing.T) {
	startAPIServer(t)
	ctx := context.Background()
	obj := codatConnection("fresh")
	obj.Object["spec"] = map[string]any{"companyId": "8a210b68-6988-11ed-a1eb-0242ac120002", "platformKey": "gbol"}
	if err := k8s.Create(ctx, obj); err != nil {
		t.Fatal(err)
	}
	got := codatConnection("fresh")
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(got), got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]any{"observedGeneration": int64(0)}, got.Object["status"]); diff != "" {
		t.Errorf("status of a new object (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(testdataObject(t, "progressing_no_status.yaml").Object["status"], got.Object["status"]); diff != "" {
		t.Errorf("progressing_no_status.yaml's status is not what the API server returns (-testdata +API server):\n%s", diff)
	}
	res, err := gitopshealth.Evaluate(got)
	if err != nil {
		t.Fatal(err)
	}
	w := table[0]
	if res.Kstatus != w.kstatus || res.Flux != w.flux || res.ArgoCD.Status != w.argoCD {
		t.Errorf("new object: %+v; want kstatus %s, Flux %s, Argo CD %s", res, w.kstatus, w.flux, w.argoCD)
	}
}

// TestTestdataIsValid: the API server accepts every testdata object, its
// status included, and returns it without pruning a field: the objects are
// ones the CRD allows.
func TestTestdataIsValid(t *testing.T) {
	startAPIServer(t)
	ctx := context.Background()
	for i, w := range table {
		t.Run(w.file, func(t *testing.T) {
			want := testdataObject(t, w.file)
			obj := codatConnection(fmt.Sprintf("valid-%d", i))
			obj.SetAnnotations(want.GetAnnotations())
			obj.SetFinalizers(want.GetFinalizers())
			obj.Object["spec"] = want.Object["spec"]
			if err := k8s.Create(ctx, obj); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				obj.SetFinalizers(nil)
				_ = k8s.Update(ctx, obj)
				_ = k8s.Delete(ctx, obj)
			})
			obj.Object["status"] = want.Object["status"]
			if err := k8s.Status().Update(ctx, obj); err != nil {
				t.Fatalf("the API server refuses the status: %v", err)
			}
			got := codatConnection(obj.GetName())
			if err := k8s.Get(ctx, client.ObjectKeyFromObject(got), got); err != nil {
				t.Fatal(err)
			}
			for _, field := range []string{"spec", "status"} {
				if diff := cmp.Diff(want.Object[field], got.Object[field]); diff != "" {
					t.Errorf("%s as stored differs from the testdata (-testdata +API server):\n%s", field, diff)
				}
			}
		})
	}
}
