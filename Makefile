# Two commands do all set-up on a fresh machine: `make run` and `make test` (see README.md).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PYTEST_ARGS ?=
# What mypy checks: the library, and the app's page packages once they exist (missing folders are skipped).
TYPED := $(wildcard studio app_pages ui)

.PHONY: install chromium run lint types contracts test bench engine clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch first, pinned: 2.13.0 is the CPU build on disk; any other spec pulls gigabytes of CUDA wheels.
# `make run` needs the app and the engine; `make test` adds the dev tools (pytest, ruff, mypy, playwright...).
RUN_STAMP := $(VENV)/.installed-run

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[engine]"
	touch $@

$(STAMP): $(RUN_STAMP)
	$(BIN)/python -m pip install -q -e ".[engine,dev]"
	touch $@

install: $(STAMP)

chromium:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; }

run: $(RUN_STAMP)
	$(BIN)/studio engine pull
	$(BIN)/studio seed
	$(BIN)/studio app

# ruff: pyflakes, pycodestyle, isort, pyupgrade, bugbear... and the formatter (config in pyproject.toml).
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: install
	$(BIN)/mypy $(TYPED)

# The layer contracts in pyproject.toml [tool.importlinter].
contracts: install
	$(BIN)/lint-imports

# The cheap checks first, in this order; pytest only when they pass.
test: install chromium
	$(MAKE) --no-print-directory lint types contracts
	$(BIN)/studio engine pull
	$(BIN)/python -m pytest $(PYTEST_ARGS)

engine: install
	$(BIN)/studio engine --preload smollm2-135m-instruct

bench: install
	$(BIN)/python -m bench $(if $(ONLY),--only $(ONLY),)

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .mypy_cache .ruff_cache .import_linter_cache
