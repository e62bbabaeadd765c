# The commands a person runs; .ci/run calls `make test` exactly as README says.
VENV   ?= .venv
PYTHON ?= python3
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed-stamp

.PHONY: demo test test-fast lint types pytest bench serve bundle clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)           ## a throwaway vendor + instance + demo pool, served on :8080
	$(BIN)/lls demo

serve: $(STAMP)          ## serve the instance in ./lls-data (after `lls init`)
	$(BIN)/lls serve

lint: $(STAMP)
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples

types: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest --cov --cov-report=term:skip-covered

test: lint types pytest  ## everything CI runs

# The fast tier: every test but those that start lls in processes of their own, drive a
# browser or need root (marker e2e: tests/e2e, tests/faults) and those that wait seconds
# on the wall clock (marker realtime). Under a minute; `make test` stays the whole suite.
# Spread over the machine's cores (pytest-xdist), whole files per worker so module fixtures
# stay one per file.
test-fast: $(STAMP)      ## the in-process tests on SQLite (no e2e, realtime or postgres); no lint, no mypy
	$(BIN)/pytest -q -m "not e2e and not realtime and not postgres" -n auto --dist loadfile

bundle: $(STAMP)         ## dist/lls-<version>-offline.tar.gz for an air-gapped host (BUNDLE_TARGET=… for another)
	PYTHON=$(BIN)/python DIST=$(or $(DIST),dist) BUNDLE_TARGET="$(BUNDLE_TARGET)" bash packaging/bundle.sh

bench: $(STAMP)          ## the load benchmark (needs wrk: apt-get install wrk)
	$(BIN)/python bench/run_load.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage
