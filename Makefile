# The two commands a newcomer needs: `make run` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
NODE_DIR := tests/conformance/node
# The first 11.x client, which the conformance suite also runs (test_node_client.py).
NODE_11_0_DIR := tests/conformance/node-11.0
# TypeScript and the front-end libraries that type-check the generated AppRouter.
TS_DIR := tests/typescript

.PHONY: run dev test lint typecheck unit bench install node-deps migrate clean

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

install: $(VENV)/.installed

$(NODE_DIR)/node_modules/.installed: $(NODE_DIR)/package-lock.json
	cd $(NODE_DIR) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(NODE_11_0_DIR)/node_modules/.installed: $(NODE_11_0_DIR)/package-lock.json
	cd $(NODE_11_0_DIR) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(TS_DIR)/node_modules/.installed: $(TS_DIR)/package-lock.json
	cd $(TS_DIR) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

node-deps: $(NODE_DIR)/node_modules/.installed $(NODE_11_0_DIR)/node_modules/.installed \
	$(TS_DIR)/node_modules/.installed

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

bench: install
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) $(NODE_DIR)/node_modules $(NODE_11_0_DIR)/node_modules $(TS_DIR)/node_modules \
		data .mypy_cache .ruff_cache .pytest_cache
