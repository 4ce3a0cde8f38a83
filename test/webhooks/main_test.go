// Package webhooks tests the webhook receiver end to end: the simulator sends Codat's signed
// webhooks over real HTTP to a manager (real API server, the real reconciler and receiver), each
// test with its own namespace, simulator and manager (test/rig), so that each can set its own
// intervals.
package webhooks

import (
	"os"
	"testing"

	"go.uber.org/zap/zapcore"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/codat-operator/codat-operator/internal/testenv"
)

var (
	env *testenv.Env
	k8s client.Client
)

func TestMain(m *testing.M) {
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(zapcore.ErrorLevel)))
	testenv.Main(m, func(e *testenv.Env, c client.Client) { env, k8s = e, c })
}
