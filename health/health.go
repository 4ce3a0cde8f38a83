// Package health holds the GitOps health checks codat-operator ships for
// CodatConnection: the Argo CD health script (in Argo CD's
// resource_customizations layout, with its health_test.yaml and testdata) and
// the Flux healthCheckExprs. They are plain files, for users to copy and for
// upstreaming; this package embeds them so that tests evaluate exactly the
// text that is shipped (see internal/gitopshealth).
package health

import "embed"

// ArgoCDCustomizationDir is the folder of the Argo CD resource customization
// inside ArgoCDCustomization and inside this directory of the repository.
const ArgoCDCustomizationDir = "argocd/resource_customizations/codat.io/CodatConnection"

// ArgoCDHealthLua is the Argo CD health check of CodatConnection.
//
//go:embed argocd/resource_customizations/codat.io/CodatConnection/health.lua
var ArgoCDHealthLua string

// ArgoCDCustomization holds health.lua, health_test.yaml and testdata/, as
// Argo CD's own test runner reads them.
//
//go:embed argocd/resource_customizations/codat.io/CodatConnection
var ArgoCDCustomization embed.FS

// FluxHealthCheckExprs is the YAML list of Flux healthCheckExprs entries for
// CodatConnection, as it goes under a Kustomization's spec.healthCheckExprs.
//
//go:embed flux/healthcheckexprs.yaml
var FluxHealthCheckExprs []byte
