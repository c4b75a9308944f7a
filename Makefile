# The two commands: `make run` and `make test`. Everything else is for developers and operators.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
GUNICORN := $(BIN)/gunicorn -c deploy/gunicorn.conf.py
# make cluster: N processes on CLUSTER_PORT+1..CLUSTER_PORT+N behind nginx on CLUSTER_PORT.
N ?= 2
# MEDIA=1: one more process, after those, that nginx sends /api/attachments to (docs/scaling.md).
MEDIA ?= 0
CLUSTER_PORT ?= 8000
CLUSTER := $(BIN)/python deploy/cluster.py --run-dir run/cluster

.PHONY: run test lint format install install-dev browser nginx bench cluster cluster-restart cluster-status cluster-stop clean

$(BIN)/.installed: requirements.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(BIN)/.installed-dev: requirements-dev.txt $(BIN)/.installed
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(BIN)/.installed
install-dev: $(BIN)/.installed-dev

## run: install into .venv, apply migrations, serve on http://127.0.0.1:5000 (SQLite in instance/)
run: install
	$(BIN)/flask --app app db upgrade
	$(GUNICORN) -b $(HOST):$(PORT) 'app:create_app()'

## browser: Debian's Chromium for the browser tests (installed as root when missing)
browser:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q chromium; \
	  else echo "chromium is missing: run 'sudo apt-get install -y chromium'"; exit 1; fi; }

## nginx: Debian's nginx for `make cluster` and the cluster tests (installed as root when missing)
nginx:
	@command -v nginx >/dev/null || test -x /usr/sbin/nginx || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx; \
	  else echo "nginx is missing: run 'sudo apt-get install -y nginx'"; exit 1; fi; }

## cluster: N (default 2) processes + nginx on http://127.0.0.1:8000, PostgreSQL and Redis shared
cluster: install nginx
	$(CLUSTER) up -n $(N) --media $(MEDIA) --port $(CLUSTER_PORT)

## cluster-restart: rolling restart, one process at a time, no message lost
cluster-restart: install
	$(CLUSTER) restart

cluster-status: install
	$(CLUSTER) status

cluster-stop: install
	$(CLUSTER) down

## test: lint, then the whole suite on SQLite and PostgreSQL, with real servers and Chromium
test: install-dev browser nginx
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest

lint: install-dev
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: install-dev
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

## bench: the benchmark of docs/performance.md; `make bench BENCH_ARGS=--quick` for a smoke run
bench/node_modules/.package-lock.json: bench/package-lock.json
	cd bench && npm ci --no-audit --no-fund

bench: install-dev bench/node_modules/.package-lock.json
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache test-artifacts bench/results
