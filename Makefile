# Entry points: `make demo` (the offline demo), `make test` (lint, types, every test) and
# `make test-fast` (the inner loop: no lint, no e2e or slow tests; see tests/support/kinds.py).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

# every core; the tests that must not overlap share an xdist group (tests/support/kinds.py)
PYTEST_PARALLEL := -n auto --dist loadgroup
# The whole suite gets one worker more than cores: its end-to-end tests spend most of their
# time waiting (a schedule's ticks, servers starting), and the extra worker runs the CPU-bound
# tests meanwhile. Two more made a fresh-clone run slower (11 min 24 s against 10 min 7 s).
PYTEST_WORKERS := $(shell $(PYTHON) -c 'import os; print(len(os.sched_getaffinity(0)) + 1)')

.PHONY: demo test test-fast install install-dev lint ruff mypy pytest clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "newswatch needs Python >= 3.11"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# setup.py compiles rules/ (mypyc): an edited module is compiled again before it runs
SOURCES := pyproject.toml setup.py $(wildcard rules/*.py)

$(VENV)/.installed: $(SOURCES) | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(SOURCES) | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

demo: install
	$(BIN)/python examples/demo.py

lint: ruff mypy

ruff: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

mypy: install-dev
	$(BIN)/mypy

pytest: install-dev
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadgroup --durations=25

# lint and types beside the tests (make -j3): each one's failure fails `make test`
test: install-dev
	$(MAKE) --no-print-directory -j3 ruff mypy pytest

test-fast: install-dev
	$(BIN)/pytest $(PYTEST_PARALLEL) -m "not e2e and not slow"

clean:
	rm -rf data .mypy_cache .ruff_cache .pytest_cache
