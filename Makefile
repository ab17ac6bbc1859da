# flowtide — the classic ML Makefile. Every target creates and reuses .venv itself.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
EXTRAS := all,dev
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?= -n auto

# Some environments set this; without bytecode caches every process (and every stage) compiles from source.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: install lint format test demo bench bench-system all clean help browser system tools tools

help:
	@echo "make install   create .venv and install flowtide with extras [$(EXTRAS)]"
	@echo "make lint      ruff + import-linter layer contract + mkdocs build --strict"
	@echo "make format    ruff format + autofix"
	@echo "make test      the test suite (installs first)"
	@echo "make demo      the whole loop on the weather example"
	@echo "make bench     benchmarks side by side with DVC, pandera, GE, Evidently, MLflow, GTO"
	@echo "make all       lint + test"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/uv pip install --python $(BIN)/python --quiet -e ".[$(EXTRAS)]"
	@touch $@

install: $(STAMP)

lint: install
	$(BIN)/ruff check src tests benchmarks docs
	$(BIN)/ruff format --check src tests benchmarks docs
	$(BIN)/lint-imports
	@# the manual, references generated from the code (docs/hooks.py), into a temporary directory (no --quiet: it hides the warnings --strict counts)
	site=$$(mktemp -d) && NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir "$$site"; \
	  status=$$?; rm -rf "$$site"; exit $$status

format: install
	$(BIN)/ruff check --fix src tests benchmarks docs
	$(BIN)/ruff format src tests benchmarks docs

# What the tests need beyond PyPI, from Debian, installed here when missing (as root or with sudo), in one
# apt-get call: the dashboard test drives a real browser, Debian's chromium, launched by Playwright (never
# `playwright install`, which downloads); tests/test_gitlab_local.py runs gitlab-ci-local (npm, so nodejs and
# npm), which copies each job's files with rsync.
system:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v rsync >/dev/null 2>&1 || missing="$$missing rsync"; \
	command -v npm >/dev/null 2>&1 || missing="$$missing nodejs npm"; \
	[ -z "$$missing" ] || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	} || { echo "make test needs$$missing: apt-get install$$missing" >&2; exit 1; }

browser: system

# npm's gitlab-ci-local (shell executor, no Docker): its last release that runs on Debian's Node 20, into .tools/
# (never global). Its re2 dependency has no prebuilt binary it can fetch here (they are on GitHub), so npm compiles
# it: a few minutes on 2 cores, which `make test` spends while uv installs .venv.
GITLAB_CI_LOCAL := 4.60.1
.tools/node_modules/.bin/gitlab-ci-local: | system
	npm install --prefix .tools --no-audit --no-fund --loglevel=error gitlab-ci-local@$(GITLAB_CI_LOCAL)

tools: .tools/node_modules/.bin/gitlab-ci-local

# the set-up steps that wait on the network or a compiler run side by side
test:
	@$(MAKE) --no-print-directory -j2 install tools
	$(BIN)/python -m pytest $(PYTEST_ARGS)

demo: install
	$(BIN)/python -m flowtide.examples.demo

# Peers for benchmarks live in their own venv: evidently needs pandas 2.
BENCH_VENV := .venv-bench
$(BENCH_VENV)/.installed: pyproject.toml
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip uv
	$(BENCH_VENV)/bin/uv pip install --python $(BENCH_VENV)/bin/python --quiet -e ".[bench,serve,sklearn,s3,mlflow,examples]"
	@touch $@

# What the benchmarks need beyond PyPI, from Debian: wrk drives the serving benchmark (a Python load generator
# saturates before either server does at 64 connections on 2 cores).
bench-system:
	@command -v wrk >/dev/null 2>&1 || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq wrk >/dev/null; \
	} || { echo "make bench needs wrk: apt-get install wrk" >&2; exit 1; }

# Every area, side by side, recorded to benchmarks/results/latest.md (the benchmarks page includes it as it is);
# `make bench BENCH_ARGS=checks` runs one area and records nothing.
bench: $(BENCH_VENV)/.installed bench-system
	$(BENCH_VENV)/bin/python -m benchmarks $(if $(BENCH_ARGS),$(BENCH_ARGS),--record benchmarks/results/latest.md)

all: lint test

clean:
	rm -rf $(VENV) $(BENCH_VENV) .tools .pytest_cache .ruff_cache
