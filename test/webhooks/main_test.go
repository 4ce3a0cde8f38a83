// Package webhooks tests the webhook receiver end to end: the simulator sends Codat's signed
// webhooks over real HTTP to a manager (real API server, the real reconciler and receiver), each
// test with its own namespace, simulator and manager (test/rig), so that each can set its own
// intervals.
package webhooks

import (
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/codat-operator/codat-operator/internal/testenv"
)

var (
	env *testenv.Env
	k8s client.Client
)

func TestMain(m *testing.M) {
	testenv.MainWithManagers(m, func(e *testenv.Env, c client.Client) { env, k8s = e, c })
}
