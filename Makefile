# codat-operator Makefile. `make help` lists the targets.

# The image repository; `make release` tags the image v$(VERSION) there.
IMG_REPO ?= ghcr.io/codat-operator/codat-operator
IMG_TAG ?= dev
IMG ?= $(IMG_REPO):$(IMG_TAG)
# The image config/default names (config/manager/kustomization.yaml): overlays replace it.
RELEASED_IMG_REPO := ghcr.io/codat-operator/codat-operator
GOOS := $(shell go env GOOS)
GOARCH := $(shell go env GOARCH)

# The envtest binaries (kube-apiserver, etcd) are built from Go modules by hack/envtest,
# at the Kubernetes release pinned in hack/envtest/go.mod, into a versioned folder under bin/.
ENVTEST_K8S_VERSION := $(shell awk '$$1=="k8s.io/kubernetes"{print substr($$2,2)}' hack/envtest/go.mod)
ENVTEST_ASSETS := $(CURDIR)/bin/k8s/$(ENVTEST_K8S_VERSION)-$(GOOS)-$(GOARCH)

# Tools. Each tool is a tiny Go module of its own, hack/tools/<tool>/go.mod, whose
# `tool` directive pins the version; it keeps the tool's dependencies out of the
# operator's go.mod. The pattern rule below builds bin/tools/<tool> from it once
# and again only when that go.mod changes. To add a tool (the binary's name must
# be the folder's name):
#   mkdir hack/tools/foo && cd hack/tools/foo
#   go mod init github.com/codat-operator/codat-operator/hack/tools/foo
#   go get -tool example.com/foo/cmd/foo@vX.Y.Z && go mod tidy
# then use $(TOOLS_BIN)/foo as a prerequisite and as the command.
TOOLS_BIN := bin/tools
CONTROLLER_GEN := $(TOOLS_BIN)/controller-gen
GOLANGCI_LINT := $(TOOLS_BIN)/golangci-lint
CRD_REF_DOCS := $(TOOLS_BIN)/crd-ref-docs
# Every Go module of the repository: each must stay tidy.
GO_MODULES := . hack/envtest hack/release hack/monitoring $(wildcard hack/tools/*)

# Test timeouts: the whole suite stays well under CI's budget.
GO_TEST_FLAGS ?= -timeout 20m -count=1

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show the targets.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate the CRD and the RBAC role from the kubebuilder markers.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd paths="./..." output:crd:artifacts:config=config/crd/bases
	go run ./hack/installgen

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate the DeepCopy methods of the API types, then docs/api.md.
	$(CONTROLLER_GEN) object paths="./api/..."
	@$(MAKE) --no-print-directory api-docs

.PHONY: api-docs
api-docs: $(CRD_REF_DOCS) ## Generate the API reference, docs/api.md, from the Go types and their markers.
	$(CRD_REF_DOCS) --log-level=WARN --source-path=./api --config=hack/api-docs/config.yaml --renderer=markdown --templates-dir=hack/api-docs/templates --output-path=docs/api.md

.PHONY: fmt
fmt: ## Run gofmt on the code.
	gofmt -w $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './bin/*')

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: lint
lint: $(GOLANGCI_LINT) ## Run golangci-lint (.golangci.yml).
	$(GOLANGCI_LINT) run

.PHONY: tidy-check
tidy-check: ## Fail when `go mod tidy` would change go.mod or go.sum of any module in the repository.
	@for m in $(GO_MODULES); do go -C $$m mod tidy -diff || { echo "$$m: run \`go -C $$m mod tidy\` and commit the result"; exit 1; }; done

.PHONY: envtest
envtest: ## Build kube-apiserver and etcd for the tests into bin/ (once; a no-op when they exist).
	@hack/envtest/build.sh "$(ENVTEST_ASSETS)"

# The fast tests: every package but those that start an API server (api/, test/).
UNIT_PACKAGES = $(shell go list ./... | grep -v -e '/test/' -e '/api/' -e '/internal/metricsauth')

.PHONY: test-unit
test-unit: ## Run the fast tests (no API server, no binaries): reconciler decisions, client, simulator.
	go test -count=1 $(UNIT_PACKAGES)

.PHONY: test
test: tidy-check lint lint-workflows envtest build ## Run every test: unit, API-server (envtest), simulator, e2e, install artifacts. What CI runs.
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	go vet ./...
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" go test $(GO_TEST_FLAGS) ./...
	$(MAKE) test-install

.PHONY: bench
bench: envtest ## Run the benchmarks (Codat calls and API-server writes per operation).
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" go test -run '^$$' -bench . -benchmem ./...

# The scale figures of docs/performance.md; SCALE_OBJECTS="1000" runs one size only, and
# BENCH_SCALE_ARGS passes options to hack/benchscale (e.g. "--link-rate 5").
SCALE_OBJECTS ?= 1000 10000
BENCH_SCALE_ARGS ?=
.PHONY: bench-scale
bench-scale: envtest build ## Run the manager binary at 1,000 and 10,000 objects, with and without webhooks, and print the costs (about an hour).
	go build -o bin/benchscale ./hack/benchscale
	@for n in $(SCALE_OBJECTS); do \
		for webhooks in true false; do \
			bin/benchscale --envtest-assets "$(ENVTEST_ASSETS)" --objects $$n --webhooks=$$webhooks $(BENCH_SCALE_ARGS) || exit 1; \
		done; \
	done

##@ Build

.PHONY: build
build: ## Build the manager and the Codat simulator into bin/.
	go build -o bin/manager ./cmd/manager
	go build -o bin/codat-simulator ./cmd/codat-simulator

.PHONY: run
run: ## Run the manager against the cluster of the current kubeconfig (flags in ARGS="...").
	go run ./cmd/manager --health-probe-bind-address=127.0.0.1:8081 $(ARGS)

.PHONY: dev
dev: envtest build ## Run everything locally: control plane, Codat simulator, manager, samples (Ctrl-C stops it all).
	go build -o bin/dev ./hack/dev
	exec bin/dev --envtest-assets "$(ENVTEST_ASSETS)" $(DEV_ARGS)

.PHONY: docker-build
docker-build: ## Build the container image IMG_REPO:IMG_TAG, the manager reporting version IMG_TAG (needs a Docker engine).
	docker build --build-arg VERSION=$(IMG_TAG) -t $(IMG) .

.PHONY: build-installer
build-installer: ## Write dist/install.yaml (CRD, RBAC, Deployment) with the image IMG_REPO:IMG_TAG.
	mkdir -p dist/installer
	printf 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [../../config/default]\nimages:\n- name: %s\n  newName: %s\n  newTag: %s\n' "$(RELEASED_IMG_REPO)" "$(IMG_REPO)" "$(IMG_TAG)" > dist/installer/kustomization.yaml
	kubectl kustomize dist/installer > dist/install.yaml
	@echo "wrote dist/install.yaml"

##@ Deployment

.PHONY: install
install: manifests ## Install the CRD into the cluster of the current kubeconfig.
	kubectl apply --server-side -k config/crd

.PHONY: uninstall
uninstall: ## Remove the CRD (and every CodatConnection) from the cluster.
	kubectl delete --ignore-not-found -k config/crd

.PHONY: deploy
deploy: manifests ## Deploy the operator (the released image of this version) to the cluster of the current kubeconfig.
	kubectl apply --server-side -k config/default

.PHONY: undeploy
undeploy: ## Remove the operator from the cluster.
	kubectl delete --ignore-not-found -k config/default

# bin/tools/<tool> from hack/tools/<tool>/go.mod: see TOOLS_BIN above.
$(TOOLS_BIN)/%: hack/tools/%/go.mod
	go -C hack/tools/$* build -o $(CURDIR)/$@ tool
	@touch $@

##@ Release and install artifacts

# Release version, x.y.z (no leading v): `make release VERSION=0.1.0`.
VERSION ?=
# Where `make release` writes its artifacts.
DIST ?= $(CURDIR)/dist

.PHONY: release
release: ## Write dist/install.yaml (image IMG_REPO:vVERSION) and dist/codat-operator-VERSION.tgz (the chart).
	@if [ -z "$(VERSION)" ]; then echo "usage: make release VERSION=x.y.z [IMG_REPO=$(IMG_REPO)] [DIST=dist]"; exit 1; fi
	cd hack/release && go run . -root "$(CURDIR)" -version "$(VERSION)" -img-repo "$(IMG_REPO)" -out "$(DIST)"

# hack/release (Helm's SDK: the chart and release tests) and hack/monitoring (Prometheus's
# rule engine: the alert and dashboard tests) are Go modules of their own, so that their
# dependencies stay out of the operator's go.mod.
.PHONY: test-install
test-install: envtest ## Test the Helm chart, `make release`, the alerts and the dashboard.
	cd hack/release && go vet ./... && KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" go test $(GO_TEST_FLAGS) ./...
	cd hack/monitoring && go vet ./... && go test $(GO_TEST_FLAGS) ./...

.PHONY: lint-workflows
lint-workflows: $(TOOLS_BIN)/actionlint ## Check .github/workflows with actionlint.
	$(TOOLS_BIN)/actionlint -no-color .github/workflows/*.yaml
