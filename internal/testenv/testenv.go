// Package testenv starts a real kube-apiserver and etcd (envtest, built from
// source by hack/envtest) with the CodatConnection CRD installed, for tests.
package testenv

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"go.uber.org/zap/zapcore"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	codatv1 "github.com/codat-operator/codat-operator/api/v1alpha1"
)

// Scheme knows the built-in kinds and CodatConnection.
var Scheme = k8sruntime.NewScheme()

func init() {
	_ = clientgoscheme.AddToScheme(Scheme)
	_ = codatv1.AddToScheme(Scheme)
}

// Env is a running control plane.
type Env struct {
	*envtest.Environment
	Config *rest.Config
	// Kubeconfig is the path of an admin kubeconfig for kubectl.
	Kubeconfig string
}

// ModuleRoot is the folder of the project's go.mod.
func ModuleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Start starts kube-apiserver and etcd from KUBEBUILDER_ASSETS (set by
// `make test`) and installs the CRDs of config/crd/bases. A missing binary is
// an error, never a reason to skip: run `make envtest` first.
func Start() (*Env, error) {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		return nil, errors.New("KUBEBUILDER_ASSETS is not set: run the tests with `make test`, or `make envtest` and point KUBEBUILDER_ASSETS at bin/k8s/<version>")
	}
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(assets, bin)); err != nil {
			return nil, fmt.Errorf("%s not found in KUBEBUILDER_ASSETS=%s: run `make envtest`", bin, assets)
		}
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{filepath.Join(ModuleRoot(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		Scheme:                Scheme,
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting envtest: %w", err)
	}
	e := &Env{Environment: env, Config: cfg}
	if e.Kubeconfig, err = e.writeKubeconfig(); err != nil {
		_ = env.Stop()
		return nil, err
	}
	return e, nil
}

func (e *Env) writeKubeconfig() (string, error) {
	user, err := e.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return "", fmt.Errorf("adding an admin user: %w", err)
	}
	raw, err := user.KubeConfig()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "codat-envtest-")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "kubeconfig")
	return path, os.WriteFile(path, raw, 0o600)
}

// Kubectl runs the kubectl on PATH against the control plane and returns its
// standard output; its standard error (warnings) goes into a failure's error.
func (e *Env) Kubectl(args ...string) (string, error) {
	cmd := exec.Command("kubectl", append([]string{"--kubeconfig", e.Kubeconfig}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("kubectl %s: %w: %s%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out), nil
}

// Stop stops the control plane and removes the kubeconfig.
func (e *Env) Stop() error {
	_ = os.RemoveAll(filepath.Dir(e.Kubeconfig))
	return e.Environment.Stop()
}

// MainWithManagers is Main for a package whose tests run managers of their own: their logs are
// errors only, so that a failing test's output is not buried.
func MainWithManagers(m *testing.M, ready func(*Env, client.Client)) {
	log.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(zapcore.ErrorLevel)))
	Main(m, ready)
}

// Main is the TestMain of a package whose tests need a control plane: it starts one, makes a
// client for it, calls ready (if set) before the tests, stops it after, and exits with the tests'
// code. A control plane that does not start fails the package; it never skips it.
func Main(m *testing.M, ready func(*Env, client.Client)) {
	env, err := Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	c, err := client.New(env.Config, client.Options{Scheme: Scheme})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		_ = env.Stop()
		os.Exit(1)
	}
	if ready != nil {
		ready(env, c)
	}
	code := m.Run()
	if err := env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping the control plane:", err)
	}
	os.Exit(code)
}
