# TPFGo: two commands. `make run` serves the monolith on :8000; `make test` is everything CI checks.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
# Reinstall only when a requirements file is newer than the last successful install.
STAMP := $(VENV)/.requirements.stamp
VAR_DIR := $(abspath $(or $(TPFGO_VAR_DIR),var))

# The database `make test` runs the suite on. The default is SQLite (pytest-django makes an in-memory test database).
# CI runs the same target on PostgreSQL:
#   make test TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres TEST_DATABASE_NAME=tpfgo_ci_42 PYTEST_ARGS=--create-db
TEST_DATABASE_URL ?= sqlite:///$(VAR_DIR)/test/tpfgo.sqlite3
TEST_DATABASE_NAME ?=
PYTEST_ARGS ?=
# `manage.py check --database` and `makemigrations --check` need a migrated database: a throwaway SQLite file.
CHECK_DB := $(VAR_DIR)/check/tpfgo.sqlite3
MYPY_PACKAGES := pipelines checkout search tpfgo_site opsconsole access ftgo

.PHONY: help venv run cluster test lint checks docs pytest protos protos-check clean bench

help:
	@echo "make run     venv, install, migrate, bootstrap, then serve http://127.0.0.1:$${PORT:-8000}/ (gunicorn, gRPC, Celery)"
	@echo "make cluster WEB_NODES web nodes, worker nodes per queue group, beat candidates (PostgreSQL + Redis/RabbitMQ)"
	@echo "make test    venv, install, ruff, mypy, import contracts, protos-check, check_contracts, manage.py check,"
	@echo "             makemigrations --check, the OpenAPI schema, mkdocs --strict, pytest"
	@echo "make lint | checks | docs | pytest | protos | protos-check | clean"
	@echo "make bench   SQLite and PostgreSQL vs the raw-SQL floor and DBOS (docs/performance.md); BENCH_ARGS=--quick"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# pip prints one line per package it collects and installs (a first install takes about a minute), then the time.
$(STAMP): requirements.txt requirements-dev.txt | $(BIN)/python
	@echo "install: requirements-dev.txt into $(VENV) (only when a requirements file changed)"
	@started=$$(date +%s); \
		$(BIN)/python -m pip install --disable-pip-version-check --progress-bar off -r requirements-dev.txt \
		| { grep -v '^Requirement already satisfied' || true; }; \
		echo "install: done in $$(( $$(date +%s) - started )) s"
	touch $@

venv: $(STAMP)

run: venv
	VENV=$(VENV) bin/run

# Several nodes on this machine (README "Several nodes"): needs DATABASE_URL (PostgreSQL) and CELERY_BROKER_URL.
cluster: venv
	VENV=$(VENV) bin/cluster

# Lint first (cheapest), then Django's own checks, the docs, and the suite. pytest's exit 5 ("no tests
# collected") is a non-zero status like any other, so it fails the build: never mask it.
test: lint protos-check checks docs pytest

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy $(MYPY_PACKAGES)
	$(BIN)/python bin/any_share $(MYPY_PACKAGES)
	$(BIN)/lint-imports

checks: venv
	$(BIN)/python manage.py check_contracts
	rm -f $(CHECK_DB) $(CHECK_DB)-wal $(CHECK_DB)-shm
	mkdir -p $(dir $(CHECK_DB))
	DATABASE_URL=sqlite:///$(CHECK_DB) $(BIN)/python manage.py check --fail-level WARNING
	DATABASE_URL=sqlite:///$(CHECK_DB) $(BIN)/python manage.py migrate --noinput -v 0
	DATABASE_URL=sqlite:///$(CHECK_DB) $(BIN)/python manage.py check --database default --fail-level WARNING
	DATABASE_URL=sqlite:///$(CHECK_DB) $(BIN)/python manage.py makemigrations --check --dry-run
	DATABASE_URL=sqlite:///$(CHECK_DB) $(BIN)/python manage.py makemigrations --check --dry-run --settings tests.settings
	DATABASE_URL=sqlite:///$(CHECK_DB) $(BIN)/python manage.py spectacular --validate --fail-on-warn --file $(dir $(CHECK_DB))openapi.yaml

# No --quiet: it hides the warnings that --strict counts, and the build then passes.
docs: venv
	$(BIN)/mkdocs build --strict

pytest: venv
	mkdir -p $(VAR_DIR)/test
	DATABASE_URL='$(TEST_DATABASE_URL)' $(if $(TEST_DATABASE_NAME),TEST_DATABASE_NAME='$(TEST_DATABASE_NAME)') \
		$(BIN)/pytest $(PYTEST_ARGS)

# Generated gRPC code is committed; `protos` regenerates it, `protos-check` fails when it is stale.
protos: venv
	VENV=$(VENV) bin/protos

protos-check: venv
	VENV=$(VENV) bin/protos --check

clean:
	rm -rf $(VAR_DIR)/check $(VAR_DIR)/test site .mypy_cache .ruff_cache .pytest_cache

# Benchmarks (never part of `make test`): DBOS comes from requirements-bench.txt in its own venv, so the
# project's pins stay untouched. PostgreSQL from BENCH_PG_URL (default postgres://postgres@127.0.0.1:5432/postgres).
BENCH_VENV ?= .venv-bench
BENCH_ARGS ?=

$(BENCH_VENV)/.stamp: requirements-bench.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --disable-pip-version-check --progress-bar off -q -r requirements-bench.txt
	touch $@

bench: venv $(BENCH_VENV)/.stamp
	$(BIN)/python -m bench $(BENCH_ARGS)
