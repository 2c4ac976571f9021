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

# The README's picture of a day page: `oddflights demo` (the receiver, days and seed of
# `make run`, with half its traffic so that it takes minutes) into a scratch database, then
# the browser test's picture of its last day (needs chromium and chromium-driver). The
# basemap data file is rebuilt by `tools/build_basemap.py` (npm, GitHub).
SHOTS := $(CURDIR)/.screenshots
SHOTS_FLIGHTS ?= 150
screenshots: $(VENV)/.installed-dev
	rm -rf $(SHOTS) && mkdir -p docs $(SHOTS)
	$(BIN)/oddflights demo --db "sqlite:///$(SHOTS)/demo.db" --workdir "$(SHOTS)/demo" \
		--flights-per-day $(SHOTS_FLIGHTS) > $(SHOTS)/demo.log
	SCREENSHOTS_DIR=docs SCREENSHOTS_DEMO_DB="sqlite:///$(SHOTS)/demo.db" \
		$(BIN)/python -m pytest tests/web/test_browser.py -q -k demos_day_page -rs

clean:
	rm -rf $(VENV) oddflights-demo .screenshots .pytest_cache .mypy_cache .ruff_cache
