// Package tenancy tests the operator in a shared cluster against a real API server with RBAC:
// tenants are users impersonated with only edit (or view) in their namespace; the platform team
// is the admin. Each test has its own namespace, simulator and manager (test/rig).
package tenancy

import (
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/codat-operator/codat-operator/internal/testenv"
)

var (
	env *testenv.Env
	k8s client.Client // the platform team: cluster admin
)

func TestMain(m *testing.M) {
	testenv.MainWithManagers(m, func(e *testenv.Env, c client.Client) { env, k8s = e, c })
}
