# The two commands a new user needs: `make run` (the demo, end to end) and `make test`
# (ruff, mypy, then pytest).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint typecheck clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@ $(VENV)/.installed

run: $(VENV)/.installed
	$(BIN)/oddflights demo

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check oddflights tests

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy oddflights

test: lint typecheck
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) oddflights-demo .pytest_cache .mypy_cache .ruff_cache
