# The two commands a newcomer needs: `make run` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
NODE_DIR := tests/conformance/node

.PHONY: run dev test lint typecheck unit bench fuzz install node-deps migrate clean

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

install: $(VENV)/.installed

$(NODE_DIR)/node_modules/.installed: $(NODE_DIR)/package-lock.json
	cd $(NODE_DIR) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

node-deps: $(NODE_DIR)/node_modules/.installed

migrate: install
	$(VENV)/bin/wirechat migrate

run: migrate
	$(VENV)/bin/wirechat serve

dev: migrate
	$(VENV)/bin/wirechat dev

lint: install
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

typecheck: install
	$(VENV)/bin/mypy

unit: install
	$(PY) -m pytest tests/rpc -q

test: install node-deps lint typecheck
	$(PY) -m pytest

# 100,000 fuzz cases in all: 25,000 per transport (HTTP, WebSocket) and database.
fuzz: install
	FUZZ_EXAMPLES=25000 $(PY) -m pytest tests/integration/test_fuzz.py -q -s

bench: install
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) $(NODE_DIR)/node_modules data .mypy_cache .ruff_cache .pytest_cache
