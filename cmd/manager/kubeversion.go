package main

import (
	"fmt"

	utilversion "k8s.io/apimachinery/pkg/util/version"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
)

// minKubernetes is the oldest API server the operator supports: the CRD's
// selectableFields (field selectors on spec.companyId and
// status.connectionId) are generally available from Kubernetes 1.32.
const minKubernetes = "1.32.0"

// requireKubernetes refuses to start against an API server older than
// minKubernetes, saying why, instead of failing later in a way that names
// neither the version nor the fix.
func requireKubernetes(cfg *rest.Config) error {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return err
	}
	info, err := dc.ServerVersion()
	if err != nil {
		return fmt.Errorf("asking the API server for its version: %w", err)
	}
	return checkKubernetes(info.GitVersion)
}

func checkKubernetes(gitVersion string) error {
	v, err := utilversion.ParseGeneric(gitVersion)
	if err != nil {
		return fmt.Errorf("the API server reports the version %q, which is not a Kubernetes version: %w", gitVersion, err)
	}
	if v.LessThan(utilversion.MustParseGeneric(minKubernetes)) {
		return fmt.Errorf("the API server runs Kubernetes %s; codat-operator needs %s or later (the CodatConnection CRD's selectable fields): upgrade the cluster, or run an operator release that supports it",
			gitVersion, minKubernetes)
	}
	return nil
}
