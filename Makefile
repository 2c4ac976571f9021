# The two commands a new user needs: `make run` (the demo, end to end) and `make test`
# (ruff, mypy, then pytest).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint typecheck clean screenshots

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@ $(VENV)/.installed

# The demo keeps its data apart from the per-user default database: ./oddflights.db here
# (ODDFLIGHTS_DB, when set, wins).
DEMO_DB ?= $(or $(ODDFLIGHTS_DB),sqlite:///$(CURDIR)/oddflights.db)

run: $(VENV)/.installed
	$(BIN)/oddflights demo --db "$(DEMO_DB)"

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check oddflights tests

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy oddflights

test: lint typecheck
	$(BIN)/python -m pytest

# The README's picture of a day page, taken by the browser test (needs chromium and
# chromium-driver). The basemap data file is rebuilt by `tools/build_basemap.py` (npm).
screenshots: $(VENV)/.installed-dev
	mkdir -p docs
	SCREENSHOTS_DIR=docs $(BIN)/python -m pytest tests/web/test_browser.py -q

clean:
	rm -rf $(VENV) oddflights-demo .pytest_cache .mypy_cache .ruff_cache
