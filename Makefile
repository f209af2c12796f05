# Contrail: `make demo` brings up the local stack and runs the example;
# `make test` runs lint and every test against that same stack.

CONTRAIL_CACHE_DIR ?= $(HOME)/.cache/contrail
export CONTRAIL_CACHE_DIR
export UV_CACHE_DIR ?= $(CONTRAIL_CACHE_DIR)/uv
export PIP_CACHE_DIR ?= $(CONTRAIL_CACHE_DIR)/pip
UV_HOME := $(CONTRAIL_CACHE_DIR)/tools/uv
UV := $(UV_HOME)/bin/uv
PYTHON ?= python3
VENV := .venv
CONTRAIL := $(VENV)/bin/contrail
PY_SOURCES := $(wildcard contrail shared services tests bench examples)

.PHONY: install demo up down status logs test lint format unit integration clean env

$(UV):
	$(PYTHON) -m venv $(UV_HOME)
	$(UV_HOME)/bin/pip install --quiet uv

$(VENV)/.installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --quiet
	touch $@

install: $(VENV)/.installed

demo: install
	$(CONTRAIL) demo up
	$(CONTRAIL) demo example

up: install
	$(CONTRAIL) demo up

down: install
	$(CONTRAIL) demo down

status: install
	$(CONTRAIL) demo status

logs: install
	$(CONTRAIL) demo logs

lint: install
	$(VENV)/bin/ruff check $(PY_SOURCES)
	$(VENV)/bin/ruff format --check $(PY_SOURCES)
	$(VENV)/bin/mypy contrail shared services tests bench

format: install
	$(VENV)/bin/ruff check --fix $(PY_SOURCES)
	$(VENV)/bin/ruff format $(PY_SOURCES)

# docker-compose.yml's .env: random passwords, keys and API tokens, mode 0600; existing values kept, missing ones added.
env:
	$(PYTHON) deploy/compose/make_env.py .env

unit: install
	$(VENV)/bin/pytest tests/unit -q

# Lint, every test, then no password, key or token of the stack in its logs.
test: lint
	$(VENV)/bin/pytest -q
	$(VENV)/bin/python -m tests.log_secrets

clean: down
	rm -rf .contrail
