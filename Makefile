# Quick start: `make run` (dashboard on the simulated MSP) and `make test` (every test).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# `make test PYTEST_WORKERS=0` runs the suite in one process; PYTEST_ARGS are passed on to pytest.
PYTEST_WORKERS ?= auto
PYTEST_ARGS ?=

.PHONY: run test lint bench clean

# The venv: pinned tools and dependencies, then the project itself, editable (its packages import from
# this tree with no sys.path edits; its commands are in .venv/bin, see pyproject.toml).
$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	rm -rf perimeter.egg-info  # left by the editable build; the venv has the installed metadata
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python launcher.py

# First what the tests need from the system (.ci/test-needs: Chromium, PostgreSQL; installed when
# root, else one line saying what to install, and stop), then the venv, then every test on every core
# (pytest-xdist; --dist loadfile from pyproject.toml) against a throwaway PostgreSQL (.ci/postgres.sh).
test:
	@bash .ci/test-needs
	@$(MAKE) --no-print-directory $(STAMP)
	bash .ci/postgres.sh with $(BIN)/python -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

# The style (ruff: lint rules and the formatter), the layer contract (import-linter, .importlinter) and
# strict types on the pure layer (mypy, mypy.ini). CI runs it before the tests.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	PYTHONPATH=. $(BIN)/lint-imports  # pages/ is not installed: read from the tree
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) data .pytest_cache
