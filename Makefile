# Mandi: one command to run the platform, one to test it. Every target that needs the
# environment depends on `setup`, which is idempotent (a stamp file tracks the requirements).
SHELL := /bin/bash
PY_SYS ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.mandi-setup
PROTOS := $(wildcard proto/mandi/v1/*.proto)
SERVICES := kitesim history marketdata strategy execution gateway

.PHONY: setup proto run smoke test test-unit test-integration test-e2e lint bench lock clean

setup: $(STAMP)

$(STAMP): requirements.txt requirements-test.txt pyproject.toml
	@command -v $(PY_SYS) >/dev/null || PY_SYS=python3; \
	  [ -x $(PY) ] || $$(command -v $(PY_SYS) || command -v python3) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -r requirements-test.txt
	$(MAKE) --no-print-directory proto
	@touch $(STAMP)

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

test: setup
	@scripts/ensure_services.sh
	$(PY) -m pytest -q -p no:cacheprovider tests

lint: setup
	$(VENV)/bin/ruff check .

bench: setup
	@scripts/ensure_services.sh
	@found=0; for f in bench/bench_*.py; do \
	  [ -e "$$f" ] || continue; found=1; echo "== $$f"; $(PY) "$$f" || exit 1; done; \
	  [ $$found = 1 ] || echo "bench: nothing in bench/ yet"

# Re-resolve the pinned requirements from requirements.in in a throwaway venv.
lock:
	rm -rf /tmp/mandi-lock && $(PY_SYS) -m venv /tmp/mandi-lock
	/tmp/mandi-lock/bin/pip install --quiet -r requirements.in
	{ echo "# Pinned from requirements.in (make lock). Do not edit by hand."; \
	  /tmp/mandi-lock/bin/pip freeze; } > requirements.txt

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
