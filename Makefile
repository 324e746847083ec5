# The two commands of README: `make run` serves everything, `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
NODE_DIR := tests/node
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install install-dev node-sdk browser run demo test stop lint bench bench-rag bench-compare bench-wrk soak

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -r requirements.txt
	touch $@

install-dev: $(VENV)/.installed-dev

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

# Serves http://127.0.0.1:8000 (gunicorn) plus a Celery worker; Ctrl-C stops all it started.
run: install
	$(BIN)/python manage.py serve

# The same, against the bundled Workers AI emulator instead of Cloudflare (labelled as emulated).
demo: install
	$(BIN)/python manage.py serve --emulator

# The official openai Node SDK, at the versions tests/node/package-lock.json pins, for the tests that run it.
node-sdk: $(NODE_DIR)/node_modules/.installed

$(NODE_DIR)/node_modules/.installed: $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json
	@command -v npm >/dev/null || { echo "npm is missing: install Node.js (with npm), or the Node SDK tests fail"; exit 1; }
	npm ci --no-audit --no-fund --prefix $(NODE_DIR)
	touch $@

# The dashboard's browser test drives Debian's chromium (Playwright never downloads browsers here).
browser:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium; \
	  else echo "chromium is missing and this is not root: install Debian's chromium, or the browser test fails"; fi; }

# Everything, then the chat, completions, embeddings and responses tests once more with the seeded provider
# turned OpenAI-compatible (the emulator's OpenAI mode, through export_routes / import_routes).
test: install-dev lint browser node-sdk
	cd tests && ../$(BIN)/python -m pytest $(PYTEST_ARGS)
	cd tests && GATEWAY_TEST_UPSTREAM=openai ../$(BIN)/python -m pytest $(PYTEST_ARGS) gateway/chat gateway/completions gateway/embeddings gateway/responses

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

# Stops the embedded Postgres and Redis under DATA_DIR. While `make run`/`make demo` serves from the
# same DATA_DIR (DATA_DIR/serve.pid names a live process) it refuses, naming that process: stop it
# first (Ctrl-C in its terminal, or kill PID). A pid file left by a killed server is ignored.
stop:
	@test -x $(BIN)/python || { echo "nothing installed, nothing to stop"; exit 0; }; \
	$(BIN)/python -m config.embedded stop

# First the gateway beside LiteLLM's proxy and direct (bench/compare.py, as bench-compare), then the
# gateway's own figures (bench/run.py). Under 15 minutes on 2 cores.
bench: install-dev bench-wrk
	$(BIN)/python -m bench.compare
	$(BIN)/python -m bench.run

# The gateway beside LiteLLM's proxy (pinned, in a bench-only virtualenv) and direct, on one fake upstream
# in its own process (bench/fake_upstream.py), driven by wrk and bench/stream_load.py; bench/compare.py.
bench-compare: install-dev bench-wrk
	$(BIN)/python -m bench.compare

# wrk is Debian's package: installed here when root, else asked for.
bench-wrk:
	@command -v wrk >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk; \
	  else echo "wrk is missing and this is not root: install Debian's wrk (apt-get install wrk) for make bench"; exit 1; fi; }

# A bounded soak: mixed traffic, clients leaving streams, injected upstream faults; memory and
# connections before and after, the result appended to bench/results.md (bench/soak.py, SOAK_SECONDS).
soak: install-dev
	$(BIN)/python -m bench.soak

# RAG search: latency and recall@10 at 10k and 100k chunks on a database of its own (bench/rag_search.py).
bench-rag: install-dev
	$(BIN)/python -m bench.rag_search
