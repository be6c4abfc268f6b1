# The two commands a newcomer needs: `make run` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
NODE_DIR := tests/conformance/node
BASELINE_DIR := bench/baseline-node
# The first 11.x client, which the conformance suite also runs (test_node_client.py).
NODE_11_0_DIR := tests/conformance/node-11.0
# TypeScript and the front-end libraries that type-check the generated AppRouter.
TS_DIR := tests/typescript
WEB_DIR := web
# Everything the page's build reads: a change to any of them rebuilds web/dist.
WEB_SOURCES := $(wildcard $(WEB_DIR)/index.html $(WEB_DIR)/vite.config.ts $(WEB_DIR)/tsconfig.json \
	$(WEB_DIR)/src/*.ts $(WEB_DIR)/src/*.tsx $(WEB_DIR)/src/*.css $(WEB_DIR)/src/*/*.tsx \
	clients/ts/app-router.d.ts)

.PHONY: run dev test lint typecheck unit bench fuzz install node-deps web-deps web web-if-node \
	web-dev migrate clean

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

install: $(VENV)/.installed

$(NODE_DIR)/node_modules/.installed: $(NODE_DIR)/package-lock.json
	cd $(NODE_DIR) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The Node baseline server: the client suite runs against it as well as against wirechat.
$(BASELINE_DIR)/node_modules/.installed: $(BASELINE_DIR)/package-lock.json
	cd $(BASELINE_DIR) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(NODE_11_0_DIR)/node_modules/.installed: $(NODE_11_0_DIR)/package-lock.json
	cd $(NODE_11_0_DIR) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(TS_DIR)/node_modules/.installed: $(TS_DIR)/package-lock.json
	cd $(TS_DIR) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

node-deps: $(NODE_DIR)/node_modules/.installed $(NODE_11_0_DIR)/node_modules/.installed \
	$(TS_DIR)/node_modules/.installed $(BASELINE_DIR)/node_modules/.installed

$(WEB_DIR)/node_modules/.installed: $(WEB_DIR)/package-lock.json
	cd $(WEB_DIR) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

web-deps: $(WEB_DIR)/node_modules/.installed

$(WEB_DIR)/dist/index.html: $(WEB_DIR)/node_modules/.installed $(WEB_SOURCES)
	cd $(WEB_DIR) && npm run --silent build

# The chat page (web/dist, served at / by `wirechat serve`); up to date means no work.
web: $(WEB_DIR)/dist/index.html

# `make run` must work without Node.js: then, or when the build fails, only the API runs.
web-if-node:
	@if command -v npm >/dev/null 2>&1; then \
		$(MAKE) --no-print-directory web || echo "chat page: build failed (above); serving the API only"; \
	else \
		echo "chat page: Node.js not found, so web/ is not built; serving the API only"; \
	fi

# Vite's dev server on :5173 with hot reload, against `make run` (API :3000, WebSocket :3001).
web-dev: web-deps
	cd $(WEB_DIR) && npx vite

migrate: install
	$(VENV)/bin/wirechat migrate

run: migrate web-if-node
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

# Most of the suite waits on servers, sockets and timers, so two worker processes on two
# cores take about 60% of the serial time; a file's tests stay together on one worker
# (they share its servers). PYTEST_WORKERS=0 runs them in this process, one by one.
PYTEST_WORKERS ?= 2

test: install node-deps web-deps lint typecheck
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile

# 100,000 fuzz cases in all: 25,000 per transport (HTTP, WebSocket) and database.
fuzz: install
	FUZZ_EXAMPLES=25000 $(PY) -m pytest tests/integration/test_fuzz.py -q -s

bench: install
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) $(NODE_DIR)/node_modules $(NODE_11_0_DIR)/node_modules $(TS_DIR)/node_modules \
		$(BASELINE_DIR)/node_modules $(WEB_DIR)/node_modules $(WEB_DIR)/dist data .mypy_cache \
		.ruff_cache .pytest_cache
