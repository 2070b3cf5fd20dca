# Skerry: firmware for edge boxes and the tower that manages them.
# `make help` lists the targets.

SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(PATH)
export CGO_ENABLED ?= 0

GOARCH_HOST := $(shell go env GOARCH 2>/dev/null || echo amd64)
BOARD ?= $(if $(filter arm64,$(GOARCH_HOST)),qemu-arm64,qemu-x86_64)
BOARDS := qemu-x86_64 qemu-arm64
OUT ?= $(CURDIR)/out
# Integration tests need root (loop devices, mounts); VM tests need the images.
ROOT := $(shell [ "$$(id -u)" = 0 ] && echo 1)

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: deps
deps: ## install what the build and tests need (Debian bookworm, uses apt-get)
	@ci/install-deps

.PHONY: run
run: deps image ## build the image for this machine's QEMU board and boot it beside a tower (out/run/tower), console on the terminal
	go run ./tools/vm -board $(BOARD) -out $(OUT)

.PHONY: image
image: ## build the site image for BOARD (default: this machine's QEMU board)
	go run ./tools/mkimage -board $(BOARD) -out $(OUT)

.PHONY: images
images: ## build the site images for every QEMU board
	@for b in $(BOARDS); do go run ./tools/mkimage -board $$b -out $(OUT) || exit 1; done

.PHONY: test
ifeq ($(ROOT),1)
test: deps check images ## the whole suite: unit, integration (as root) and VM tests on both arches
	SKERRY_OUT=$(OUT) SKERRY_VMTEST=1 SKERRY_INTEGRATION=1 \
		go test -timeout 75m ./... 2>&1 | tee $(OUT)/test.log; exit $${PIPESTATUS[0]}
else
# The integration tests need root (loop devices, mounts, cgroups, network
# namespaces): the whole suite runs as root, through sudo, or not at all.
test:
	@if sudo -n true 2>/dev/null; then \
		echo "make test: running the whole suite as root through sudo"; \
		exec sudo --preserve-env=PATH,HOME,GOPATH,GOCACHE,GOMODCACHE,GOFLAGS $(MAKE) test; \
	fi; \
	echo "make test: the whole suite needs root (integration tests use loop devices, mounts, cgroups and network namespaces)." >&2; \
	echo "  run it as root, or give this user passwordless sudo; 'make test-short' runs the unit tests without root." >&2; \
	exit 1
endif

.PHONY: test-short
test-short: ## the quick unit tests only (no root, no VM)
	go test -short ./...

# staticcheck, pinned: `go run` builds it once from the module proxy.
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: check
check: ## gofmt, go vet and staticcheck
	@mkdir -p $(OUT)
	@fmt=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$fmt" ]; then echo "gofmt needed: $$fmt"; exit 1; fi
	go vet ./...
	go run $(STATICCHECK) ./...

.PHONY: clean
clean: ## remove build output (keeps the download cache in out/cache)
	find $(OUT) -mindepth 1 -maxdepth 1 ! -name cache -exec rm -rf {} +
