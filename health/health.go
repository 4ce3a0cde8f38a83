// Package health holds the GitOps health checks codat-operator ships for its
// kinds, CodatConnection and CodatCompany: the Argo CD health scripts (in Argo
// CD's resource_customizations layout, one folder per kind with its
// health_test.yaml and testdata) and the Flux healthCheckExprs. They are plain
// files, for users to copy and for upstreaming; this package embeds them so
// that tests evaluate exactly the text that is shipped (see
// internal/gitopshealth).
package health

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
)

// ArgoCDGroupDir is the folder of the Argo CD resource customizations of the
// codat.io kinds, one folder per kind, inside ArgoCDCustomization and inside
// this directory of the repository.
const ArgoCDGroupDir = "argocd/resource_customizations/codat.io"

// ArgoCDCustomizationDir is the folder of CodatConnection's Argo CD resource
// customization.
const ArgoCDCustomizationDir = ArgoCDGroupDir + "/CodatConnection"

// ArgoCDCompanyCustomizationDir is the folder of CodatCompany's Argo CD
// resource customization.
const ArgoCDCompanyCustomizationDir = ArgoCDGroupDir + "/CodatCompany"

// Kinds are the kinds of group codat.io with a shipped health check, in the
// order of the docs.
var Kinds = []string{"CodatConnection", "CodatCompany"}

// ArgoCDHealthLua is the Argo CD health check of CodatConnection
// (ArgoCDHealthLuaOf gives any kind's).
//
//go:embed argocd/resource_customizations/codat.io/CodatConnection/health.lua
var ArgoCDHealthLua string

// ArgoCDCustomization holds every kind's folder (health.lua,
// health_test.yaml and testdata/), as Argo CD's own test runner reads them.
//
//go:embed argocd/resource_customizations/codat.io
var ArgoCDCustomization embed.FS

// ArgoCDHealthLuaOf is the Argo CD health check of a codat.io kind.
func ArgoCDHealthLuaOf(kind string) (string, error) {
	raw, err := fs.ReadFile(ArgoCDCustomization, path.Join(ArgoCDGroupDir, kind, "health.lua"))
	if err != nil {
		return "", fmt.Errorf("no Argo CD health check for codat.io %s: %w", kind, err)
	}
	return string(raw), nil
}

// FluxHealthCheckExprs is the YAML list of Flux healthCheckExprs entries for
// the codat.io kinds, as it goes under a Kustomization's
// spec.healthCheckExprs.
//
//go:embed flux/healthcheckexprs.yaml
var FluxHealthCheckExprs []byte
