# Weft's build. `make help` lists the targets.

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec
.DEFAULT_GOAL := help

BIN        := $(CURDIR)/bin
TOOLS      := $(BIN)/tools
BINARIES   := weft-controlplane weft-proxy weft-cni weftctl
GO         ?= go
GOFLAGS    ?=

# What the binaries and images say they are ("weft-proxy --version",
# "weftctl version", the images' tags and labels); override for a release:
# make images VERSION=v0.1.0.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
VERSION_LDFLAGS := -X github.com/weftmesh/weft/version.Version=$(VERSION) -X github.com/weftmesh/weft/version.Commit=$(COMMIT)
IMAGE_ARCH ?= $(shell $(GO) env GOARCH)

# Pinned tool versions (installed from the Go module proxy into bin/tools).
GOLANGCI_LINT_VERSION  := v2.15.0
CONTROLLER_GEN_VERSION := v0.23.0

GOLANGCI_LINT  := $(TOOLS)/golangci-lint-$(GOLANGCI_LINT_VERSION)
CONTROLLER_GEN := $(TOOLS)/controller-gen-$(CONTROLLER_GEN_VERSION)

# The real kube-apiserver and etcd that envtest tests run, built from source
# by hack/envtest.sh into bin/envtest/<version>.
ENVTEST_K8S_VERSION := v1.37.2
ENVTEST_ASSETS      := $(BIN)/envtest/$(ENVTEST_K8S_VERSION)

# The e2e cluster's binaries (Kubernetes, etcd, containerd), built from
# source by hack/cluster-bins.sh into bin/cluster/<version> (docs/e2e.md).
CLUSTER_BINS := $(BIN)/cluster/$(ENVTEST_K8S_VERSION)

##@ General

.PHONY: help
help: ## List the targets.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} \
		/^[a-zA-Z0-9_-]+:.*?##/ { printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2 } \
		/^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Build

.PHONY: build
build: ## Build every binary into bin/, stamped with VERSION and COMMIT.
	$(GO) build $(GOFLAGS) -ldflags "$(VERSION_LDFLAGS)" -o $(BIN)/ $(addprefix ./cmd/,$(BINARIES))

.PHONY: images
images: ## Build the weft-proxy, weft-controlplane and weft-cni image tarballs into bin/images/ without Docker (see docs/images.md).
	$(GO) run ./hack/images --out-dir $(BIN)/images --version $(VERSION) --commit $(COMMIT) --arch $(IMAGE_ARCH)

.PHONY: e2e-images
e2e-images: ## Build the e2e cluster's pause, test-app, MetalLB (controller, speaker) and CoreDNS image tarballs into bin/images/ (MetalLB's and CoreDNS's binaries built once into bin/metallb/, bin/coredns/; see docs/e2e.md).
	@METALLB_DIR=$(BIN)/metallb/v0.16.2 GOARCH=$(IMAGE_ARCH) hack/e2eimages/metallb.sh >/dev/null
	@COREDNS_DIR=$(BIN)/coredns/v1.15.0 GOARCH=$(IMAGE_ARCH) hack/e2eimages/coredns.sh >/dev/null
	$(GO) run ./hack/e2eimages --out-dir $(BIN)/images --metallb-dir $(BIN)/metallb/v0.16.2 --coredns-dir $(BIN)/coredns/v1.15.0 --arch $(IMAGE_ARCH)

.PHONY: demo
demo: build ## Run the whole mesh on this machine and print a report (no cluster, no root).
	$(BIN)/weftctl demo --bin-dir $(BIN)

.PHONY: fuzz
FUZZTIME ?= 30s
fuzz: ## Run every Go fuzz test (func Fuzz*) for FUZZTIME each (default 30s; not part of make test, whose runs replay their seeds). A failure's input lands in the package's testdata/fuzz/.
	@grep -rl --include='*_test.go' '^func Fuzz' . | while read -r file; do \
	  dir=$$(dirname "$$file"); \
	  for fn in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$$file"); do \
	    echo "fuzz: $$dir $$fn ($(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) "$$dir" || exit 1; \
	  done; \
	done

.PHONY: bench
bench: export KUBEBUILDER_ASSETS := $(ENVTEST_ASSETS)
bench: build envtest ## Compare Weft with no proxy, nginx and HAProxy (installs them; ~8 min), then the xDS server with 1,000 proxies, fed directly and through a real API server, then the proxy's xDS bytes per endpoint change, SotW and delta (see docs/performance.md).
	hack/bench-deps.sh
	$(GO) build $(GOFLAGS) -o $(BIN)/ ./cmd/weft-bench
	$(BIN)/weft-bench --bin-dir $(BIN) --results-dir $(CURDIR)/bench/results
	$(BIN)/weft-bench xds
	$(BIN)/weft-bench xds --source kube
	$(GO) test $(GOFLAGS) -run '^$$' -bench . -benchtime 50x ./proxy/xdsclient/

##@ Test

.PHONY: test
test: export KUBEBUILDER_ASSETS := $(ENVTEST_ASSETS)
test: verify vet lint envtest ## Everything: generated-code check, vet, lint, every test with -race, then (as root) the real-cluster e2e.
	hack/spire.sh >/dev/null # SPIRE server and agent for integration's interop test (cached in bin/spire)
	hack/cni-plugins.sh >/dev/null # bridge, host-local, loopback, portmap for the network-namespace tests (cached in bin/cni)
	$(GO) test $(GOFLAGS) -race -count=1 -timeout 30m ./...
	@if [ "$$(id -u)" -eq 0 ]; then $(MAKE) --no-print-directory e2e; \
	else echo "make test: the real-cluster e2e needs root; run sudo make e2e"; fi

.PHONY: test-fast
test-fast: ## Unit and loopback tests only (the inner loop).
	$(GO) test $(GOFLAGS) -short -count=1 ./...

.PHONY: envtest
envtest: ## Build (once) the kube-apiserver and etcd that tests against a real API server use.
	@K8S_VERSION=$(ENVTEST_K8S_VERSION) ENVTEST_DIR=$(ENVTEST_ASSETS) hack/envtest.sh >/dev/null

.PHONY: cluster-bins
cluster-bins: ## Build (once) the e2e cluster's Kubernetes, etcd and containerd into bin/cluster/; install runc, CNI plugins, conntrack, nftables if missing (root; ~15 min cold).
	@K8S_VERSION=$(ENVTEST_K8S_VERSION) ENVTEST_DIR=$(ENVTEST_ASSETS) CLUSTER_BIN_DIR=$(CLUSTER_BINS) hack/cluster-bins.sh >/dev/null

.PHONY: e2e
e2e: build images e2e-images cluster-bins ## Bring up a real two-node Kubernetes (root), install Weft with its chart, run the scenarios of integration/e2e, tear it all down (see docs/e2e.md).
	WEFT_E2E_BIN=$(BIN) WEFT_E2E_VERSION=$(VERSION) $(GO) test $(GOFLAGS) -tags e2e -count=1 -timeout 40m -v ./integration/e2e/ || \
		{ $(GO) test -tags e2e -count=1 -run '^TestClean$$' ./integration/cluster/ >/dev/null 2>&1; exit 1; }

.PHONY: fmt
fmt: ## Format the code.
	$(GO) fmt ./...

.PHONY: vet
vet: ## Run go vet (the e2e scenarios included).
	$(GO) vet -tags e2e ./...

.PHONY: lint
lint: $(GOLANGCI_LINT) ## Run golangci-lint (the e2e scenarios included).
	$(GOLANGCI_LINT) run --build-tags e2e ./...

##@ Generated code

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Regenerate deepcopy functions, CRDs (install/crds and the Helm chart's copy), protobuf code and install/weft.yaml.
	$(CONTROLLER_GEN) object paths=./api/...
	rm -f install/crds/*.yaml # a removed kind leaves no stale CRD behind
	$(CONTROLLER_GEN) crd paths=./api/... output:crd:artifacts:config=install/crds
	hack/protoc.sh
	rm -f install/helm/weft/crds/*.yaml
	cp install/crds/*.yaml install/helm/weft/crds/
	$(GO) run ./cmd/weftctl install --dry-run > install/weft.yaml.tmp # rendered from the chart embedded after the copy
	mv install/weft.yaml.tmp install/weft.yaml

# What make generate writes, and make verify compares with the commit.
GENERATED := api/ install/crds/ install/helm/weft/crds/ install/weft.yaml

.PHONY: verify
verify: generate ## Fail when generated files differ from what is committed.
	@if ! git diff --quiet -- $(GENERATED) || [ -n "$$(git ls-files --others --exclude-standard -- $(GENERATED))" ]; then \
		echo "generated files are stale: run 'make generate' and commit the result"; \
		git status --short -- $(GENERATED); git diff --stat -- $(GENERATED); exit 1; \
	fi

##@ Tools

$(GOLANGCI_LINT):
	hack/install-go-tool.sh $@ github.com/golangci/golangci-lint/v2/cmd/golangci-lint $(GOLANGCI_LINT_VERSION)

$(CONTROLLER_GEN):
	hack/install-go-tool.sh $@ sigs.k8s.io/controller-tools/cmd/controller-gen $(CONTROLLER_GEN_VERSION)

.PHONY: clean
clean: ## Remove built binaries and tools.
	rm -rf $(BIN)
