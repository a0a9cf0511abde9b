# dlog — every target installs what it needs, so `make run` and `make test` work on a fresh machine.
SHELL := /bin/bash
TOOLS := $(CURDIR)/.tools
GRPCURL := $(TOOLS)/bin/grpcurl
NODE_BIN := node_modules/.bin
export PATH := $(TOOLS)/bin:$(PATH)

.PHONY: all deps proto build run cluster test test-unit test-integration bench lint format clean

all: build

# --ignore-scripts: nothing here needs an install script (classic-level ships
# prebuilt binaries), and some try to download or compile.
node_modules/.installed: package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund
	touch $@

$(GRPCURL):
	GOBIN=$(TOOLS)/bin go install github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.4

# nats-server for the JetStream storage (--storage nats://...), its tests and the bench's NATS peer. Built
# from the Go module proxy at a pinned release: Debian's 2.9 fsyncs only every 60 s and lacks what the
# JetStream storage needs. The stamp names the version, so changing it rebuilds.
NATS_SERVER_VERSION := v2.15.2
NATS_SERVER := $(TOOLS)/nats-server-$(NATS_SERVER_VERSION).stamp

$(NATS_SERVER):
	GOBIN=$(TOOLS)/bin go install github.com/nats-io/nats-server/v2@$(NATS_SERVER_VERSION)
	touch $@

deps: node_modules/.installed

proto: node_modules/.installed
	rm -rf src/gen clients/typescript/src/gen
	$(NODE_BIN)/buf lint
	# The v1 contract is frozen: additions are fine, an accidental rename or removal fails the build.
	$(NODE_BIN)/buf breaking --against test/contract/dlog-v1.json
	$(NODE_BIN)/buf generate
	$(NODE_BIN)/buf generate --template clients/typescript/buf.gen.yaml
	mkdir -p dist
	$(NODE_BIN)/buf build --as-file-descriptor-set -o dist/descriptor.binpb

build: proto
	$(NODE_BIN)/tsc -p tsconfig.json

run: build
	bin/dlogd.js --listen $${DLOG_LISTEN:-127.0.0.1:7070} --data-dir $${DLOG_DATA_DIR:-./data}

# 3 nats-server nodes (R3, sync_interval always) and 2 dlogd gateways on loopback until Ctrl-C:
# scripts/cluster.ts, on the harness the fault tests in test/cluster use.
cluster: build $(NATS_SERVER)
	node dist/scripts/cluster.js

# Unit tests: test/unit, no server, no network. Integration tests: every other node test (the
# TypeScript client's among them, some of which install its packed tarball), against real servers
# on loopback; a new folder under test/ lands here.
NODE_TESTS = find dist/test dist/clients -name '*.test.js' | sort
UNIT_PATHS := ^dist/test/unit/
NODE_TEST := node --test --test-reporter=spec

test-unit: build
	$(NODE_TEST) $$($(NODE_TESTS) | grep -E '$(UNIT_PATHS)')

# The log-service, session and idempotent-append (kill -9 mid-append) integration tests once more on `--storage nats://` (DLOG_TEST_STORAGE=nats:
# test/helpers/dlogd.ts starts one nats-server per test file): the same behaviour on JetStream.
NATS_STORAGE_TESTS := log-service sessions-delivery sessions-resume idempotent-append

test-integration: build $(GRPCURL) $(NATS_SERVER) ts-client
	$(NODE_TEST) $$($(NODE_TESTS) | grep -vE '$(UNIT_PATHS)')
	DLOG_TEST_STORAGE=nats $(NODE_TEST) $(NATS_STORAGE_TESTS:%=dist/test/integration/%.test.js)

test: test-unit test-integration

# The peers need nats-server (the pinned build above, first on PATH) and redis-server (a Debian package,
# installed only when missing; without it its rows say "skipped"). `make bench BENCH_ARGS=--quick` for a
# ~1-2 minute run.
bench: build $(NATS_SERVER)
	@if ! command -v redis-server >/dev/null; then \
		apt-get update && apt-get install -y redis-server \
			|| echo "bench: could not install redis-server; its rows will be skipped" >&2; \
	fi
	node dist/bench/run.js $(BENCH_ARGS)

# Biome (pinned in package.json) lints the TypeScript with its recommended rules; biome.json turns
# off three that fight how this code is written on purpose (noNonNullAssertion: `!` after an index
# noUncheckedIndexedAccess cannot see through; noImplicitAnyLet: tsc types such lets from their
# assignments; noAssignInExpressions: `(out += chunk)` arrow bodies). `biome check` also fails on a
# file its formatter (biome.json: 2 spaces, 160 columns) would change: `make format` rewrites them.
# Warnings are shown, only errors fail.
lint: proto
	$(NODE_BIN)/biome check
	$(NODE_BIN)/buf lint
	$(NODE_BIN)/tsc -p tsconfig.json --noEmit

format: node_modules/.installed
	$(NODE_BIN)/biome format --write

clean:
	rm -rf dist src/gen clients/typescript/dist clients/typescript/src/gen

# ---- Go client (clients/go) -------------------------------------------------------------------
# The generated code (clients/go/gen) is committed so that `go get` works; go-gen-check, part of
# `make test`, regenerates it into a temp dir and fails when the committed copy is stale.
PROTOC_GEN_GO_VERSION := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.6.2
GO_PLUGINS := $(TOOLS)/go-plugins-$(PROTOC_GEN_GO_VERSION)-$(PROTOC_GEN_GO_GRPC_VERSION).stamp

.PHONY: go-gen go-gen-check test-go bench-go

$(GO_PLUGINS):
	GOBIN=$(TOOLS)/bin go install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	GOBIN=$(TOOLS)/bin go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)
	touch $@

go-gen: node_modules/.installed $(GO_PLUGINS)
	rm -rf clients/go/gen
	$(NODE_BIN)/buf generate --template buf.gen.go.yaml

go-gen-check: node_modules/.installed $(GO_PLUGINS)
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(NODE_BIN)/buf generate --template buf.gen.go.yaml -o "$$tmp" && \
	diff -r "$$tmp/clients/go/gen" clients/go/gen \
		|| { echo "clients/go/gen is stale: run 'make go-gen' and commit it" >&2; exit 1; }

test-go: build go-gen-check
	@cd clients/go && unformatted=$$(gofmt -l .) && test -z "$$unformatted" \
		|| { echo "gofmt needed: $$unformatted" >&2; exit 1; }
	cd clients/go && go vet ./... && DLOG_DLOGD=$(CURDIR)/bin/dlogd.js go test -race -count=1 ./...

test: test-go

# Deliver + ack and append throughput of the Go client against a dlogd it starts (see cmd/dlogbench).
bench-go: build
	cd clients/go && DLOG_DLOGD=$(CURDIR)/bin/dlogd.js go run ./cmd/dlogbench $(GO_BENCH_ARGS)
# ---- end of the Go client ---------------------------------------------------------------------

# ---- Java client (clients/java) -------------------------------------------------------------
# Maven Central artifacts are cached in .tools/m2 (ignored), so runs after the first need no network.
# The conformance tests start this checkout's dlogd; `make bench-java` measures the Java reader and appender.
MVN := mvn -B -q -Dmaven.repo.local=$(TOOLS)/m2 -f clients/java/pom.xml
.PHONY: test-java bench-java

test: test-java

test-java: build
	rm -rf clients/java/target/surefire-reports
	DLOG_DLOGD=$(CURDIR)/bin/dlogd.js $(MVN) test
	@# -q hides Surefire's summary: one line from its reports (steps marked @ExpectedToFail count as skipped).
	@cat clients/java/target/surefire-reports/TEST-*.xml | grep -o '<testsuite [^>]*' | \
		sed -E 's/.* tests="([0-9]+)" errors="([0-9]+)" skipped="([0-9]+)" failures="([0-9]+)".*/\1 \2 \3 \4/' | \
		awk '{t+=$$1; e+=$$2; s+=$$3; f+=$$4} END {printf "java: %d passed, %d failed, %d skipped\n", t-e-s-f, e+f, s}'

bench-java: build
	DLOG_DLOGD=$(CURDIR)/bin/dlogd.js $(MVN) test-compile exec:java -Dexec.classpathScope=test \
		-Dexec.mainClass=io.dlog.bench.JavaClientBench -Dexec.args="$(BENCH_JAVA_ARGS)"
# ---- end of the Java client -----------------------------------------------------------------

# ---- Python client (clients/python) ------------------------------------------------------------
# A venv under .tools/ with pinned tools (requirements-dev.txt); downloads cached in .tools/pip-cache.
PY_DIR := clients/python
PY_VENV := $(TOOLS)/python
PY := $(PY_VENV)/bin/python
PY_PIP := PIP_CACHE_DIR=$(TOOLS)/pip-cache PIP_DISABLE_PIP_VERSION_CHECK=1 $(PY) -m pip
PYTHON3 ?= python3

.PHONY: python-proto test-python test-python-install bench-python

$(PY_VENV)/.installed: $(PY_DIR)/requirements-dev.txt
	rm -rf $(PY_VENV)
	$(PYTHON3) -m venv $(PY_VENV)
	$(PY_PIP) install --quiet -r $(PY_DIR)/requirements-dev.txt
	touch $@

# Regenerates the committed clients/python/src/dlog/v1 from proto/ (grpcio-tools pinned above).
python-proto: $(PY_VENV)/.installed
	$(PY) $(PY_DIR)/scripts/generate_proto.py

# `pip install ./clients/python` in a fresh venv, as a user would: the dependency ranges resolve and it imports.
test-python-install: $(PY_VENV)/.installed
	rm -rf $(TOOLS)/python-install-check
	$(PYTHON3) -m venv $(TOOLS)/python-install-check
	PIP_CACHE_DIR=$(TOOLS)/pip-cache PIP_DISABLE_PIP_VERSION_CHECK=1 $(TOOLS)/python-install-check/bin/pip install --quiet ./$(PY_DIR)
	cd /tmp && $(TOOLS)/python-install-check/bin/python -c "import dlog, dlog.aio, dlog.testing; print('dlog', dlog.__version__, 'imports:', dlog.DLSN(1, 42, 0))"
	rm -rf $(TOOLS)/python-install-check $(PY_DIR)/build

# Fails when the generated code is stale; tests run against the installed (not editable) package.
test-python: build $(PY_VENV)/.installed test-python-install
	$(PY) $(PY_DIR)/scripts/generate_proto.py --check
	$(PY_PIP) install --quiet --no-deps --no-build-isolation --force-reinstall ./$(PY_DIR)
	rm -rf $(PY_DIR)/build
	cd $(PY_DIR) && DLOG_DLOGD=$(CURDIR)/bin/dlogd.js $(PY) -m pytest -q

test: test-python

# make bench runs every client's bench against its dlogd (bench/clients.ts): for Python, the venv and the
# package installed in it; Go and Java build their own (go run, mvn exec:java).
.PHONY: bench-python-deps
bench-python-deps: $(PY_VENV)/.installed
	$(PY_PIP) install --quiet --no-deps --no-build-isolation --force-reinstall ./$(PY_DIR)
	rm -rf $(PY_DIR)/build
bench: bench-python-deps

bench-python: build bench-python-deps
	DLOG_DLOGD=$(CURDIR)/bin/dlogd.js $(PY) $(PY_DIR)/bench/bench_client.py $(PY_BENCH_ARGS)
# ---- end of Python client ----------------------------------------------------------------------

# ---- TypeScript client package (clients/typescript: @dlog/client) -----------------------------
# Its own build (clients/typescript/tsconfig.json: exactOptionalPropertyTypes, noUnusedLocals) into
# clients/typescript/dist, packed by `npm pack` into .tools/ts-client/; the package test
# (clients/typescript/test/package.test.ts, part of `make test`) installs that tarball into a temp
# project, compiles the README's examples against it under the strictest settings and runs a reader.
TS_CLIENT_PACK := $(TOOLS)/ts-client
.PHONY: ts-client

ts-client: proto
	rm -rf clients/typescript/dist $(TS_CLIENT_PACK)
	$(NODE_BIN)/tsc -p clients/typescript/tsconfig.json
	mkdir -p $(TS_CLIENT_PACK)
	cd clients/typescript && npm pack --ignore-scripts --silent --pack-destination $(TS_CLIENT_PACK) >/dev/null
	@ls $(TS_CLIENT_PACK)/*.tgz

test: ts-client
# ---- end of the TypeScript client package -----------------------------------------------------

# ---- Reliability report (test/reliability) ----------------------------------------------------
# The suite at its big sizes (200 kill -9 cycles, 1000 sessions; `make test` runs 20 and 300) and
# the hostile-input table; every figure, then one summary line, last. RELIABILITY_ENV to resize.
RELIABILITY_ENV ?= DLOG_RELIABILITY_CYCLES=200 DLOG_RELIABILITY_SESSIONS=1000
.PHONY: reliability-report

reliability-report: build
	@out=$$(mktemp -d) && trap 'rm -rf "$$out"' EXIT && status=0 && \
	{ env DLOG_RELIABILITY_OUT="$$out" $(RELIABILITY_ENV) node --test --test-reporter=spec \
		$$(find dist/test/reliability -name '*.test.js' | sort) dist/test/reliability/bad-inputs.js || status=$$?; } && \
	node dist/test/reliability/report.js "$$out" && exit $$status
# ---- end of the reliability report ------------------------------------------------------------
