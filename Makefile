# flowtide — the classic ML Makefile. Every target creates and reuses .venv itself.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
EXTRAS := all,dev
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?= -n auto

# Some environments set this; without bytecode caches every process (and every stage) compiles from source.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: install lint format test demo bench all clean help browser tools

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

# The dashboard test drives a real browser: Debian's chromium, launched by Playwright (never `playwright
# install`, which downloads). Installed here when missing, as root or with sudo.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; \
	} || { echo "make test needs Debian's chromium: apt-get install chromium" >&2; exit 1; }

# tests/test_gitlab_local.py runs GitLab pipelines with npm's gitlab-ci-local (shell executor, no Docker):
# its last release that runs on Debian's Node 20, into .tools/ (never global), and rsync, which it copies
# each job's files with. Installed here when missing, as root or with sudo.
GITLAB_CI_LOCAL := 4.60.1
.tools/node_modules/.bin/gitlab-ci-local:
	@command -v npm >/dev/null 2>&1 || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq nodejs npm >/dev/null; \
	} || { echo "make test needs npm: apt-get install nodejs npm" >&2; exit 1; }
	npm install --prefix .tools --no-audit --no-fund --loglevel=error gitlab-ci-local@$(GITLAB_CI_LOCAL)

tools: .tools/node_modules/.bin/gitlab-ci-local
	@command -v rsync >/dev/null 2>&1 || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq rsync >/dev/null; \
	} || { echo "make test needs rsync: apt-get install rsync" >&2; exit 1; }

test: install browser tools
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

# Every area, side by side, recorded to benchmarks/results/latest.md (the benchmarks page includes it as it is);
# `make bench BENCH_ARGS=checks` runs one area and records nothing.
bench: $(BENCH_VENV)/.installed
	$(BENCH_VENV)/bin/python -m benchmarks $(if $(BENCH_ARGS),$(BENCH_ARGS),--record benchmarks/results/latest.md)

all: lint test

clean:
	rm -rf $(VENV) $(BENCH_VENV) .tools .pytest_cache .ruff_cache
