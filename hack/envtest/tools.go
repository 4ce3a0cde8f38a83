//go:build tools

// Package envtest pins the modules that build.sh compiles into bin/.
package envtest

import (
	_ "go.etcd.io/etcd/server/v3/etcdmain"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
)
