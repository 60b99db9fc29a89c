# Two entry points: `make demo` and `make test`. Both set up what they need.
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
PYTHON ?= python3
DEMO_DB ?= sqlite:///demo.db

.PHONY: demo test lint typecheck pytest setup node system-deps clean bench

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

node_modules/.installed: package.json package-lock.json
	@if command -v npm >/dev/null; then npm ci --no-audit --no-fund --loglevel=error && touch $@; \
	else echo "npm not found: card rendering, manifest and end-to-end tests need Node.js"; fi

setup: $(VENV)/.installed

node: node_modules/.installed

# Debian packages the test suite needs (headless Chromium for rendering and the e2e test).
system-deps:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium missing: run 'sudo apt-get install chromium'"; fi; }

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy

pytest: setup node system-deps
	$(BIN)/pytest -q

test: lint typecheck pytest

demo: setup node
	$(BIN)/whoknows demo --db $(DEMO_DB)

bench: setup
	$(PY) bench/import_speed.py
	$(PY) bench/query.py
	$(PY) -m bench.turns

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache
