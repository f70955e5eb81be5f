# Mandi: one command to run the platform, one to test it. Every target that needs the
# environment depends on `setup`, which is idempotent (a stamp file tracks the requirements).
SHELL := /bin/bash
PY_SYS ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.mandi-setup
PROTOS := $(wildcard proto/mandi/v1/*.proto)
SERVICES := kitesim history marketdata strategy execution gateway

.PHONY: setup proto run smoke fuzz test chaos soak lint bench lock clean kind-up kind-down observability chromium
WEB_DEPS := web/node_modules/.mandi-npm-ci
WEB_BUILT := web/build/.mandi-built
WEB_SOURCES := $(shell find web/src web/static -type f 2>/dev/null) web/package.json \
  web/svelte.config.js web/vite.config.ts web/tsconfig.json

setup: $(STAMP) $(WEB_BUILT) chromium

$(STAMP): requirements.txt requirements-test.txt pyproject.toml
	@command -v $(PY_SYS) >/dev/null || PY_SYS=python3; \
	  [ -x $(PY) ] || $$(command -v $(PY_SYS) || command -v python3) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -r requirements-test.txt
	$(MAKE) --no-print-directory proto
	@touch $(STAMP)

# The web UI (web/): packages from the committed lock (again only when it changes), then the
# static build the gateway serves at / (again only when a source changes).
$(WEB_DEPS): web/package-lock.json
	cd web && npm ci --no-audit --no-fund
	@touch $(WEB_DEPS)

$(WEB_BUILT): $(WEB_DEPS) $(WEB_SOURCES)
	cd web && npm run build
	@touch $(WEB_BUILT)

# Debian's Chromium for the browser tests (a no-op once /usr/bin/chromium exists).
chromium:
	@scripts/install_chromium.sh

# Generated stubs are committed; this regenerates them with the pinned grpcio-tools.
proto:
	$(PY) -m grpc_tools.protoc -I proto --python_out=. --pyi_out=. --grpc_python_out=. $(PROTOS)

run: setup
	@scripts/ensure_services.sh
	$(PY) -m scripts.supervisor

# Start the whole platform, wait for every service to report SERVING, then stop it.
smoke: setup
	@scripts/ensure_services.sh
	$(PY) -m scripts.smoke

# Every route of the API fuzzed from its OpenAPI document as four identities, 30 generated
# requests per operation and identity (over 10,000): no 5xx, no write by a refused request.
fuzz: setup
	@scripts/ensure_services.sh
	$(PY) -m mandi.testing.api_fuzz --examples 30

# `setup` regenerates mandi/v1 (make proto), so a test comparing protoc's output with the
# working tree would compare protoc with itself. In a git checkout the regenerated stubs must
# therefore equal the committed (or staged) ones, checked before any test runs.
test: setup
	@if git rev-parse --is-inside-work-tree >/dev/null 2>&1 && \
	  { ! git diff --quiet -- mandi/v1 || [ -n "$$(git ls-files --others --exclude-standard -- mandi/v1)" ]; }; then \
	  echo "make test: mandi/v1 differs from what protoc generates from proto/ (stale or" \
	    "hand-edited stubs); commit the output of 'make proto':" >&2; \
	  git status --short -- mandi/v1 >&2; exit 1; fi
	@scripts/ensure_services.sh
	@scripts/ensure_prometheus.sh
	$(PY) -m pytest -q -p no:cacheprovider -n 2 --dist loadgroup --durations=25 tests

# The reliability suite's long versions (RELIABILITY.md): tests/fault with MANDI_CHAOS_REPEAT
# (default 10): 200 SIGKILLs of execution, 1,000 intents from three replicas, Redis down 60 s,
# PostgreSQL down 30 s. `make test` runs the same tests short (20 kills, 60 intents, 3 s / 2 s).
CHAOS_REPEAT ?= 10
chaos: setup
	@scripts/ensure_services.sh
	MANDI_CHAOS_REPEAT=$(CHAOS_REPEAT) $(PY) -m pytest -q -p no:cacheprovider -s tests/fault \
	  | tee /tmp/mandi-chaos.log | grep -E '^\[fault\]|passed|failed|error'; \
	  exit $${PIPESTATUS[0]}
	$(MAKE) --no-print-directory soak

# A replayed trading day at 60x with 50 bots, 500 instruments streaming and the UI's WebSockets
# connected (~8 min): RSS of every process flat (±10 %) after warm-up, no growing queue, no
# ERROR in the logs (mandi/testing/soak.py).
soak: setup
	@scripts/ensure_services.sh
	$(PY) -m mandi.testing.soak

lint: setup
	$(VENV)/bin/ruff check .

BENCH_STAMP := $(VENV)/.mandi-bench

$(BENCH_STAMP): requirements-bench.txt $(STAMP)
	$(PY) -m pip install --quiet -r requirements-bench.txt
	@touch $(BENCH_STAMP)

bench: setup $(BENCH_STAMP)
	@scripts/ensure_services.sh
	@found=0; for f in bench/bench_*.py; do \
	  [ -e "$$f" ] || continue; found=1; echo "== $$f"; $(PY) "$$f" || exit 1; done; \
	  [ $$found = 1 ] || echo "bench: nothing in bench/ yet"

# Dashboards, alerts and traces against the running platform (~45 s): a real Prometheus scrapes
# every service while traffic runs; every panel's PromQL must return a series, killing a service
# must fire MandiServiceDown, a REST order must arrive as one trace at a local OTLP receiver.
observability: setup
	@scripts/ensure_services.sh
	@scripts/ensure_prometheus.sh
	MANDI_OBSERVABILITY_LIVE=1 $(PY) -m pytest -q -p no:cacheprovider tests/deploy/test_observability_live.py

# A local Kubernetes cluster running Mandi (needs Docker and kind; not run in CI): build the image,
# load it into kind, install CloudNativePG and the chart, port-forward the UI to :5000.
kind-up: setup
	deploy/kind/up.sh

kind-down:
	kind delete cluster --name mandi

# Re-resolve the pinned requirements from the .in files in a throwaway venv: runtime first,
# then the test and bench extras as what each adds on top.
LOCK := /tmp/mandi-lock
lock:
	rm -rf $(LOCK) && $(PY_SYS) -m venv $(LOCK)
	$(LOCK)/bin/pip install --quiet -r requirements.in && $(LOCK)/bin/pip freeze | sort > $(LOCK)/rt
	$(LOCK)/bin/pip install --quiet -r requirements-test.in && $(LOCK)/bin/pip freeze | sort > $(LOCK)/test
	$(LOCK)/bin/pip install --quiet -r requirements-bench.in && $(LOCK)/bin/pip freeze | sort > $(LOCK)/bench
	{ echo "# Pinned from requirements.in (make lock). Do not edit by hand."; cat $(LOCK)/rt; } > requirements.txt
	{ echo "# Pinned test extras (make lock)."; comm -13 $(LOCK)/rt $(LOCK)/test; } > requirements-test.txt
	{ echo "# Pinned bench extras (make lock)."; comm -13 $(LOCK)/test $(LOCK)/bench; } > requirements-bench.txt

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache web/node_modules web/build web/.svelte-kit
