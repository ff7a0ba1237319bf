# drafast: every set-up step a fresh machine needs, from the registries only.
#   make demo   -- virtualenv + dependencies + native extension, then `drafast demo`
#   make test   -- the same set-up, then every check and test suite
#   make check  -- the fast loop: lint, cargo test, unit + native + integration tests (no cluster)
#   make bench  -- benchmarks; writes bench-results/*.json and a table
#   make kubelet-load -- the grpc-go kubelet stand-in the prepare benchmarks drive the plugin with
#   make reference-driver -- the Go reference DRA driver the side-by-side benchmark runs against

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# The virtualenv's interpreter: the distribution's python3.11 when the host has one, the build the
# image ships (tools/image.sh: Debian's, compiled with PGO and LTO), so tests and benchmarks run
# drafast on the interpreter it runs on in a cluster; else the first python3.11 in PATH. (Measured
# here: a pyenv build without --enable-optimizations ran Python code ~35 % slower and started the
# plugin ~22 % later.)
PYTHON ?= $(or $(wildcard /usr/bin/python3.11),python3.11)
VENV ?= .venv
PY := $(VENV)/bin/python
# Build caches live outside the clone (reused across clones, keyed by toolchain in the path).
# DRAFAST_CACHE (what the scripts and drafast.testing read) names it too, so all agree on one place.
CACHE_DIR ?= $(or $(DRAFAST_CACHE),$(HOME)/.cache/drafast)
export CARGO_TARGET_DIR ?= $(CACHE_DIR)/cargo-target-$(shell rustc --version | cut -d' ' -f2)
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# Real Kubernetes binaries for tests/e2e: built once per machine, outside the repo.
export DRAFAST_CACHE := $(CACHE_DIR)

# The stamp's name carries the interpreter's resolved path: a virtualenv made by another
# interpreter (an older checkout's default, or PYTHON=...) is made again from scratch.
PYTHON_PATH := $(shell readlink -f "$$(command -v $(PYTHON))" 2>/dev/null)
DEPS_STAMP := $(VENV)/.deps-installed$(subst /,-,$(PYTHON_PATH))
NATIVE_STAMP := $(VENV)/.native-built
RUST_SOURCES := $(shell find rust -name '*.rs' -o -name Cargo.toml) Cargo.toml Cargo.lock
# tools/generate-protos.sh compiles each; `make proto` rewrites them, `make proto-check` diffs them all.
PROTO_DIRS := python/drafast/kubelet/proto python/drafast/nri/proto
# The Go kubelet stand-in (python/drafast/testing/kubeletload, shipped in the wheel), built outside
# the clone under a hash of its sources, so a changed go.mod/go.sum/main.go gets a fresh binary and
# an unchanged one is reused.
# drafast.testing.bench.kubeletload_path computes the same path when this variable is not set.
KUBELETLOAD_SOURCES := $(addprefix python/drafast/testing/kubeletload/,go.mod go.sum main.go)
export DRAFAST_KUBELETLOAD := $(CACHE_DIR)/kubeletload-$(shell cat $(KUBELETLOAD_SOURCES) | sha256sum | cut -c1-12)/kubeletload

.PHONY: help
help:
	@echo "make demo | check | test | wheel | image | bench | cluster [NODE=1] | cluster-bins | node-bins | helm-bin | kubelet-load | reference-driver | lint | proto | clean"

$(DEPS_STAMP): requirements-dev.txt
	@echo "==> creating virtualenv $(VENV) and installing pinned dependencies"
	$(PYTHON) -m venv --clear $(VENV)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

$(NATIVE_STAMP): $(DEPS_STAMP) $(RUST_SOURCES) pyproject.toml
	@echo "==> building the native extension drafast._native (release)"
	VIRTUAL_ENV=$(abspath $(VENV)) $(VENV)/bin/maturin develop --release --locked --quiet
	@touch $@

.PHONY: setup
setup: $(NATIVE_STAMP)

# An abi3 manylinux wheel (CPython >= 3.11; the tag is the oldest glibc the symbols allow) and
# the sdist, into dist/.
.PHONY: wheel
wheel: $(DEPS_STAMP)
	@echo "==> building the wheel and the sdist into dist/"
	rm -rf dist
	$(VENV)/bin/maturin build --release --locked --out dist
	$(VENV)/bin/maturin sdist --out dist
	@ls -l dist

# The container image: dist/drafast-image.tar, an OCI image archive (docker.io/library/drafast:
# <version>) from Debian .debs + the wheel + the pinned dependencies; offline, reproducible
# (tools/image.sh; deploy/image/README.md: loading and pushing it).
.PHONY: image
image: wheel
	@echo "==> the drafast OCI image (Debian python + the wheel + pinned dependencies) -> dist/drafast-image.tar"
	PYTHON=$(PYTHON) PIP=$(abspath $(VENV))/bin/pip bash tools/image.sh --out dist/drafast-image.tar

.PHONY: demo
demo: setup
	$(VENV)/bin/drafast demo

.PHONY: proto
proto: $(DEPS_STAMP)
	@echo "==> regenerating protobuf modules"
	PYTHON=$(PY) bash tools/generate-protos.sh $(PROTO_DIRS)

.PHONY: proto-check
proto-check: $(DEPS_STAMP)
	@echo "==> checking generated protobuf modules are up to date"
	@tmp=$$(mktemp -d); cp -r python $$tmp/; \
	  PYTHON=$(abspath $(PY)) OUT_ROOT=$$tmp/python bash tools/generate-protos.sh $(PROTO_DIRS); \
	  for d in $(PROTO_DIRS); do \
	    if ! diff -r -x __pycache__ $$d $$tmp/$$d; then \
	      echo "generated protobuf code in $$d is stale: run 'make proto'"; rm -rf $$tmp; exit 1; fi; \
	  done; \
	  rm -rf $$tmp

.PHONY: lint
lint: setup proto-check
	@echo "==> cargo fmt --check"
	cargo fmt --all --check
	@echo "==> cargo clippy -D warnings"
	cargo clippy --workspace --all-targets --locked --quiet -- -D warnings
	@echo "==> ruff"
	$(VENV)/bin/ruff check python tests benches tools deploy/examples
	$(VENV)/bin/ruff format --check python tests benches tools deploy/examples
	@echo "==> mypy --strict"
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy tools/oci_image.py
	@echo "==> import-linter"
	cd python && ../$(VENV)/bin/lint-imports --config ../pyproject.toml
	@echo "==> stubtest drafast._native"
	MYPYPATH=python $(PY) -m mypy.stubtest drafast._native

.PHONY: cluster-bins
cluster-bins:
	@echo "==> etcd, kube-apiserver/scheduler/controller-manager/kubelet, kubectl (versions: tools/versions.env) -> $(CACHE_DIR)"
	PYTHON=$(PYTHON) bash tests/e2e/tools/cluster-bins.sh

.PHONY: node-bins
node-bins:
	@echo "==> containerd, runc, CNI plugins, busybox from Debian (pins: tools/versions.env) + pause/test images -> $(CACHE_DIR)/node-bins"
	PYTHON=$(PYTHON) bash tests/e2e/tools/node-bins.sh

.PHONY: helm-bin
helm-bin:
	@echo "==> helm, built from the helm.sh/helm Go module (version: tools/versions.env) -> $(CACHE_DIR)"
	bash tests/e2e/tools/helm-bin.sh

# GOTOOLCHAIN=local: never download another Go toolchain; modules come from the Go module proxy.
.PHONY: kubelet-load
kubelet-load:
	@if [ -x "$(DRAFAST_KUBELETLOAD)" ]; then \
	  echo "==> kubelet stand-in (grpc-go): reusing $(DRAFAST_KUBELETLOAD)"; \
	else \
	  echo "==> building the kubelet stand-in (grpc-go, k8s.io/kubelet DRA client) -> $(DRAFAST_KUBELETLOAD)"; \
	  command -v go >/dev/null || { echo "kubelet-load: 'go' not found in PATH"; exit 1; }; \
	  mkdir -p "$(dir $(DRAFAST_KUBELETLOAD))"; \
	  cd python/drafast/testing/kubeletload && GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-buildvcs=false \
	    go build -trimpath -mod=readonly -o "$(DRAFAST_KUBELETLOAD).tmp" . ; \
	  mv "$(DRAFAST_KUBELETLOAD).tmp" "$(DRAFAST_KUBELETLOAD)"; \
	fi

NODE ?= 0
.PHONY: cluster
cluster: setup cluster-bins $(if $(filter 1,$(NODE)),node-bins)
ifeq ($(NODE),1)
	$(PY) -m drafast.testing.cluster.node
else
	$(PY) -m drafast.testing.cluster.controlplane
endif

.PHONY: check
check: lint kubelet-load
	@echo "==> cargo test"
	cargo test --workspace --locked --quiet
	@echo "==> pytest (unit, native, integration: real sockets, no cluster)"
	$(PY) -m pytest -q tests/unit tests/native tests/integration

.PHONY: test
test: lint cluster-bins node-bins helm-bin kubelet-load
	@echo "==> cargo test"
	cargo test --workspace --locked --quiet
	@echo "==> pytest (unit, native, integration, e2e against a real control plane and a real node)"
	$(PY) -m pytest -q tests

# The Go reference DRA driver for the side-by-side benchmark (sigs.k8s.io/dra-example-driver's
# kubelet plugin; version: tools/versions.env), built from the Go module proxy into the cache.
.PHONY: reference-driver
reference-driver:
	@echo "==> the Go reference DRA driver (dra-example-driver, version: tools/versions.env) -> $(CACHE_DIR)"
	bash tools/reference-driver.sh

.PHONY: bench
bench: setup cluster-bins node-bins kubelet-load reference-driver
	@echo "==> benchmarks (pytest-benchmark; every benchmark also checks its result)"
	@mkdir -p bench-results
	$(PY) -m pytest benches -q -p no:randomly --benchmark-json=bench-results/benchmarks.json
	$(PY) benches/report.py bench-results/benchmarks.json | tee bench-results/table.md
	@echo "==> drafast side by side with the Go reference driver (benches/test_reference_driver.py)"
	$(PY) benches/reference_report.py bench-results/reference.json | tee bench-results/reference.md
	@echo "==> gRPC's cost per no-op call: grpc-go, grpc.aio, drafast (benches/test_grpc_floor.py)"
	cat bench-results/grpc_floor.md

.PHONY: clean
clean:
	rm -rf $(VENV) bench-results .pytest_cache .mypy_cache .ruff_cache
