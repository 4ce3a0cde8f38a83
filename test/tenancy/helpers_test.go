package tenancy

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/codat-operator/codat-operator/internal/access"
	"github.com/codat-operator/codat-operator/internal/testenv"
)

// grantedByLabel is the grant the shipped manifests configure.
func grantedByLabel(t *testing.T) *access.Grant {
	t.Helper()
	g, err := access.ParseGrant(nil, access.GrantedSelector)
	if err != nil {
		t.Fatal(err)
	}
	return &g
}

var installRoles sync.Once

// userRoles installs the editor and viewer ClusterRoles of config/rbac, as `make deploy` does.
func userRoles(t *testing.T) {
	t.Helper()
	installRoles.Do(func() {
		for _, f := range []string{"codatconnection_editor_role.yaml", "codatconnection_viewer_role.yaml"} {
			raw, err := os.ReadFile(filepath.Join("..", "..", "config", "rbac", f))
			if err != nil {
				t.Fatal(err)
			}
			role := &rbacv1.ClusterRole{}
			if err := yaml.Unmarshal(raw, role); err != nil {
				t.Fatal(err)
			}
			if err := k8s.Create(context.Background(), role); err != nil && !apierrors.IsAlreadyExists(err) {
				t.Fatal(err)
			}
		}
	})
}

// tenant is a user with the given built-in role in one namespace, and our matching user role.
// envtest runs no controller-manager, so the built-in roles are not aggregated: the test binds
// our role beside the built-in one, as aggregation would give it.
func tenant(t *testing.T, namespace, user, builtin, ours string) client.Client {
	t.Helper()
	userRoles(t)
	for _, role := range []string{builtin, ours} {
		rb := &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: user + "-" + role},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
			Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: user}},
		}
		if err := k8s.Create(context.Background(), rb); err != nil {
			t.Fatal(err)
		}
	}
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	c, err := client.New(cfg, client.Options{Scheme: testenv.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// setNamespaceMeta sets (or, with an empty value, removes) a label or annotation of a namespace,
// as the platform team does.
func setNamespaceMeta(t *testing.T, c client.Client, namespace string, labels, annotations map[string]string) error {
	t.Helper()
	ns := &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"}}
	if err := k8s.Get(context.Background(), client.ObjectKey{Name: namespace}, ns); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(ns.DeepCopy())
	ns.Labels = apply(ns.Labels, labels)
	ns.Annotations = apply(ns.Annotations, annotations)
	return c.Patch(context.Background(), ns, patch)
}

func apply(m, changes map[string]string) map[string]string {
	if m == nil {
		m = map[string]string{}
	}
	for k, v := range changes {
		if v == "" {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	return m
}
